"""Destroy safety: `pulumi destroy` deletes a resource before everything it depends on, and
unrelated resources in parallel. So every Kubernetes object must depend (directly, through
other resources, or through its parents) on:
- a node group that runs the controllers, or its finalizers outlive their controller (Fluid
  #1970, kserve #2119, knative/operator #1950: reference/security-reliability.md §3);
- for a custom resource, the release that installs its CRD and controller;
and the ingress load balancer must depend on the network, so its ELB and security group are
gone before the VPC is deleted.

Stack rules (they follow dependencies and parents, which only `AnalyzeStack` carries). When
they report: at the end of `pulumi preview` and of `pulumi up`, on the outputs, once every
step has run (pulumi/pulumi:pkg/resource/deploy/step_generator.go@1b59498
`AnalyzeResources`). Dependencies are known at preview and the props they read (release
names, taints, Service types) are inputs, known too, so `up`'s own preview refuses before
anything is created. pulumi-eks's `ManagedNodeGroup` component outputs only `nodeGroup` and
`placementGroupName` (pulumi/pulumi-eks:nodejs/eks/nodes/nodegroup.ts@7bf0c1b
`registerOutputs`): its taints are read on its `aws:eks/nodeGroup:NodeGroup` child.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyResource

from .base import MANDATORY, StackRule, as_list, depends_on, display
from .exposure import creates_load_balancer

NODE_GROUP_TYPES = (
    "eks:index:ManagedNodeGroup",
    "aws:eks/nodeGroup:NodeGroup",
    "eks:index:NodeGroup",
    "eks:index:NodeGroupV2",
)
NETWORK_TYPES = ("awsx:ec2:Vpc", "aws:ec2/vpc:Vpc")
RELEASE_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")
_KUBERNETES = re.compile(r"^kubernetes:(?P<group>[\w.-]+)/(?P<version>\w+):(?P<kind>\w+)$")
_BUILTIN_GROUPS = {"core", "apps", "batch", "policy", "autoscaling", "helm.sh", "yaml", "kustomize"}

API_SERVER_ONLY = {
    "apiServerOnlyKinds": {
        "type": "array",
        "items": {"type": "string"},
        "default": [
            "core/Namespace",
            "core/ServiceAccount",
            "core/ConfigMap",
            "core/Secret",
            "rbac.authorization.k8s.io/Role",
            "rbac.authorization.k8s.io/RoleBinding",
            "rbac.authorization.k8s.io/ClusterRole",
            "rbac.authorization.k8s.io/ClusterRoleBinding",
            "apiextensions.k8s.io/CustomResourceDefinition",
            "scheduling.k8s.io/PriorityClass",
        ],
        "description": "<group>/<Kind> of objects that need only the API server.",
    },
    "apiServerOnlyReleases": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["istio-base", "kserve-crd", "karpenter-crd"],
        "description": "Helm releases that install only CRDs and cluster-scoped objects.",
    },
}

CRD_OWNERS = {
    "crdOwners": {
        "type": "object",
        "default": {
            "data.fluid.io": ["fluid"],
            "serving.kserve.io": ["kserve-crd"],
            "operator.knative.dev": ["knative-operator"],
            "karpenter.sh": ["karpenter", "karpenter-crd"],
            "karpenter.k8s.aws": ["karpenter", "karpenter-crd"],
            "cert-manager.io": ["cert-manager"],
            "networking.istio.io": ["istio-base"],
            "security.istio.io": ["istio-base"],
        },
        "description": "API group -> names of the Helm releases that install its CRDs.",
    }
}


def _needs_controller_nodes(resource: PolicyResource, config: Mapping[str, Any]) -> bool:
    """A Kubernetes object whose life needs a controller running on the nodes.

    Left out: kinds the API server handles alone and CRD-only releases (DESIGN.md: "a CRD-only
    release or a Namespace needs only the API server"), configurable as `apiServerOnlyKinds`
    and `apiServerOnlyReleases`; and what a pulumi-eks cluster creates for itself (children of
    `eks:index:Cluster`), which goes with the cluster.
    """
    if not resource.resource_type.startswith("kubernetes:"):
        return False
    match = _KUBERNETES.match(resource.resource_type)
    if match and f"{match.group('group')}/{match.group('kind')}" in set(
        config.get("apiServerOnlyKinds") or []
    ):
        return False
    if resource.resource_type in RELEASE_TYPES and _release_name(resource) in set(
        config.get("apiServerOnlyReleases") or []
    ):
        return False
    ancestor = resource.parent
    while ancestor is not None:
        if ancestor.resource_type == "eks:index:Cluster":
            return False
        ancestor = ancestor.parent
    return True


def _api_group(resource: PolicyResource) -> str | None:
    match = _KUBERNETES.match(resource.resource_type)
    if not match:
        return None
    group = match.group("group")
    if group in _BUILTIN_GROUPS or group.endswith(".k8s.io"):
        return None
    return group


def _taints(node_group: PolicyResource, resources: list[PolicyResource]) -> list[Any]:
    """Its taints; for a pulumi-eks component whose outputs lack them (stack policies see
    outputs), those of its `aws:eks/nodeGroup:NodeGroup` child."""
    if "taints" in node_group.props:
        return as_list(node_group.props.get("taints"))
    children = [
        r
        for r in resources
        if r.parent is not None
        and r.parent.urn == node_group.urn
        and r.resource_type in NODE_GROUP_TYPES
    ]
    return [t for child in children for t in as_list(child.props.get("taints"))]


def _runs_controllers(node_group: PolicyResource, resources: list[PolicyResource]) -> bool:
    """A node group without a NoSchedule taint: the controllers' pods can land there."""
    for taint in _taints(node_group, resources):
        if str((taint or {}).get("effect", "")).replace("_", "").lower() == "noschedule":
            return False
    return True


def check_node_groups(
    resources: list[PolicyResource], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    controllers = [
        r
        for r in resources
        if r.resource_type in NODE_GROUP_TYPES and _runs_controllers(r, resources)
    ]
    found = []
    for resource in resources:
        if _needs_controller_nodes(resource, config) and not any(
            depends_on(resource, g) for g in controllers
        ):
            found.append(
                (
                    f"{display(resource)}: does not depend on the node group running the "
                    "controllers; destroy could remove the nodes first and strand finalizers",
                    resource.urn,
                )
            )
    return found


def _release_name(resource: PolicyResource) -> str:
    return str(resource.props.get("name") or resource.name)


def check_crd_owners(
    resources: list[PolicyResource], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    owners: Mapping[str, list[str]] = config.get("crdOwners") or {}
    releases = [r for r in resources if r.resource_type in RELEASE_TYPES]
    found = []
    for resource in resources:
        group = _api_group(resource)
        if group is None:
            continue
        names = set(owners.get(group, []))
        if not names:
            found.append(
                (f"{display(resource)}: no release known to own API group {group}", resource.urn)
            )
            continue
        if not any(_release_name(r) in names and depends_on(resource, r) for r in releases):
            found.append(
                (
                    f"{display(resource)}: does not depend on the release installing "
                    f"{group} ({', '.join(sorted(names))})",
                    resource.urn,
                )
            )
    return found


def check_load_balancer_before_network(
    resources: list[PolicyResource], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    networks = [r for r in resources if r.resource_type in NETWORK_TYPES]
    found = []
    for resource in resources:
        if creates_load_balancer(resource) and not any(depends_on(resource, n) for n in networks):
            found.append(
                (
                    f"{display(resource)}: creates a load balancer but does not depend on the "
                    "network; destroy could delete the VPC while the ELB still holds it",
                    resource.urn,
                )
            )
    return found


RULES = [
    StackRule(
        "destroy-after-controller-nodes",
        "Every Kubernetes object depends on the node group that runs the controllers.",
        MANDATORY,
        check_node_groups,
        API_SERVER_ONLY,
    ),
    StackRule(
        "destroy-after-crd-owner",
        "Every custom resource depends on the Helm release that installs its CRD.",
        MANDATORY,
        check_crd_owners,
        CRD_OWNERS,
    ),
    StackRule(
        "destroy-load-balancer-before-network",
        "The ingress load balancer depends on the network, so it is deleted first.",
        MANDATORY,
        check_load_balancer_before_network,
    ),
]
