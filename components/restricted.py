"""The Kubernetes "restricted" Pod Security profile for the Jobs this program creates.

One definition, so the webhook wait, the DataLoad gates and the staging Jobs cannot drift apart
(policy rule `workloads-restricted`; kubernetes/website
content/en/docs/concepts/security/pod-security-standards.md, "Restricted").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def restricted_pod_security(user_id: int, *, fs_group: bool = False) -> dict[str, Any]:
    """Pod-level part: a fixed non-root user and the runtime's default seccomp profile."""
    context: dict[str, Any] = {
        "runAsNonRoot": True,
        "runAsUser": user_id,
        "runAsGroup": user_id,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if fs_group:
        context["fsGroup"] = user_id
    return context


def restricted_container_security() -> dict[str, Any]:
    """Container-level part: no escalation, no capability, a read-only root file system."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def irsa_job_pod_spec(
    service_account: str,
    user_id: int,
    containers: list[dict[str, Any]],
    volumes: list[dict[str, Any]],
    *,
    init_containers: list[dict[str, Any]] | None = None,
    node_selector: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The pod of a Job that calls AWS through IRSA and never the Kubernetes API: restricted,
    run once, and without an API token."""
    spec: dict[str, Any] = {
        "serviceAccountName": service_account,
        # No Kubernetes API call: no API token. IRSA does not need it: the EKS pod identity
        # webhook adds its own projected `aws-iam-token` volume for STS
        # (aws/amazon-eks-pod-identity-webhook pkg/handler/handler.go).
        "automountServiceAccountToken": False,
        "restartPolicy": "Never",
        "securityContext": restricted_pod_security(user_id, fs_group=True),
    }
    if init_containers:
        spec["initContainers"] = init_containers
    spec["containers"] = containers
    spec["volumes"] = volumes
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    return spec
