"""EC2 instance types the stack knows how to size for.

Config validation needs vCPU, memory and GPU counts offline (no AWS call at `pulumi preview`), so
the families used for EKS data and GPU nodes are listed here. `tools/preflight.py` checks the
live offering per availability zone; this table only says what a type *is*.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

INSTANCE_TYPE_PATTERN = re.compile(
    r"^[a-z][a-z0-9-]*\.[0-9]*(nano|micro|small|medium|large|xlarge)$"
)


@dataclass(frozen=True)
class InstanceType:
    """What a node of this type offers to pods, before kubelet reservations."""

    name: str
    vcpus: int
    memory_gib: int
    gpus: int = 0
    gpu_model: str = ""
    gpu_memory_gib: int = 0


# vCPU for the usual Nitro sizes; memory is vCPU x the family's GiB-per-vCPU ratio.
_SIZES = {
    "large": 2,
    "xlarge": 4,
    "2xlarge": 8,
    "4xlarge": 16,
    "8xlarge": 32,
    "12xlarge": 48,
    "16xlarge": 64,
    "24xlarge": 96,
}
_CPU_FAMILIES = {
    "m5": 4,
    "m5n": 4,
    "m5d": 4,
    "m5dn": 4,
    "m6i": 4,
    "m6a": 4,
    "m6in": 4,
    "m7i": 4,
    "m7a": 4,
    "c5": 2,
    "c5n": 2,
    "c6i": 2,
    "c6in": 2,
    "c7i": 2,
    "r5": 8,
    "r5n": 8,
    "r6i": 8,
    "r7i": 8,
}

# GPU families: size -> (vCPU, memory GiB, GPUs). Sources: the EC2 accelerated-computing pages.
_G5_LIKE = {
    "xlarge": (4, 16, 1),
    "2xlarge": (8, 32, 1),
    "4xlarge": (16, 64, 1),
    "8xlarge": (32, 128, 1),
    "12xlarge": (48, 192, 4),
    "16xlarge": (64, 256, 1),
    "24xlarge": (96, 384, 4),
    "48xlarge": (192, 768, 8),
}
# g6e: the same vCPU and GPU layout with twice the memory; g4dn: the g5 layout up to 16xlarge.
_G6E = {size: (vcpus, memory * 2, gpus) for size, (vcpus, memory, gpus) in _G5_LIKE.items()}
_G4DN = {
    size: _G5_LIKE[size]
    for size in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")
}
_GPU_FAMILIES: dict[str, tuple[str, int, dict[str, tuple[int, int, int]]]] = {
    "g4dn": ("T4", 16, _G4DN),
    "g5": ("A10G", 24, _G5_LIKE),
    "g6": ("L4", 24, _G5_LIKE),
    "g6e": ("L40S", 48, _G6E),
    "p4d": ("A100", 40, {"24xlarge": (96, 1152, 8)}),
    "p5": ("H100", 80, {"48xlarge": (192, 2048, 8)}),
}


def _catalogue() -> dict[str, InstanceType]:
    types: dict[str, InstanceType] = {}
    for family, ratio in _CPU_FAMILIES.items():
        for size, vcpus in _SIZES.items():
            name = f"{family}.{size}"
            types[name] = InstanceType(name, vcpus, vcpus * ratio)
    for family, (model, gpu_mem, sizes) in _GPU_FAMILIES.items():
        for size, (vcpus, mem, gpus) in sizes.items():
            name = f"{family}.{size}"
            types[name] = InstanceType(name, vcpus, mem, gpus, model, gpu_mem)
    return types


CATALOGUE: dict[str, InstanceType] = _catalogue()
GPU_FAMILIES: tuple[str, ...] = tuple(_GPU_FAMILIES)
