"""One place for the names and labels every component uses."""

from __future__ import annotations

from components.config.model import StackConfig

GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"
NODE_ROLE_LABEL = "kserve-fluid/node-role"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"


def tags(config: StackConfig, **extra: str) -> dict[str, str]:
    """AWS tags on every resource: who owns it and which stack made it."""
    return {"project": config.project, "stack": config.stack, "managed-by": "pulumi", **extra}


def data_node_labels() -> dict[str, str]:
    return {NODE_ROLE_LABEL: "data"}


def gpu_toleration() -> dict[str, str]:
    return {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}


def gpu_node_labels() -> dict[str, str]:
    # The device plugin chart only schedules where NFD labels or gpu.present=true exist (§0.5).
    return {NODE_ROLE_LABEL: "gpu", GPU_PRESENT_LABEL: "true"}
