"""The nodes a plan creates, as the scheduler sees them, and Kubernetes' matching rules.

A selector, affinity or toleration is only right if it matches the labels and taints the node
group (or Karpenter node pool) actually sets in the plan: tests build `NodeShape`s from the
plan's registrations and ask the scheduler's questions of them, instead of comparing a selector
with the constants the program built it from.

Matching follows the scheduler: kubernetes/kubernetes
`staging/src/k8s.io/component-helpers/scheduling/corev1/nodeaffinity/nodeaffinity.go@v1.34.0`
(terms ORed, expressions ANDed; `NotIn`/`DoesNotExist` match a missing label) and
`staging/src/k8s.io/api/core/v1/toleration.go@v1.34.0` (`ToleratesTaint`: empty key with
`Exists` tolerates everything, empty effect matches every effect).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MANAGED_NODE_GROUP = "eks:index:ManagedNodeGroup"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"

# EKS node group taint effects (aws:eks/NodeGroup) -> Kubernetes taint effects.
EKS_EFFECTS = {
    "NO_SCHEDULE": "NoSchedule",
    "NO_EXECUTE": "NoExecute",
    "PREFER_NO_SCHEDULE": "PreferNoSchedule",
}
# Labels every node carries without the plan asking: the kubelet sets os and arch
# (kubernetes/kubernetes pkg/kubelet/kubelet_node_status.go@v1.34.0 initialNode), the cloud
# provider the instance type (kubernetes/cloud-provider controllers/node/node_controller.go).
# Every node here is x86_64 Linux (amiType AL2023_x86_64_*). Nothing else is assumed: a selector
# on a label neither the plan nor these set matches no node.
KUBELET_LABELS = {"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class NodeShape:
    """One kind of node the plan creates: where it comes from, its labels and taints."""

    source: str
    labels: Mapping[str, str]
    taints: tuple[Taint, ...] = field(default=())

    @property
    def is_gpu(self) -> bool:
        return any(t.key == "nvidia.com/gpu" for t in self.taints) or any(
            k.startswith("nvidia.com/gpu") for k in self.labels
        )


def node_shapes(plan: Any) -> list[NodeShape]:
    """Every node shape of the plan: one per instance type of each managed node group, one per
    Karpenter NodePool (with the first value of each `In` requirement, as a node it launches
    would carry)."""
    shapes: list[NodeShape] = []
    for group in plan.of_type(MANAGED_NODE_GROUP):
        inputs = group["inputs"]
        taints = tuple(
            Taint(t["key"], str(t.get("value", "")), EKS_EFFECTS[t["effect"]])
            for t in inputs.get("taints", [])
        )
        for instance_type in inputs.get("instanceTypes", []):
            labels = {**KUBELET_LABELS, INSTANCE_TYPE_LABEL: instance_type}
            labels.update(inputs.get("labels", {}))
            shapes.append(NodeShape(group["name"], labels, taints))
    for pool in plan.of_type(NODE_POOL):
        template = pool["inputs"]["spec"]["template"]
        labels = dict(KUBELET_LABELS)
        # kubernetes-sigs/karpenter pkg/apis/v1/labels.go: NodePoolLabelKey on every node.
        labels["karpenter.sh/nodepool"] = pool["inputs"]["metadata"]["name"]
        for requirement in template["spec"].get("requirements", []):
            if requirement["operator"] == "In" and requirement.get("values"):
                labels[requirement["key"]] = requirement["values"][0]
        labels.update(template.get("metadata", {}).get("labels", {}))
        taints = tuple(
            Taint(t["key"], str(t.get("value", "")), t["effect"])
            for t in template["spec"].get("taints", [])
        )
        shapes.append(NodeShape(pool["name"], labels, taints))
    assert shapes, "the plan creates no nodes"
    return shapes


def gpu_shapes(plan: Any) -> list[NodeShape]:
    found = [s for s in node_shapes(plan) if s.is_gpu]
    assert found, "the plan creates no GPU nodes"
    return found


def data_shapes(plan: Any) -> list[NodeShape]:
    found = [s for s in node_shapes(plan) if not s.is_gpu]
    assert found, "the plan creates no non-GPU nodes"
    return found


def expression_matches(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator = expression["key"], expression["operator"]
    values = list(expression.get("values") or [])
    present = key in labels
    if operator == "In":
        return present and labels[key] in values
    if operator == "NotIn":
        return not present or labels[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt"):
        if not present or len(values) != 1:
            return False
        try:
            have, want = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > want if operator == "Gt" else have < want
    raise ValueError(f"unknown node selector operator {operator!r}")


def term_matches(term: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A NodeSelectorTerm: every expression matches (matchFields on metadata.name ignored)."""
    expressions = term.get("matchExpressions") or []
    if not expressions and not term.get("matchFields"):
        return False  # an empty term matches no objects
    return all(expression_matches(e, labels) for e in expressions)


def required_affinity_matches(affinity: Mapping[str, Any] | None, shape: NodeShape) -> bool:
    node_affinity = (affinity or {}).get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not required:
        return True
    return any(term_matches(t, shape.labels) for t in required.get("nodeSelectorTerms") or [])


def node_selector_matches(selector: Mapping[str, str] | None, shape: NodeShape) -> bool:
    return all(shape.labels.get(k) == v for k, v in (selector or {}).items())


def tolerates(toleration: Mapping[str, Any], taint: Taint) -> bool:
    effect = toleration.get("effect") or ""
    if effect and effect != taint.effect:
        return False
    key = toleration.get("key") or ""
    operator = toleration.get("operator") or "Equal"
    if not key:
        return operator == "Exists"
    if key != taint.key:
        return False
    if operator == "Exists":
        return True
    return operator == "Equal" and str(toleration.get("value") or "") == taint.value


def untolerated_taints(
    tolerations: Iterable[Mapping[str, Any]] | None, shape: NodeShape
) -> list[Taint]:
    """The NoSchedule/NoExecute taints of `shape` that no toleration covers."""
    listed = list(tolerations or [])
    return [
        taint
        for taint in shape.taints
        if taint.effect in ("NoSchedule", "NoExecute")
        and not any(tolerates(t, taint) for t in listed)
    ]


def schedulable(pod_spec: Mapping[str, Any], shape: NodeShape) -> bool:
    """Whether the scheduler's node filters (selector, required affinity, taints) admit it."""
    return (
        node_selector_matches(pod_spec.get("nodeSelector"), shape)
        and required_affinity_matches(pod_spec.get("affinity"), shape)
        and not untolerated_taints(pod_spec.get("tolerations"), shape)
    )


def landing(pod_spec: Mapping[str, Any], shapes: Iterable[NodeShape]) -> set[str]:
    """Sources (node groups / pools) of the shapes a pod spec can be scheduled on."""
    return {s.source for s in shapes if schedulable(pod_spec, s)}
