"""The in-cluster staging Job, its ConfigMap and the staging role's IAM policy."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest

from components.staging.job import (
    PERMANENT_EXIT_CODES,
    StagingJobSpec,
    staging_configmap,
    staging_job,
    staging_job_name,
)
from components.storage.iam import staging_iam_policy
from tools.in_cluster.stage_model.errors import PERMANENT

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.33"
IMAGE = "kserve/storage-initializer:v0.20.0"
REV = "0e9e39f249a16976918f6564b8830bc894c89659"


def make_spec(**overrides: object) -> StagingJobSpec:
    fields: dict[str, object] = {
        "model_name": "llama-3.1-8b-instruct",
        "hf_repo_id": "meta-llama/Meta-Llama-3.1-8B-Instruct",
        "revision": REV,
        "s3_bucket": "kserve-fluid-models",
        "s3_prefix": "models/meta-llama--Meta-Llama-3.1-8B-Instruct",
        "namespace": "kserve-fluid-demo",
        "service_account_name": "model-staging",
        "image": IMAGE,
        "hf_token_secret_name": "hf-token",
        "configmap_name": "stage-model-module",
        "node_selector": {"node.kubernetes.io/instance-type": "m5n.xlarge"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "data",
                         "effect": "NoSchedule"}],
        "cpu_request": "2",
        "cpu_limit": "4",
        "memory_request": "4Gi",
        "memory_limit": "8Gi",
        "backoff_limit": 2,
        "active_deadline_seconds": 5400,
    }  # fmt: skip
    fields.update(overrides)
    return StagingJobSpec(**fields)  # type: ignore[arg-type]


def container(job: dict) -> dict:
    [only] = job["spec"]["template"]["spec"]["containers"]
    return only


def test_job_and_configmap_pass_the_kubernetes_schema():
    spec = make_spec()
    kubernetes_validate.validate(staging_job(spec), K8S_VERSION, strict=True)
    kubernetes_validate.validate(staging_configmap(spec), K8S_VERSION, strict=True)


def test_schema_validation_would_catch_a_bad_job():
    job = staging_job(make_spec())
    container(job)["resource"] = container(job).pop("resources")  # a typo'd field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, K8S_VERSION, strict=True)


def test_job_runs_the_mounted_module_in_the_pinned_image():
    job = staging_job(make_spec())
    stage = container(job)
    assert stage["image"] == IMAGE
    assert stage["command"] == ["python3", "-m", "stage_model"]
    assert stage["args"] == [
        "--source", f"hf:meta-llama/Meta-Llama-3.1-8B-Instruct@{REV}",
        "--dest", "s3://kserve-fluid-models/models/meta-llama--Meta-Llama-3.1-8B-Instruct",
        "--staging-dir", "/scratch/model",
        "--concurrency", "16",
    ]  # fmt: skip
    env = {e["name"]: e for e in stage["env"]}
    assert env["PYTHONPATH"]["value"] == "/opt/stage"
    mounts = {m["name"]: m for m in stage["volumeMounts"]}
    assert mounts["stage-module"] == {
        "name": "stage-module",
        "mountPath": "/opt/stage/stage_model",
        "readOnly": True,
    }
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert volumes["stage-module"]["configMap"]["name"] == "stage-model-module"


@pytest.mark.parametrize(
    "image",
    ["kserve/storage-initializer", "kserve/storage-initializer:latest", "registry:5000/stager"],
)
def test_unpinned_images_are_refused(image):
    with pytest.raises(ValueError, match=f"image: '{re.escape(image)}' must be pinned"):
        staging_job(make_spec(image=image))


def test_digest_pinned_image_is_accepted():
    image = "kserve/storage-initializer@sha256:" + "a" * 64
    assert container(staging_job(make_spec(image=image)))["image"] == image


def test_hf_token_comes_from_the_secret_and_s3_from_irsa():
    job = staging_job(make_spec())
    pod = job["spec"]["template"]["spec"]
    env = {e["name"]: e for e in container(job)["env"]}
    assert env["HF_TOKEN"] == {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "HF_TOKEN", "optional": False}},
    }
    assert pod["serviceAccountName"] == "model-staging"
    assert not any(name.startswith("AWS_") for name in env)  # IRSA injects the web identity
    assert "envFrom" not in container(job)
    secret_like = [e for e in env.values() if "value" in e and e["value"].startswith("hf_")]
    assert secret_like == []


def test_pod_placement_resources_and_job_limits():
    job = staging_job(make_spec())
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"node.kubernetes.io/instance-type": "m5n.xlarge"}
    assert pod["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "data", "effect": "NoSchedule"}
    ]
    assert container(job)["resources"] == {
        "requests": {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "40Gi"},
        "limits": {"cpu": "4", "memory": "8Gi"},
    }
    assert job["spec"]["backoffLimit"] == 2
    assert job["spec"]["activeDeadlineSeconds"] == 5400
    assert "ttlSecondsAfterFinished" not in job["spec"]
    assert pod["restartPolicy"] == "Never"


def test_pod_runs_as_non_root_with_home_and_hf_home_in_an_empty_dir():
    job = staging_job(make_spec())
    pod = job["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 1000
    assert container(job)["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    env = {e["name"]: e.get("value") for e in container(job)["env"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container(job)["volumeMounts"]}
    assert env["HOME"] == "/scratch/home"
    assert env["HF_HOME"] == "/scratch/hf-home"
    assert mounts["/scratch"] == "scratch"
    assert volumes["scratch"] == {"name": "scratch", "emptyDir": {"sizeLimit": "40Gi"}}
    assert volumes["tmp"]["emptyDir"] == {"sizeLimit": "1Gi"}


def test_permanent_failures_fail_the_job_without_retries():
    rules = staging_job(make_spec())["spec"]["podFailurePolicy"]["rules"]
    assert rules[0] == {
        "action": "FailJob",
        "onExitCodes": {
            "containerName": "stage",
            "operator": "In",
            "values": [10, 11, 12, 13, 14, 15, 20, 21],
        },
    }
    assert rules[1]["action"] == "Ignore"


def test_the_jobs_permanent_exit_codes_are_the_programs():
    """The program does not import the in-cluster staging tool: it keeps its own copy of the
    codes a retry cannot fix, and this holds the copy equal to the tool's PERMANENT."""
    assert list(PERMANENT_EXIT_CODES) == sorted(int(code) for code in PERMANENT)


def test_job_name_is_stable_for_the_same_model_and_changes_with_what_is_staged():
    base = staging_job_name(make_spec())
    assert re.fullmatch(r"stage-llama-3-1-8b-instruct-[0-9a-f]{8}", base)
    # Unrelated settings keep the name: `pulumi up` leaves a finished Job alone.
    assert staging_job_name(make_spec(cpu_limit="8", image="kserve/x:v2")) == base
    assert staging_job_name(make_spec(revision="main")) != base
    assert staging_job_name(make_spec(s3_prefix="models/other")) != base
    assert staging_job_name(make_spec(hf_repo_id="meta-llama/Llama-3.2-1B")) != base
    assert staging_job_name(make_spec(s3_bucket="other-bucket")) != base
    assert staging_job(make_spec())["metadata"]["name"] == base


def test_job_name_is_a_valid_label_for_long_model_names():
    name = staging_job_name(make_spec(model_name="A" * 40 + "_very.long/Model--Name" * 3))
    assert len(name) <= 63
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)


def test_configmap_carries_every_module_file_verbatim():
    configmap = staging_configmap(make_spec())
    module_dir = ROOT / "tools" / "in_cluster" / "stage_model"
    expected = {p.name: p.read_text() for p in module_dir.glob("*.py")}
    assert {"__init__.py", "__main__.py", "cli.py", "stage.py"} <= set(expected)
    assert configmap["data"] == expected
    assert configmap["metadata"]["name"] == "stage-model-module"
    assert configmap["metadata"]["namespace"] == "kserve-fluid-demo"


def test_configmap_files_run_as_a_standalone_package(model_dir, bucket, moto_endpoint, tmp_path):
    """Lay the ConfigMap out as the pod does (no `tools` package importable) and stage."""
    root, staged = model_dir
    package = tmp_path / "mount" / "stage_model"
    package.mkdir(parents=True)
    for name, text in staging_configmap(make_spec())["data"].items():
        (package / name).write_text(text)
    env = {**os.environ, "PYTHONPATH": str(package.parent), "PYTHONDONTWRITEBYTECODE": "1"}

    completed = subprocess.run(
        [sys.executable, "-m", "stage_model", "--source", str(root),
         "--dest", f"s3://{bucket}/models/in-pod", "--endpoint-url", moto_endpoint],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith(
        f"staged s3://{bucket}/models/in-pod: {len(staged)} uploaded"
    )
    assert "[stage_model] done:" in completed.stderr  # plain progress lines: not a terminal


def test_spec_problems_are_reported_together():
    with pytest.raises(ValueError) as caught:
        staging_job(make_spec(namespace="Bad_NS", memory_limit="8 GB", revision=""))
    message = str(caught.value)
    assert "namespace: 'Bad_NS' is not a DNS-1123 label" in message
    assert "memory_limit: '8 GB' is not a Kubernetes quantity" in message
    assert "revision: empty" in message


def test_spec_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        make_spec().revision = "main"  # type: ignore[misc]


def test_iam_policy_allows_only_the_prefixes():
    policy = staging_iam_policy("kserve-fluid-models", ["models/llama/", "models/mistral"])
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListModelBucket",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": "arn:aws:s3:::kserve-fluid-models",
            },
            {
                "Sid": "ModelObjects",
                "Effect": "Allow",
                "Action": [
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                "Resource": [
                    "arn:aws:s3:::kserve-fluid-models/models/llama/*",
                    "arn:aws:s3:::kserve-fluid-models/models/mistral/*",
                ],
            },
        ],
    }


@pytest.mark.parametrize(
    ("bucket", "prefixes", "error"),
    [
        ("kserve-fluid-models", [], "prefixes"),
        ("kserve-fluid-models", ["/"], "prefixes"),
        ("kserve-fluid-models", ["models/*"], "prefixes"),
        ("Kserve_Models", ["models/llama"], "bucket"),
    ],
)
def test_iam_policy_refuses_broad_or_bad_input(bucket, prefixes, error):
    with pytest.raises(ValueError, match=f"^{error}:"):
        staging_iam_policy(bucket, prefixes)
