"""The Job that copies one pinned upstream image into the stack's ECR, and the IAM and ECR
documents around it. Pure functions: no Pulumi, no network.

The Job runs on a data node: an init container turns the Job's IRSA role into an ECR login
(boto3 `GetAuthorizationToken`, written as a Docker config), then `crane` compares digests and
copies. Its name carries a hash of source and destination, so it re-runs only when the pinned
tag changes; a re-run of the same tag finds the image there and does nothing (tags are
immutable, so it never overwrites). The copied digest is the container's termination message.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from components.restricted import irsa_job_pod_spec, restricted_container_security

CONTAINER_NAME = "copy"
AUTH_MOUNT = "/auth"
MAX_NAME = 63
EXIT_TAG_MOVED = 3
"""The ECR tag holds another digest than the upstream's: immutable, so pin a new tag."""

ECR_PUSH_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
)
"""What `crane copy` and `crane digest` need on the destination (ECR user guide, "Pushing an
image" IAM permissions, plus the pull actions for the digest check)."""

ECR_PULL_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
)
"""A pull (ECR user guide, "Pulling an image", IAM permissions)."""

PULL_THROUGH_ACTIONS = ("ecr:BatchImportUpstreamImage", "ecr:CreateRepository")
"""What the first pull through a cache rule needs besides plain pulls: it creates the
repository and imports the upstream image (ECR user guide, "IAM permissions required to sync
an upstream registry with an Amazon ECR private registry")."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

# Digest check first, copy only when the tag is absent, digest last into the termination log.
COPY_SCRIPT = """\
set -eu
CRANE=${CRANE:-/ko-app/crane}  # where ko puts the binary
want=$($CRANE digest "$SOURCE")
if [ -n "${PINNED_DIGEST:-}" ] && [ "$want" != "$PINNED_DIGEST" ]; then
  echo "$SOURCE resolves to $want, not the pinned $PINNED_DIGEST" >&2; exit 2
fi
if have=$($CRANE digest "$DESTINATION" 2>/dev/null); then
  if [ "$have" != "$want" ]; then
    echo "$DESTINATION holds $have but $SOURCE is $want; ECR tags are immutable," \\
      "pin a new tag in components/versions.py" >&2
    exit 3
  fi
  echo "$DESTINATION already holds $want"
else
  $CRANE copy "$SOURCE" "$DESTINATION"
  echo "copied $SOURCE to $DESTINATION ($want)"
fi
printf '%s' "$want" > "${TERMINATION_LOG:-/dev/termination-log}"
"""

ECR_LOGIN_SCRIPT = """\
import json, os
import boto3
data = boto3.client("ecr").get_authorization_token()["authorizationData"][0]
# authorizationToken is base64("AWS:<password>"): exactly Docker's `auth` field.
config = {"auths": {os.environ["REGISTRY"]: {"auth": data["authorizationToken"]}}}
with open(os.path.join(os.environ["AUTH_DIR"], "config.json"), "w") as handle:
    json.dump(config, handle)
print("ECR login for", os.environ["REGISTRY"], "valid until", data["expiresAt"])
"""


@dataclass(frozen=True)
class CopyJobSpec:
    """Everything the copy Job of one image depends on."""

    source: str  # upstream reference: tag, or digest
    registry: str  # <account>.dkr.ecr.<region>.amazonaws.com
    repository: str  # ECR repository name
    tag: str  # ECR tag (immutable)
    namespace: str
    service_account_name: str  # IRSA: annotated with the role that has copier_iam_policy
    region: str
    crane_image: str
    login_image: str
    size_gib: float = 1.0
    node_selector: dict[str, str] = field(default_factory=dict)
    backoff_limit: int = 3
    run_as_user: int = 65532  # crane's images run as nonroot (ko default)
    login_run_as_user: int = 1000  # the kserve image's USER

    @property
    def destination(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"

    @property
    def pinned_digest(self) -> str:
        return self.source.partition("@")[2]


def _check(spec: CopyJobSpec) -> None:
    problems = []
    for label, image in (
        ("source", spec.source),
        ("crane_image", spec.crane_image),
        ("login_image", spec.login_image),
    ):
        name, _, tag = image.partition("@")[0].rpartition(":")
        if "@sha256:" not in image and (not name or "/" in tag or tag in ("", "latest")):
            problems.append(f"{label}: {image!r} must be pinned to a version tag or digest")
    if not re.match(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$", spec.registry):
        problems.append(f"registry: {spec.registry!r} is not an ECR registry host")
    if not re.match(r"^[\w][\w.-]{0,127}$", spec.tag) or spec.tag == "latest":
        problems.append(f"tag: {spec.tag!r} is not a pinned Docker tag")
    if not _DNS_LABEL.match(spec.namespace):
        problems.append(f"namespace: {spec.namespace!r} is not a DNS-1123 label")
    if spec.size_gib <= 0 or spec.backoff_limit < 0:
        problems.append("size_gib must be > 0 and backoff_limit >= 0")
    if problems:
        raise ValueError("; ".join(problems))


def copy_hash(spec: CopyJobSpec) -> str:
    """8 hex chars of what is copied where: a new tag (or digest) gives a new Job."""
    return hashlib.sha256(f"{spec.source}\n{spec.destination}".encode()).hexdigest()[:8]


def copy_job_name(spec: CopyJobSpec) -> str:
    suffix = copy_hash(spec)
    base = spec.repository.rsplit("/", 1)[-1]
    slug = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", base.lower())).strip("-") or "image"
    room = MAX_NAME - len("copy--") - len(suffix)
    return f"copy-{slug[:room].rstrip('-')}-{suffix}"


def attempt_seconds(spec: CopyJobSpec) -> int:
    """One attempt: scheduling and login, plus the image at a pessimistic 20 MiB/s."""
    return 300 + round(spec.size_gib * 1024 / 20)


def deadline_seconds(spec: CopyJobSpec) -> int:
    """The Job's `activeDeadlineSeconds`: every attempt `backoffLimit` allows. The deadline
    counts from the Job's start across all its pods and, once passed, fails the Job with
    no further retry (kubernetes/website content/en/docs/concepts/workloads/controllers/
    job.md, "Job termination and cleanup"), so a shorter one would cut the retries off."""
    return (spec.backoff_limit + 1) * attempt_seconds(spec)


def copy_job(spec: CopyJobSpec) -> dict[str, Any]:
    """The batch/v1 Job that copies `source` to `registry/repository:tag`."""
    _check(spec)
    labels = {
        "app.kubernetes.io/name": "image-copy",
        "app.kubernetes.io/component": "image-mirror",
        "app.kubernetes.io/instance": copy_job_name(spec),
    }
    hardened = restricted_container_security()
    auth_mount = {"name": "auth", "mountPath": AUTH_MOUNT}
    login = {
        "name": "ecr-login",
        "image": spec.login_image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python3", "-c", ECR_LOGIN_SCRIPT],
        "env": [
            {"name": "REGISTRY", "value": spec.registry},
            {"name": "AUTH_DIR", "value": AUTH_MOUNT},
            {"name": "AWS_REGION", "value": spec.region},
            {"name": "AWS_DEFAULT_REGION", "value": spec.region},
        ],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        "securityContext": {**hardened, "runAsUser": spec.login_run_as_user},
        "volumeMounts": [auth_mount, {"name": "tmp", "mountPath": "/tmp"}],
    }
    copy = {
        "name": CONTAINER_NAME,
        "image": spec.crane_image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/busybox/sh", "-c", COPY_SCRIPT],
        "env": [
            {"name": "SOURCE", "value": spec.source},
            {"name": "DESTINATION", "value": spec.destination},
            {"name": "PINNED_DIGEST", "value": spec.pinned_digest},
            {"name": "DOCKER_CONFIG", "value": AUTH_MOUNT},
            {"name": "HOME", "value": "/tmp"},
        ],
        # crane streams layers from source to destination; memory bounds its buffers.
        "resources": {
            "requests": {"cpu": "500m", "memory": "256Mi"},
            "limits": {"cpu": "2", "memory": "1Gi"},
        },
        "securityContext": hardened,
        "volumeMounts": [{**auth_mount, "readOnly": True}, {"name": "tmp", "mountPath": "/tmp"}],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    pod_spec = irsa_job_pod_spec(
        spec.service_account_name,
        spec.run_as_user,
        [copy],
        [
            # The ECR token stays in memory and dies with the pod.
            {"name": "auth", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
        ],
        init_containers=[login],
        node_selector=spec.node_selector,
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": copy_job_name(spec),
            "namespace": spec.namespace,
            "labels": labels,
            "annotations": {
                "image-mirror.kserve-fluid/source": spec.source,
                "image-mirror.kserve-fluid/destination": spec.destination,
            },
        },
        # No ttlSecondsAfterFinished: the finished Job stays, so a later `pulumi up` finds it
        # unchanged instead of re-creating it (as the staging Jobs).
        "spec": {
            "backoffLimit": spec.backoff_limit,
            "activeDeadlineSeconds": deadline_seconds(spec),
            "completions": 1,
            "parallelism": 1,
            "podFailurePolicy": {
                "rules": [
                    # A moved upstream tag or digest fails the same way on every retry.
                    {
                        "action": "FailJob",
                        "onExitCodes": {
                            "containerName": CONTAINER_NAME,
                            "operator": "In",
                            "values": [2, EXIT_TAG_MOVED],
                        },
                    },
                    {
                        "action": "Ignore",
                        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
                    },
                ]
            },
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def copier_iam_policy(
    repository_arns: list[str], cache_prefix_arns: list[str] | None = None
) -> dict[str, Any]:
    """The copy Jobs' role: an ECR login, push/pull on the copied repositories only, and a
    read through the stack's cache rules (a copy of a cached upstream reads it there)."""
    if not repository_arns or any(":repository/" not in arn for arn in repository_arns):
        raise ValueError(f"repository_arns: {repository_arns!r}; give ECR repository ARNs")
    statements: list[dict[str, Any]] = [
        # GetAuthorizationToken has no resource-level permissions (ECR user guide).
        {"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken",
         "Resource": "*"},
        {"Sid": "PushCopiedImages", "Effect": "Allow", "Action": list(ECR_PUSH_ACTIONS),
         "Resource": sorted(repository_arns)},
    ]  # fmt: skip
    if cache_prefix_arns:
        statements.append(
            {
                "Sid": "ReadThroughCache",
                "Effect": "Allow",
                "Action": sorted({*PULL_THROUGH_ACTIONS, *ECR_PULL_ACTIONS}),
                "Resource": sorted(f"{arn}/*" for arn in cache_prefix_arns),
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def pull_through_node_policy(repository_arn_prefixes: list[str]) -> dict[str, Any]:
    """Nodes may create and fill the pull-through repositories under the stack's rules only."""
    if not repository_arn_prefixes:
        raise ValueError("repository_arn_prefixes: empty; no pull-through rule to allow")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PullThroughCacheFirstPull",
                "Effect": "Allow",
                "Action": list(PULL_THROUGH_ACTIONS),
                "Resource": sorted(f"{prefix}/*" for prefix in repository_arn_prefixes),
            }
        ],
    }


def lifecycle_policy(keep_images: int = 10) -> str:
    """For the pull-through cache's repositories: of the tagged images the newest
    `keep_images` stay. No rule selects untagged images: the platform manifests of a
    multi-arch index are untagged children, and expiring them breaks the index (an `untagged`
    or `any` selection counts them: ECR user guide, "Lifecycle policy properties",
    `tagStatus`). The immutable copy repositories get no lifecycle policy at all: each holds
    the pinned tags only, and `pulumi destroy` deletes them (force_delete)."""
    rules = [
        {
            "rulePriority": 1,
            "description": f"keep the {keep_images} newest tagged images",
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": ["*"],
                "countType": "imageCountMoreThan",
                "countNumber": keep_images,
            },
            "action": {"type": "expire"},
        }
    ]
    return json.dumps({"rules": rules})
