"""`make bucket`, `make destroy` and the Pulumi CLI check do what they say
(tools/operate/deploy_guard.py)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from typing import Any

import pytest

from components import versions
from tests.plan_support import ROOT, Plan
from tools.operate import deploy_guard
from tools.plan.placeholders import placeholder_values
from tools.plan.policy_feed import engine_resources
from tools.plan.stack_config import load_typed_config

MAKE = shutil.which("make")
needs_make = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def make_dry_run(*args: str) -> str:
    assert MAKE is not None
    result = subprocess.run(
        [MAKE, "-n", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout


def target_matcher(target: str) -> re.Pattern[str]:
    """The engine's glob: `**` any characters, `*` any but ':'
    (pulumi/pulumi:pkg/resource/deploy/deployment.go@v3.259.0 UrnTargets.getMatcher)."""
    segments = [
        "[^:]*".join(re.escape(part) for part in segment.split("*"))
        for segment in target.split("**")
    ]
    return re.compile("^" + ".*".join(segments) + "$")


def engine_urns(plan: Plan) -> dict[str, str]:
    """Plan URN -> the URN the engine gives: its type is the parent's full type chain, the root
    stack left out (pkg/resource/deploy/deployment.go@v3.259.0 generateURN); the mock monitor
    the plan runs under only prefixes the immediate parent's type."""
    by_urn = plan.by_urn()
    chains: dict[str, str] = {}

    def chain(urn: str) -> str:
        if urn not in by_urn:
            return ""  # the root stack
        if urn not in chains:
            parent = chain(by_urn[urn]["parent"])
            chains[urn] = f"{parent}${by_urn[urn]['type']}" if parent else by_urn[urn]["type"]
        return chains[urn]

    return {
        urn: f"urn:pulumi:{plan.document['stack']}::{plan.document['project']}::{chain(urn)}"
        f"::{resource['name']}"
        for urn, resource in by_urn.items()
    }


@needs_make
def test_make_bucket_targets_the_bucket_with_everything_it_needs(dev_plan: Plan) -> None:
    line = next(
        line
        for line in make_dry_run("bucket", "STACK=dev").splitlines()
        # not uv's own install (`pip install --target .uv`), printed where .uv/ does not exist yet
        if "pulumi up" in line and "--target" in line
    )
    words = shlex.split(line)
    targets = [words[i + 1] for i, word in enumerate(words) if word == "--target"]
    matchers = [target_matcher(t) for t in targets]
    by_urn, engine = dev_plan.by_urn(), engine_urns(dev_plan)
    targeted = {urn for urn in by_urn if any(m.match(engine[urn]) for m in matchers)}
    bucket = dev_plan.one("aws:s3/bucket:Bucket")
    assert bucket["urn"] in targeted
    hardening = {r["urn"] for r in dev_plan.resources if r["parent"] == bucket["urn"]}
    assert hardening and hardening <= targeted
    # A targeted create whose parent or dependency is an untargeted create fails the update
    # ("untargeted create", pkg/resource/deploy/step_generator.go@v3.259.0); the root stack and
    # providers are targeted implicitly.
    for urn in sorted(targeted):
        resource: dict[str, Any] = by_urn[urn]
        for needed in [resource["parent"], *resource["dependencies"]]:
            if needed in by_urn:
                assert needed in targeted, f"{urn} needs untargeted {needed}"


def test_protected_stack_is_refused_with_what_protect_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert deploy_guard.main(["destroy", "--stack", "prod"]) == deploy_guard.PROTECTED_EXIT
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == (
        "make destroy: stack prod protects the EKS cluster (clusterDeletionProtection) and the "
        "model bucket (modelBucket.protect)."
    )
    assert lines[1] == (
        "A plain `pulumi destroy` would delete nothing: its preview fails on the first "
        "protected resource."
    )
    assert lines[-1].startswith(
        "To delete the unprotected part on purpose: make destroy STACK=prod ALLOW_PROTECTED=yes "
        "(pulumi destroy --exclude-protected)."
    )
    assert deploy_guard.main(["destroy", "--stack", "prod", "--allow-protected"]) == 0


def test_what_exclude_protected_keeps_is_what_the_guard_says(
    prod_plan: Plan, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--exclude-protected` keeps each protected resource and its transitive dependencies,
    parents included (pulumi/pulumi:pkg/cmd/pulumi/operations/destroy.go@v3.259.0
    getProtectedExcludes, pkg/resource/graph/dependency_graph.go TransitiveDependenciesOf),
    over the resources the engine holds (pulumi-eks's children inherit protect)."""
    resources = {r.urn: r for r in engine_resources(prod_plan.document)}
    kept: set[str] = set()
    todo = [urn for urn, r in resources.items() if r.protect]
    while todo:
        urn = todo.pop()
        if urn in kept or urn not in resources:
            continue
        kept.add(urn)
        todo += [resources[urn].parent, *resources[urn].dependencies]
    custom_kept = {(resources[u].type, resources[u].name) for u in kept if resources[u].custom}
    bucket_settings = {
        (r.type, r.name) for r in resources.values() if r.type.startswith("aws:s3/bucket")
    }
    network = {(t, n) for t, n in custom_kept if t in ("aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet")}
    assert {t for t, _ in network} == {"aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet"}
    assert custom_kept - bucket_settings - network == {
        ("aws:eks/cluster:Cluster", "cluster-eks-eksCluster"),
        ("aws:kms/key:Key", "cluster-secrets-key"),
        ("aws:cloudwatch/logGroup:LogGroup", "cluster-control-plane-logs"),
    }
    assert {t for t, _ in bucket_settings} <= {t for t, _ in custom_kept}
    assert not [t for t, _ in custom_kept if t == "aws:ec2/natGateway:NatGateway"]
    deploy_guard.main(["destroy", "--stack", "prod"])
    message = capsys.readouterr().err
    assert (
        "what stays: the EKS cluster with what it depends on (the VPC and its subnets, the KMS "
        "key and the control-plane log group; the NAT gateways, route tables and endpoints go)"
    ) in message
    assert "the model bucket and its settings." in message


def test_unprotected_stack_is_not_refused() -> None:
    assert deploy_guard.main(["destroy", "--stack", "dev"]) == 0


@needs_make
def test_make_destroy_runs_the_guard_first_and_passes_the_explicit_request() -> None:
    plain = make_dry_run("destroy", "STACK=prod").splitlines()
    guard = next(i for i, line in enumerate(plain) if "tools.operate.deploy_guard destroy" in line)
    destroy = next(i for i, line in enumerate(plain) if "pulumi destroy" in line)
    assert guard < destroy and "--allow-protected" not in plain[guard]
    assert "--exclude-protected" not in plain[destroy]
    allowed = make_dry_run("destroy", "STACK=prod", "ALLOW_PROTECTED=yes")
    assert "tools.operate.deploy_guard destroy --stack prod --allow-protected" in allowed
    assert "pulumi destroy --stack prod --exclude-protected" in allowed


@needs_make
def test_make_bucket_runs_the_policy_pack() -> None:
    line = next(
        line for line in make_dry_run("bucket", "STACK=dev").splitlines() if "pulumi up" in line
    )
    assert line.endswith("--policy-pack policy --policy-pack-config policy/config/dev.json")


@needs_make
def test_missing_pulumi_cli_says_how_to_install_it() -> None:
    assert MAKE is not None
    result = subprocess.run(
        [MAKE, "pulumi-cli"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/nonexistent"},
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stdout.splitlines()[:2] == [
        "make: the Pulumi CLI is not installed (needed for preview, up, destroy, bucket).",
        "Install it: curl -fsSL https://get.pulumi.com | sh   (https://www.pulumi.com/docs/install/)",
    ]


def test_prod_placeholders_are_reported_until_replaced() -> None:
    docker_hub = (
        "dockerHubCredentialArn: arn:aws:secretsmanager:eu-central-1:123456789012:secret:"
        "ecr-pullthroughcache/docker-hub-AbCdEf uses the example account 123456789012"
    )
    unpinned = versions.unpinned_images()
    digests = (
        f"components/versions.py IMAGE_DIGESTS: {len(unpinned)} images have no pinned digest "
        'yet (pulled by tag until read with `crane digest`, docs/image-mirror.md "Pinning '
        f'digests"): {", ".join(unpinned)}'
    )
    assert unpinned and versions.CURL_IMAGE not in unpinned
    assert placeholder_values(load_typed_config("prod")) == [
        "clusterAdminArns: arn:aws:iam::123456789012:role/platform-admins uses the example "
        "account 123456789012",
        docker_hub,
        digests,
        "endpointPublicAccessCidrs: 203.0.113.0/24 is a documentation range (RFC 5737)",
        "endpointPublicAccessCidrs: 198.51.100.10/32 is a documentation range (RFC 5737)",
        "ingress.allowedSourceCidrs: 203.0.113.0/24 is a documentation range (RFC 5737)",
        "ingress.allowedSourceCidrs: 198.51.100.10/32 is a documentation range (RFC 5737)",
        "modelBucket.name: acme-llm-models-prod-eu-central-1 is the example organisation's name; "
        "bucket names are global, pick your own",
    ]
    assert placeholder_values(load_typed_config("dev")) == [docker_hub, digests]


def test_readme_lists_every_stack_output(dev_plan: Plan) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Stack outputs", 1)[1].split("###", 1)[0]
    listed = re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE)
    assert sorted(listed) == sorted(dev_plan.outputs)
