"""In-cluster model staging: the Job that copies a Hub snapshot to S3, its ConfigMap, and the
IAM policy of its service account. Pure functions: no Pulumi, no network (the ConfigMap reads
the staging module's files from this checkout).

The Job runs ``tools/in_cluster/stage_model`` (mounted from the ConfigMap as package
``stage_model``) in a pinned image that already carries boto3 and huggingface_hub, so nothing is
installed at run time. Its name carries a hash of what it stages: a new revision gives a new
Job, an unchanged model keeps the same Job, and ``pulumi up`` stays idempotent.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.restricted import irsa_job_pod_spec, restricted_container_security

STAGE_MODULE_DIR = Path(__file__).resolve().parents[2] / "tools" / "in_cluster" / "stage_model"
CONTAINER_NAME = "stage"
MODULE_MOUNT = "/opt/stage/stage_model"  # PYTHONPATH=/opt/stage, run as `python3 -m stage_model`
SCRATCH_MOUNT = "/scratch"  # HOME, HF_HOME and the downloaded snapshot
MAX_NAME = 63  # Job names become the `batch.kubernetes.io/job-name` label value
PERMANENT_EXIT_CODES = (10, 11, 12, 13, 14, 15, 20, 21)
"""The staging program's exit codes that a retry cannot fix (PERMANENT in
tools/in_cluster/stage_model/errors.py, which the program ships into the pod and does not
import; tests/staging/test_staging_job.py holds the two equal)."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$")


@dataclass(frozen=True)
class StagingJobSpec:
    """Everything the staging Job of one model depends on."""

    model_name: str
    hf_repo_id: str
    revision: str  # a commit sha pins the content; a branch name re-stages only on rename
    s3_bucket: str
    s3_prefix: str
    namespace: str
    service_account_name: str  # IRSA: annotated with the role that has staging_iam_policy
    image: str  # pinned tag or digest
    hf_token_secret_name: str
    configmap_name: str
    hf_token_secret_key: str = "HF_TOKEN"
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    cpu_request: str = "2"
    cpu_limit: str = "4"
    memory_request: str = "4Gi"
    memory_limit: str = "8Gi"
    scratch_size: str = "40Gi"  # emptyDir for the snapshot: above the model's size
    backoff_limit: int = 3
    active_deadline_seconds: int = 7200
    concurrency: int = 16
    run_as_user: int = 1000  # the image's USER (kserve images: 1000)


def _check(spec: StagingJobSpec) -> None:
    problems: list[str] = []
    name, _, tag = spec.image.rpartition(":")
    if "@sha256:" not in spec.image and (not name or "/" in tag or tag in ("", "latest")):
        problems.append(f"image: {spec.image!r} must be pinned to a version tag or digest")
    for label, value in (("namespace", spec.namespace), ("configmap_name", spec.configmap_name)):
        if not _DNS_LABEL.match(value):
            problems.append(f"{label}: {value!r} is not a DNS-1123 label")
    for label, value in (
        ("cpu_request", spec.cpu_request),
        ("cpu_limit", spec.cpu_limit),
        ("memory_request", spec.memory_request),
        ("memory_limit", spec.memory_limit),
        ("scratch_size", spec.scratch_size),
    ):
        if not _QUANTITY.match(value):
            problems.append(f"{label}: {value!r} is not a Kubernetes quantity")
    if not spec.revision:
        problems.append("revision: empty; pin a commit sha or tag")
    if not spec.s3_prefix.strip("/"):
        problems.append("s3_prefix: empty; a model needs its own prefix")
    if spec.backoff_limit < 0 or spec.active_deadline_seconds < 1:
        problems.append("backoff_limit must be >= 0 and active_deadline_seconds >= 1")
    if problems:
        raise ValueError("; ".join(problems))


def _slug(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", text.lower())).strip("-") or "model"


def staging_hash(spec: StagingJobSpec) -> str:
    """8 hex chars of what is staged where: repo id, revision, bucket and prefix."""
    identity = "\n".join(
        (spec.hf_repo_id, spec.revision, spec.s3_bucket, spec.s3_prefix.strip("/"))
    )
    return hashlib.sha256(identity.encode()).hexdigest()[:8]


def staging_job_name(spec: StagingJobSpec) -> str:
    suffix = staging_hash(spec)
    room = MAX_NAME - len("stage--") - len(suffix)
    return f"stage-{_slug(spec.model_name)[:room].rstrip('-')}-{suffix}"


def _labels(spec: StagingJobSpec) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "model-staging",
        "app.kubernetes.io/component": "staging",
        "app.kubernetes.io/instance": _slug(spec.model_name)[:MAX_NAME].rstrip("-"),
    }


def staging_configmap(spec: StagingJobSpec, module_dir: Path = STAGE_MODULE_DIR) -> dict[str, Any]:
    """The ConfigMap carrying the staging module's source files (one key per ``*.py``)."""
    _check(spec)
    files = sorted(module_dir.glob("*.py"))
    if not any(f.name == "__main__.py" for f in files):
        raise ValueError(f"{module_dir}: no __main__.py; not the stage_model package")
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": spec.configmap_name,
            "namespace": spec.namespace,
            "labels": _labels(spec),
        },
        "data": {f.name: f.read_text(encoding="utf-8") for f in files},
    }


def staging_job(spec: StagingJobSpec) -> dict[str, Any]:
    """The batch/v1 Job that stages ``hf:<repo>@<revision>`` to ``s3://<bucket>/<prefix>``."""
    _check(spec)
    source = f"hf:{spec.hf_repo_id}@{spec.revision}"
    dest = f"s3://{spec.s3_bucket}/{spec.s3_prefix.strip('/')}"
    labels = _labels(spec)
    env = [
        {"name": "PYTHONPATH", "value": str(Path(MODULE_MOUNT).parent)},
        {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},  # the module mount is read-only
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        {"name": "HOME", "value": f"{SCRATCH_MOUNT}/home"},
        {"name": "HF_HOME", "value": f"{SCRATCH_MOUNT}/hf-home"},
        {"name": "HF_HUB_DISABLE_TELEMETRY", "value": "1"},
        {
            "name": "HF_TOKEN",
            "valueFrom": {
                "secretKeyRef": {
                    "name": spec.hf_token_secret_name,
                    "key": spec.hf_token_secret_key,
                    "optional": False,
                }
            },
        },
    ]
    container = {
        "name": CONTAINER_NAME,
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        # Replaces the image's entrypoint (the KServe storage initializer) with our module.
        "command": ["python3", "-m", "stage_model"],
        "args": [
            "--source",
            source,
            "--dest",
            dest,
            "--staging-dir",
            f"{SCRATCH_MOUNT}/model",
            "--concurrency",
            str(spec.concurrency),
        ],
        "env": env,
        "resources": {
            "requests": {
                "cpu": spec.cpu_request,
                "memory": spec.memory_request,
                "ephemeral-storage": spec.scratch_size,
            },
            # No ephemeral-storage limit: the scratch emptyDir's sizeLimit bounds the snapshot,
            # and a pod-wide limit equal to it would evict on logs and /tmp at a full disk.
            "limits": {"cpu": spec.cpu_limit, "memory": spec.memory_limit},
        },
        "volumeMounts": [
            {"name": "stage-module", "mountPath": MODULE_MOUNT, "readOnly": True},
            {"name": "scratch", "mountPath": SCRATCH_MOUNT},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
        "securityContext": restricted_container_security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    pod_spec = irsa_job_pod_spec(
        spec.service_account_name,
        spec.run_as_user,
        [container],
        [
            {
                "name": "stage-module",
                "configMap": {"name": spec.configmap_name, "defaultMode": 0o444},
            },
            {"name": "scratch", "emptyDir": {"sizeLimit": spec.scratch_size}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
        ],
        node_selector=spec.node_selector,
    )
    if spec.tolerations:
        pod_spec["tolerations"] = [dict(t) for t in spec.tolerations]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": staging_job_name(spec),
            "namespace": spec.namespace,
            "labels": labels,
            "annotations": {
                "staging.kserve-fluid/source": source,
                "staging.kserve-fluid/dest": dest,
            },
        },
        # No ttlSecondsAfterFinished: the finished Job stays so Pulumi sees it Complete and a
        # later `pulumi up` finds it unchanged instead of re-creating it.
        "spec": {
            "backoffLimit": spec.backoff_limit,
            "activeDeadlineSeconds": spec.active_deadline_seconds,
            "completions": 1,
            "parallelism": 1,
            "podFailurePolicy": {
                "rules": [
                    # Missing token, no access, unknown repo/revision, no bucket: a retry
                    # would fail the same way (PERMANENT_EXIT_CODES).
                    {
                        "action": "FailJob",
                        "onExitCodes": {
                            "containerName": CONTAINER_NAME,
                            "operator": "In",
                            "values": list(PERMANENT_EXIT_CODES),
                        },
                    },
                    # Evicted or preempted pods do not count against backoffLimit.
                    {
                        "action": "Ignore",
                        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
                    },
                ]
            },
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
