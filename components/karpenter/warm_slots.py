"""Warm GPU slots: low-priority placeholder pods that keep GPU nodes up until a predictor needs one.

Karpenter 1.14 has two ways to hold spare capacity. `CapacityBuffer` (autoscaling.x-k8s.io) is
Alpha behind the `capacityBuffer` feature gate, off by default
(aws/karpenter-provider-aws:charts/karpenter/values.yaml@v1.14.1 `settings.featureGates`), and
documented only under website/content/en/preview/concepts/capacitybuffers.md@v1.14.1, not in
the v1.14 docs. The stack uses the pattern that needs no gate: a Deployment of placeholder pods
at a negative PriorityClass (aws-samples/karpenter-blueprints:blueprints/overprovision@529b88c
uses value -10). Each placeholder requests one GPU, so Karpenter launches a node for it; a
predictor (priority 0) that finds no free GPU makes the scheduler preempt a placeholder and binds
to its node at once; the evicted placeholder turns Pending and Karpenter starts the next warm
node, within `gpuNodes.gpuLimit`. A node holding a placeholder is not empty, so `WhenEmpty`
consolidation leaves it.

The placeholder runs `sleep` in the storage-initializer image, which every GPU node already has
(it is on the GPU path and on the image snapshot), under the restricted Pod Security profile.
`WarmGpuSlots` is created after the NodePool, so destroy removes the placeholders first and the
warm nodes empty out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components.context import LayerArgs, image_waits
from components.naming import GPU_TAINT_KEY, gpu_node_labels
from components.restricted import restricted_container_security, restricted_pod_security

NAMESPACE = "gpu-warm-slots"
PRIORITY_CLASS = "gpu-warm-slot"
PRIORITY = -10
"""Below every predictor (no PriorityClass: priority 0), as the overprovision blueprint does."""
APP_LABEL = {"app.kubernetes.io/name": "gpu-warm-slot"}
USER_ID = 1000
"""The storage-initializer image's user (USER 1000 in its Dockerfile)."""


def namespace() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": NAMESPACE,
            "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
        },
    }


def priority_class() -> dict[str, Any]:
    """Placeholders never preempt anything themselves (preemptionPolicy Never)."""
    return {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": PRIORITY_CLASS},
        "value": PRIORITY,
        "globalDefault": False,
        "preemptionPolicy": "Never",
        "description": "Warm GPU slots: evicted first when a model needs the GPU.",
    }


def deployment(slots: int, image: str) -> dict[str, Any]:
    """`slots` placeholders of one GPU each on the GPU nodes (their labels and taint)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "gpu-warm-slot", "namespace": NAMESPACE, "labels": APP_LABEL},
        "spec": {
            "replicas": slots,
            "selector": {"matchLabels": APP_LABEL},
            "template": {
                "metadata": {"labels": APP_LABEL},
                "spec": {
                    "priorityClassName": PRIORITY_CLASS,
                    # Preemption should free the GPU at once.
                    "terminationGracePeriodSeconds": 0,
                    "automountServiceAccountToken": False,
                    "nodeSelector": gpu_node_labels(),
                    "tolerations": [
                        {
                            "key": GPU_TAINT_KEY,
                            "operator": "Equal",
                            "value": "true",
                            "effect": "NoSchedule",
                        }
                    ],
                    "securityContext": restricted_pod_security(USER_ID),
                    "containers": [
                        {
                            "name": "placeholder",
                            "image": image,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["sleep", "infinity"],
                            "resources": {
                                "requests": {"cpu": "10m", "memory": "16Mi", "nvidia.com/gpu": "1"},
                                "limits": {"memory": "16Mi", "nvidia.com/gpu": "1"},
                            },
                            "securityContext": restricted_container_security(),
                        }
                    ],
                },
            },
        },
    }


@dataclass(frozen=True)
class WarmSlotsArgs(LayerArgs):
    gpu_capacity: pulumi.Resource


class WarmGpuSlots(pulumi.ComponentResource):
    """A namespace, a PriorityClass below every model, and the placeholder Deployment."""

    def __init__(
        self, name: str, args: WarmSlotsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kserve-fluid:karpenter:WarmGpuSlots", name, None, opts)
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        slots = args.config.gpu_nodes.cold_start.warm_slots
        ns = k8s.core.v1.Namespace(
            f"{name}-namespace", metadata=namespace()["metadata"], opts=k8s_opts
        )
        priority = priority_class()
        priority_resource = k8s.scheduling.v1.PriorityClass(
            f"{name}-priority",
            metadata=priority["metadata"],
            value=priority["value"],
            global_default=priority["globalDefault"],
            preemption_policy=priority["preemptionPolicy"],
            description=priority["description"],
            opts=k8s_opts,
        )
        image = versions.STORAGE_INITIALIZER_IMAGE
        document = deployment(slots, args.mirror.ref(image))
        # Not awaited: a warm node is EC2 capacity, which `pulumi up` should not wait for.
        metadata: Any = {**document["metadata"], "annotations": {"pulumi.com/skipAwait": "true"}}
        k8s.apps.v1.Deployment(
            f"{name}-placeholders",
            metadata=metadata,
            spec=document["spec"],
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                depends_on=[
                    ns,
                    priority_resource,
                    args.gpu_capacity,
                    *image_waits(args.image_ready, image),
                ],
            ),
        )
        self.register_outputs({"slots": slots})
