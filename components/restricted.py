"""The Kubernetes "restricted" Pod Security profile for the Jobs this program creates.

One definition, so the webhook wait, the DataLoad gates and the staging Jobs cannot drift apart
(policy rule `workloads-restricted`; kubernetes/website
content/en/docs/concepts/security/pod-security-standards.md, "Restricted").
"""

from __future__ import annotations

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
