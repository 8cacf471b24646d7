"""The image copy Job (tested like the staging Job): schema, identity, its two scripts run for
real (the copy script against a stand-in `crane`, the ECR login against moto), its IAM scope,
and how the plan wires repositories, roles and rules."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import kubernetes_validate
import pytest

from components import versions
from components.images.copy_job import (
    COPY_SCRIPT,
    ECR_LOGIN_SCRIPT,
    EXIT_TAG_MOVED,
    CopyJobSpec,
    attempt_seconds,
    copier_iam_policy,
    copy_job,
    copy_job_name,
    deadline_seconds,
    lifecycle_policy,
    pull_through_node_policy,
)
from tests.local_aws import moto_server
from tests.plan_support import Plan

K8S_VERSION = "1.33"
REGISTRY = "123456789012.dkr.ecr.eu-central-1.amazonaws.com"
DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


def make_spec(**overrides: object) -> CopyJobSpec:
    fields: dict[str, object] = {
        "source": "nvcr.io/nvidia/k8s-device-plugin:v0.20.0",
        "registry": REGISTRY,
        "repository": "kserve-fluid-dev/copy/nvcr.io/nvidia/k8s-device-plugin",
        "tag": "v0.20.0",
        "namespace": "image-mirror",
        "service_account_name": "image-copier",
        "region": "eu-central-1",
        "crane_image": "gcr.io/go-containerregistry/crane/debug:v0.22.1@" + DIGEST,
        "login_image": "kserve/storage-initializer:v0.20.0",
        "size_gib": 0.3,
        "node_selector": {"kserve-fluid/node-role": "data"},
    }
    fields.update(overrides)
    return CopyJobSpec(**fields)  # type: ignore[arg-type]


def test_job_passes_the_kubernetes_schema() -> None:
    kubernetes_validate.validate(copy_job(make_spec()), K8S_VERSION, strict=True)


def test_schema_validation_would_catch_a_bad_job() -> None:
    job = copy_job(make_spec())
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["environment"] = container.pop("env")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, K8S_VERSION, strict=True)


def test_job_logs_in_then_copies_on_a_data_node_without_root() -> None:
    job = copy_job(make_spec())
    pod = job["spec"]["template"]["spec"]
    [login] = pod["initContainers"]
    [copy] = pod["containers"]
    assert login["image"] == "kserve/storage-initializer:v0.20.0"
    assert copy["image"].startswith("gcr.io/go-containerregistry/crane/debug:v0.22.1@sha256:")
    env = {e["name"]: e["value"] for e in copy["env"]}
    assert env["SOURCE"] == "nvcr.io/nvidia/k8s-device-plugin:v0.20.0"
    assert env["DESTINATION"] == (
        f"{REGISTRY}/kserve-fluid-dev/copy/nvcr.io/nvidia/k8s-device-plugin:v0.20.0"
    )
    assert pod["nodeSelector"] == {"kserve-fluid/node-role": "data"}
    assert pod["serviceAccountName"] == "image-copier"
    assert pod["securityContext"]["runAsNonRoot"] is True
    auth = next(v for v in pod["volumes"] if v["name"] == "auth")
    assert auth["emptyDir"]["medium"] == "Memory"
    rules = job["spec"]["podFailurePolicy"]["rules"]
    assert rules[0]["onExitCodes"]["values"] == [2, EXIT_TAG_MOVED]


def test_name_changes_with_the_tag_only() -> None:
    first = copy_job_name(make_spec())
    assert first == copy_job_name(make_spec())
    assert first.startswith("copy-k8s-device-plugin-") and len(first) <= 63
    assert copy_job_name(make_spec(tag="v0.20.1")) != first
    long = make_spec(repository="ns/copy/" + "x" * 80, source="a.io/" + "x" * 80 + ":1")
    assert len(copy_job_name(long)) <= 63


def test_deadline_allows_every_attempt() -> None:
    """backoffLimit 3: four attempts of (300 s + 10 GiB at 20 MiB/s) each."""
    assert attempt_seconds(make_spec(size_gib=10)) == 300 + 512
    assert deadline_seconds(make_spec(size_gib=10)) == 4 * (300 + 512)
    assert deadline_seconds(make_spec(size_gib=10, backoff_limit=0)) == 300 + 512
    job = copy_job(make_spec(size_gib=10))["spec"]
    assert job["activeDeadlineSeconds"] == (job["backoffLimit"] + 1) * (300 + 512)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"source": "nvcr.io/nvidia/k8s-device-plugin"}, "source: .* must be pinned"),
        ({"source": "nvcr.io/nvidia/k8s-device-plugin:latest"}, "source: .* must be pinned"),
        ({"registry": "docker.io"}, "registry: 'docker.io' is not an ECR registry host"),
        ({"tag": "latest"}, "tag: 'latest' is not a pinned Docker tag"),
        ({"namespace": "Image_Mirror"}, "namespace: 'Image_Mirror' is not a DNS-1123 label"),
    ],
)
def test_bad_specs_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        copy_job(make_spec(**overrides))


# --- the copy script, run by a real shell against a stand-in crane ---------------------------


@pytest.fixture()
def crane(tmp_path: Path) -> Path:
    """A `crane` that answers `digest` from files and records `copy` calls."""
    script = tmp_path / "crane"
    script.write_text(
        "#!/bin/sh\n"
        'state="$(dirname "$0")"\n'
        'key=$(printf %s "$2" | tr "/:@" "___")\n'
        'case "$1" in\n'
        '  digest) [ -f "$state/$key" ] || { echo "MANIFEST_UNKNOWN" >&2; exit 1; }; '
        'cat "$state/$key" ;;\n'
        '  copy) echo "$2 -> $3" >> "$state/copies"; '
        'cp "$state/$key" "$state/$(printf %s "$3" | tr "/:@" "___")" ;;\n'
        "esac\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def _set_digest(crane: Path, reference: str, digest: str) -> None:
    key = reference.replace("/", "_").replace(":", "_").replace("@", "_")
    (crane.parent / key).write_text(digest)


def run_copy(crane: Path, spec: CopyJobSpec) -> subprocess.CompletedProcess[str]:
    [container] = copy_job(spec)["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    env.update(
        CRANE=str(crane),
        TERMINATION_LOG=str(crane.parent / "termination"),
        PATH=os.environ["PATH"],
    )
    return subprocess.run(["sh", "-c", COPY_SCRIPT], env=env, capture_output=True, text=True)


def test_script_copies_a_missing_image_and_records_its_digest(crane: Path) -> None:
    spec = make_spec()
    _set_digest(crane, spec.source, DIGEST)
    result = run_copy(crane, spec)
    assert result.returncode == 0, result.stderr
    assert (crane.parent / "copies").read_text() == f"{spec.source} -> {spec.destination}\n"
    assert (crane.parent / "termination").read_text() == DIGEST


def test_script_is_a_no_op_when_the_tag_already_holds_the_digest(crane: Path) -> None:
    spec = make_spec()
    _set_digest(crane, spec.source, DIGEST)
    _set_digest(crane, spec.destination, DIGEST)
    result = run_copy(crane, spec)
    assert result.returncode == 0 and "already holds" in result.stdout
    assert not (crane.parent / "copies").exists()


def test_script_refuses_to_overwrite_a_moved_tag(crane: Path) -> None:
    spec = make_spec()
    _set_digest(crane, spec.source, DIGEST)
    _set_digest(crane, spec.destination, OTHER)
    result = run_copy(crane, spec)
    assert result.returncode == EXIT_TAG_MOVED
    assert "ECR tags are immutable" in result.stderr
    assert not (crane.parent / "copies").exists()


def test_script_checks_a_pinned_digest(crane: Path) -> None:
    spec = make_spec(source=f"gcr.io/knative-releases/queue@{DIGEST}", tag="serving-1.22.1")
    _set_digest(crane, spec.source, OTHER)  # the registry answers something else
    result = run_copy(crane, spec)
    assert result.returncode == 2 and "not the pinned" in result.stderr
    _set_digest(crane, spec.source, DIGEST)
    assert run_copy(crane, spec).returncode == 0


# --- the ECR login, run against moto ---------------------------------------------------------


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server(30) as url:
        yield url


def login_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The login container's environment from the Job, with the auth folder moved here."""
    [login] = copy_job(make_spec())["spec"]["template"]["spec"]["initContainers"]
    env = {e["name"]: e["value"] for e in login["env"]}
    return {
        **env,
        "AUTH_DIR": str(tmp_path),
        "PATH": os.environ["PATH"],
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        **extra,
    }


def test_login_script_writes_a_docker_config_crane_can_use(moto_url: str, tmp_path: Path) -> None:
    env = login_env(
        tmp_path,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL=moto_url,
    )
    result = subprocess.run(
        [sys.executable, "-c", ECR_LOGIN_SCRIPT], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "config.json").read_text())
    assert list(config["auths"]) == [REGISTRY]
    user, _, password = base64.b64decode(config["auths"][REGISTRY]["auth"]).decode().partition(":")
    assert user == "AWS" and password


def test_login_script_fails_without_credentials(tmp_path: Path) -> None:
    env = login_env(tmp_path, AWS_EC2_METADATA_DISABLED="true")
    result = subprocess.run(
        [sys.executable, "-c", ECR_LOGIN_SCRIPT], env=env, capture_output=True, text=True
    )
    assert result.returncode != 0 and "NoCredentialsError" in result.stderr
    assert not (tmp_path / "config.json").exists()


# --- IAM and ECR documents ------------------------------------------------------------------


def test_copier_may_push_only_to_the_copied_repositories() -> None:
    arns = [f"arn:aws:ecr:eu-central-1:123456789012:repository/ns/copy/{n}" for n in ("b", "a")]
    policy = copier_iam_policy(arns)
    login, push = policy["Statement"]
    assert login["Action"] == "ecr:GetAuthorizationToken" and login["Resource"] == "*"
    assert push["Resource"] == sorted(arns)
    assert "ecr:PutImage" in push["Action"] and not any("*" in a for a in push["Action"])
    assert "ecr:DeleteRepository" not in push["Action"]
    with pytest.raises(ValueError, match="give ECR repository ARNs"):
        copier_iam_policy(["*"])


def test_nodes_may_create_repositories_under_the_rules_only() -> None:
    prefix = "arn:aws:ecr:eu-central-1:123456789012:repository/kserve-fluid-dev/quay"
    [statement] = pull_through_node_policy([prefix])["Statement"]
    assert statement["Action"] == ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]
    assert statement["Resource"] == [f"{prefix}/*"]


def test_lifecycle_policy_never_selects_untagged_children() -> None:
    """The platform manifests of a multi-arch index are untagged: no rule may select them."""
    rules = json.loads(lifecycle_policy(5))["rules"]
    assert [r["selection"] for r in rules] == [
        {
            "tagStatus": "tagged",
            "tagPatternList": ["*"],
            "countType": "imageCountMoreThan",
            "countNumber": 5,
        }
    ]


# --- wiring in the plan ---------------------------------------------------------------------


def test_copied_repositories_are_hardened(dev_plan: Plan) -> None:
    repositories = dev_plan.of_type("aws:ecr/repository:Repository")
    assert repositories
    for repository in repositories:
        inputs = repository["inputs"]
        assert inputs["imageTagMutability"] == "IMMUTABLE"
        assert inputs["imageScanningConfiguration"] == {"scanOnPush": True}
        assert inputs["encryptionConfigurations"] == [{"encryptionType": "AES256"}]
        assert inputs["forceDelete"] is True
    # Immutable copies of pinned tags: no lifecycle policy that could expire a child manifest.
    assert dev_plan.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy") == []


def test_copier_role_trusts_only_its_service_account(dev_plan: Plan) -> None:
    role = dev_plan.one("aws:iam/role:Role", "images-copier")
    trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"][0]
    assert "system:serviceaccount:image-mirror:image-copier" in (
        trust["Condition"]["StringEquals"].values()
    )
    policy = json.loads(dev_plan.one("aws:iam/policy:Policy", "images-copier")["inputs"]["policy"])
    names = {r["inputs"]["name"] for r in dev_plan.of_type("aws:ecr/repository:Repository")}
    assert {arn.split(":repository/")[1] for arn in policy["Statement"][1]["Resource"]} == names


def test_node_role_gets_the_pull_through_permissions(dev_plan: Plan) -> None:
    attachment = dev_plan.one(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "images-pull-through-0"
    )
    node_role = dev_plan.one("aws:iam/role:Role", "cluster-node-role")
    assert attachment["inputs"]["role"] == node_role["name"]
    template = dev_plan.one("aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate")
    assert template["inputs"]["appliedFors"] == ["PULL_THROUGH_CACHE"]
    assert template["inputs"]["imageTagMutability"] == "MUTABLE"  # or the cache cannot sync


def test_copy_jobs_run_the_pinned_tools(dev_plan: Plan) -> None:
    jobs = [
        j
        for j in dev_plan.of_type("kubernetes:batch/v1:Job")
        if j["name"].startswith("images-copy-")
    ]
    # nvcr.io, 2 x Aliyun, 3 x gcr.io (queue-proxy, the Knative operator and its webhook), 10 x
    # gcr.io for the operator's pods (7 Serving, 2 net-istio, 1 net-kourier), and the serving
    # image read through the Docker Hub cache.
    assert len(jobs) == 17
    for job in jobs:
        pod = job["inputs"]["spec"]["template"]["spec"]
        assert pod["containers"][0]["image"] == versions.pinned(versions.CRANE_IMAGE)
        assert "@sha256:" in pod["containers"][0]["image"]
        # The login image comes through the stack's own Docker Hub cache.
        assert pod["initContainers"][0]["image"] == (
            f"{REGISTRY}/kserve-fluid-dev/docker-hub/kserve/storage-initializer:v0.20.0"
        )
