"""Workloads the program itself creates run under the Kubernetes "restricted" Pod Security
profile, and mount no service account token they do not use.

The restricted profile's controls (kubernetes/website:content/en/docs/concepts/security/
pod-security-standards.md, "Restricted"): runAsNonRoot, seccompProfile RuntimeDefault or
Localhost, capabilities drop ALL (add only NET_BIND_SERVICE), allowPrivilegeEscalation false;
plus readOnlyRootFilesystem, which the profile leaves out and checkov CKV_K8S_22 asks for. Chart
workloads (`helm.sh/v3:Release`) and operator-created pods are invisible to policies; the
namespaces' Pod Security labels cover those.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs

from .base import MANDATORY, ResourceRule, as_list, display

# Where each workload kind keeps its pod spec.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
}
SECCOMP_TYPES = ("RuntimeDefault", "Localhost")
ALLOWED_ADDED_CAPABILITIES = {"NET_BIND_SERVICE"}

EXEMPT = {
    "exempt": {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "description": "namespace/name of workloads whose pods cannot run restricted.",
    }
}


def pod_spec(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
    path = POD_SPEC_PATHS.get(args.resource_type)
    if path is None:
        return None
    node: Any = args.props
    for key in path:
        node = (node or {}).get(key)
    return node or {}


def _containers(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in as_list(spec.get(field)):
            yield container or {}


def _container_problems(container: Mapping[str, Any], pod: Mapping[str, Any]) -> list[str]:
    context = container.get("securityContext") or {}
    problems = []
    non_root = context.get("runAsNonRoot", pod.get("runAsNonRoot"))
    if non_root is not True or context.get("runAsUser", pod.get("runAsUser")) == 0:
        problems.append("runAsNonRoot is not true")
    seccomp = (context.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
    if seccomp not in SECCOMP_TYPES:
        problems.append(f"seccompProfile.type is {seccomp!r}, not RuntimeDefault")
    capabilities = context.get("capabilities") or {}
    if "ALL" not in as_list(capabilities.get("drop")):
        problems.append("capabilities.drop does not contain ALL")
    added = set(as_list(capabilities.get("add"))) - ALLOWED_ADDED_CAPABILITIES
    if added:
        problems.append(f"capabilities.add {sorted(added)} beyond NET_BIND_SERVICE")
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation is not false")
    if context.get("privileged") is True:
        problems.append("privileged is true")
    if context.get("readOnlyRootFilesystem") is not True:
        problems.append("readOnlyRootFilesystem is not true")
    return problems


def check_restricted(args: ResourceValidationArgs, config: Mapping[str, Any]) -> list[str]:
    spec = pod_spec(args)
    if spec is None:
        return []
    metadata = args.props.get("metadata") or {}
    workload = f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"
    if workload in set(config.get("exempt") or []):
        return []
    pod_context = spec.get("securityContext") or {}
    found = []
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(host) is True:
            found.append(f"{display(args)}: {host} is true")
    for volume in as_list(spec.get("volumes")):
        if "hostPath" in (volume or {}):
            found.append(f"{display(args)}: volume {volume.get('name')} is a hostPath")
    account = spec.get("serviceAccountName") or "default"
    if account == "default" and spec.get("automountServiceAccountToken") is not False:
        found.append(
            f"{display(args)}: mounts the default service account's token it does not use "
            "(set automountServiceAccountToken: false)"
        )
    for container in _containers(spec):
        for problem in _container_problems(container, pod_context):
            found.append(f"{display(args)}: container {container.get('name')}: {problem}")
    return found


RULES = [
    ResourceRule(
        "workloads-restricted",
        "Pods the program creates run restricted: non-root, RuntimeDefault seccomp, no "
        "capabilities, no privilege escalation, read-only root, no unused token.",
        MANDATORY,
        check_restricted,
        EXEMPT,
    ),
]
