"""Layer 3b: `gpuNodes.coldStart.warmSlots` GPUs kept warm by preemptible placeholder pods.

See components/manifests/warm_slots.py for why placeholders and not Karpenter's CapacityBuffer.
Created after the NodePool, so destroy removes them first and the warm nodes empty out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components.config import StackConfig
from components.image_mirror import ImageMirror
from components.manifests import warm_slots as manifests


@dataclass(frozen=True)
class WarmSlotsArgs:
    config: StackConfig
    provider: k8s.Provider
    gpu_capacity: pulumi.Resource
    mirror: ImageMirror
    image_ready: Sequence[pulumi.Resource]
    """What the placeholder image needs in ECR first (the mirror's rule or copy Job)."""


class WarmGpuSlots(pulumi.ComponentResource):
    """A namespace, a PriorityClass below every model, and the placeholder Deployment."""

    def __init__(
        self, name: str, args: WarmSlotsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kserve-fluid:karpenter:WarmGpuSlots", name, None, opts)
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace", metadata=manifests.namespace()["metadata"], opts=k8s_opts
        )
        priority = manifests.priority_class()
        priority_class = k8s.scheduling.v1.PriorityClass(
            f"{name}-priority",
            metadata=priority["metadata"],
            value=priority["value"],
            global_default=priority["globalDefault"],
            preemption_policy=priority["preemptionPolicy"],
            description=priority["description"],
            opts=k8s_opts,
        )
        document = manifests.deployment(
            args.config.gpu_nodes.cold_start.warm_slots,
            args.mirror.ref(versions.STORAGE_INITIALIZER_IMAGE),
        )
        # Not awaited: a warm node is EC2 capacity, which `pulumi up` should not wait for.
        metadata: Any = {**document["metadata"], "annotations": {"pulumi.com/skipAwait": "true"}}
        k8s.apps.v1.Deployment(
            f"{name}-placeholders",
            metadata=metadata,
            spec=document["spec"],
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                depends_on=[namespace, priority_class, args.gpu_capacity, *args.image_ready],
            ),
        )
        self.register_outputs({"slots": args.config.gpu_nodes.cold_start.warm_slots})
