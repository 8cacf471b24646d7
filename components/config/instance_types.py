"""EC2 instance types the stack knows how to size for.

Config validation needs vCPU, memory and GPU counts offline (no AWS call at `pulumi preview`), so
the families used for EKS data and GPU nodes are listed here. `tools/operate/preflight.py` checks
the live offering per availability zone; this table only says what a type *is*.
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
    "m6idn": 4,
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
    "r6in": 8,
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


# --- Published throughput facts ------------------------------------------------------------------
# What the cache throughput model (components/cache/throughput.py) and the cache volume checks
# (components/config/cache_validation.py) read. Every figure is copied from a published table; a
# field is None where no published figure was found, and a type is absent when its throughput facts
# could not be found at all. Units are the tables' own: network in Gbit/s (10^9 bit/s), EBS
# bandwidth in Mbit/s, EBS throughput in MB/s (10^6 B/s, 128 KiB I/O), IOPS at 16 KiB I/O.
#
# Sources (AWS EC2 User Guide, as published in awsdocs/amazon-ec2-user-guide, the last snapshot
# before the repository was archived, commit e3707c431483ec0ffffcabebd36cf799ba682cd0, 2023-06-15;
# the same tables live on today at docs.aws.amazon.com/ec2/latest/instancetypes/):
EBS_OPTIMIZED_SOURCE = (
    "AWS 'Amazon EBS-optimized instances' (awsdocs/amazon-ec2-user-guide:"
    "doc_source/ebs-optimized.md@e3707c4): baseline and maximum bandwidth/throughput/IOPS; "
    "types marked * reach the maximum for 30 minutes at least once every 24 hours"
)
NETWORK_SOURCES = {
    "general": "awsdocs/amazon-ec2-user-guide:doc_source/general-purpose-instances.md@e3707c4",
    "compute": "awsdocs/amazon-ec2-user-guide:doc_source/compute-optimized-instances.md@e3707c4",
    "memory": "awsdocs/amazon-ec2-user-guide:doc_source/memory-optimized-instances.md@e3707c4",
    "accelerated": (
        "awsdocs/amazon-ec2-user-guide:doc_source/accelerated-computing-instances.md@e3707c4"
    ),
}
"""'Network performance' and the 'baseline and burst bandwidth' table of each family page."""
INSTANCE_STORE_SOURCE = "awsdocs/amazon-ec2-user-guide:doc_source/InstanceStorage.md@e3707c4"
KARPENTER_BANDWIDTH_SOURCE = (
    "aws/karpenter-provider-aws:pkg/providers/instancetype/zz_generated.bandwidth.go"
    "@01a436f0bbbc75a1252aba1a3a48ca115b7e6cc0 (baseline network bandwidth only)"
)
"""g6, g6e and p5 are newer than the archived guide; only their baseline network bandwidth was
found (Karpenter's table generated from EC2's instance data). Their burst, EBS and instance-store
figures are left unknown rather than guessed."""


@dataclass(frozen=True)
class ThroughputFacts:
    """Published network and EBS limits of one instance type, with where they come from."""

    name: str
    memory_gib: int
    network_baseline_gbps: float
    network_burst_gbps: float | None
    ebs_baseline_mbps: int | None
    ebs_max_mbps: int | None
    ebs_baseline_mb_s: float | None
    ebs_max_mb_s: float | None
    ebs_baseline_iops: int | None
    ebs_max_iops: int | None
    local_nvme_gb: int  # total instance-store NVMe, 0 when the type has none
    source: str


def _facts(
    name: str,
    memory_gib: int,
    network: tuple[float, float | None],
    ebs: tuple[int, int, float, float, int, int] | None,
    local_nvme_gb: int,
    source: str,
) -> ThroughputFacts:
    if ebs is None:
        return ThroughputFacts(
            name, memory_gib, network[0], network[1], None, None, None, None, None, None,
            local_nvme_gb, source,
        )  # fmt: skip
    return ThroughputFacts(name, memory_gib, network[0], network[1], *ebs, local_nvme_gb, source)


# EBS rows: (baseline Mbps, max Mbps, baseline MB/s, max MB/s, baseline IOPS, max IOPS). A type
# without a baseline/maximum split sustains its one figure: both columns carry it.
_EBS_M5N_XL = (1150, 4750, 143.75, 593.75, 6000, 18750)
_EBS_M5N_2XL = (2300, 4750, 287.5, 593.75, 12000, 18750)
_EBS_6IN_XL = (2500, 20000, 312.5, 2500.0, 10937, 87500)
_EBS_6IN_2XL = (5000, 20000, 625.0, 2500.0, 21875, 87500)

_GENERAL = f"{EBS_OPTIMIZED_SOURCE}; network: {NETWORK_SOURCES['general']}"
_COMPUTE = f"{EBS_OPTIMIZED_SOURCE}; network: {NETWORK_SOURCES['compute']}"
_MEMORY = f"{EBS_OPTIMIZED_SOURCE}; network: {NETWORK_SOURCES['memory']}"
_ACCEL = f"{EBS_OPTIMIZED_SOURCE}; network: {NETWORK_SOURCES['accelerated']}"
_NVME = f"; instance store: {INSTANCE_STORE_SOURCE}"

_THROUGHPUT_ROWS: tuple[ThroughputFacts, ...] = (
    # Data-node candidates: m5n/m5dn/r5n "up to 25 Gigabit", m6in/m6idn/c6in/r6in "up to 30/40".
    _facts("m5n.xlarge", 16, (4.1, 25.0), _EBS_M5N_XL, 0, _GENERAL),
    _facts("m5n.2xlarge", 32, (8.125, 25.0), _EBS_M5N_2XL, 0, _GENERAL),
    _facts("m5dn.xlarge", 16, (4.1, 25.0), _EBS_M5N_XL, 150, _GENERAL + _NVME),
    _facts("m5dn.2xlarge", 32, (8.125, 25.0), _EBS_M5N_2XL, 300, _GENERAL + _NVME),
    _facts("m6in.xlarge", 16, (6.25, 30.0), _EBS_6IN_XL, 0, _GENERAL),
    _facts("m6in.2xlarge", 32, (12.5, 40.0), _EBS_6IN_2XL, 0, _GENERAL),
    _facts("m6idn.xlarge", 16, (6.25, 30.0), _EBS_6IN_XL, 237, _GENERAL + _NVME),
    _facts("m6idn.2xlarge", 32, (12.5, 40.0), _EBS_6IN_2XL, 474, _GENERAL + _NVME),
    _facts("c6in.xlarge", 8, (6.25, 30.0), _EBS_6IN_XL, 0, _COMPUTE),
    _facts("c6in.2xlarge", 16, (12.5, 40.0), _EBS_6IN_2XL, 0, _COMPUTE),
    _facts("r6in.xlarge", 32, (6.25, 30.0), _EBS_6IN_XL, 0, _MEMORY),
    _facts("r6in.2xlarge", 64, (12.5, 40.0), _EBS_6IN_2XL, 0, _MEMORY),
    _facts("r5n.xlarge", 32, (4.1, 25.0), _EBS_M5N_XL, 0, _MEMORY),
    _facts("r5n.2xlarge", 64, (8.125, 25.0), _EBS_M5N_2XL, 0, _MEMORY),
    # GPU nodes (the cache's readers). Sizes without "up to" have one sustained figure.
    _facts("g4dn.xlarge", 16, (5.0, 25.0), (950, 3500, 118.75, 437.5, 3000, 20000), 125,
           _ACCEL + _NVME),
    _facts("g4dn.2xlarge", 32, (10.0, 25.0), (1150, 3500, 143.75, 437.5, 6000, 20000), 225,
           _ACCEL + _NVME),
    _facts("g4dn.4xlarge", 64, (20.0, 25.0), (4750, 4750, 593.75, 593.75, 20000, 20000), 225,
           _ACCEL + _NVME),
    _facts("g4dn.8xlarge", 128, (50.0, 50.0), (9500, 9500, 1187.5, 1187.5, 40000, 40000), 900,
           _ACCEL + _NVME),
    _facts("g4dn.12xlarge", 192, (50.0, 50.0), (9500, 9500, 1187.5, 1187.5, 40000, 40000), 900,
           _ACCEL + _NVME),
    _facts("g4dn.16xlarge", 256, (50.0, 50.0), (9500, 9500, 1187.5, 1187.5, 40000, 40000), 900,
           _ACCEL + _NVME),
    _facts("g5.xlarge", 16, (2.5, 10.0), (700, 3500, 87.5, 437.5, 3000, 15000), 250,
           _ACCEL + _NVME),
    _facts("g5.2xlarge", 32, (5.0, 10.0), (850, 3500, 106.25, 437.5, 3500, 15000), 450,
           _ACCEL + _NVME),
    _facts("g5.4xlarge", 64, (10.0, 25.0), (4750, 4750, 593.75, 593.75, 20000, 20000), 600,
           _ACCEL + _NVME),
    _facts("g5.8xlarge", 128, (25.0, 25.0), (16000, 16000, 2000.0, 2000.0, 65000, 65000), 900,
           _ACCEL + _NVME),
    _facts("g5.12xlarge", 192, (40.0, 40.0), (16000, 16000, 2000.0, 2000.0, 65000, 65000), 3800,
           _ACCEL + _NVME),
    _facts("g5.16xlarge", 256, (25.0, 25.0), (16000, 16000, 2000.0, 2000.0, 65000, 65000), 1900,
           _ACCEL + _NVME),
    _facts("g5.24xlarge", 384, (50.0, 50.0), (19000, 19000, 2375.0, 2375.0, 80000, 80000), 3800,
           _ACCEL + _NVME),
    _facts("g5.48xlarge", 768, (100.0, 100.0), (19000, 19000, 2375.0, 2375.0, 80000, 80000), 7600,
           _ACCEL + _NVME),
    # p4d: "4x 100 Gigabit".
    _facts("p4d.24xlarge", 1152, (400.0, 400.0), (19000, 19000, 2375.0, 2375.0, 80000, 80000),
           8000, _ACCEL + _NVME),
    # Baseline network only (burst, EBS and instance store not found): see the source note.
    *(
        _facts(name, CATALOGUE[name].memory_gib, (gbps, None), None, 0,
               KARPENTER_BANDWIDTH_SOURCE)
        for name, gbps in (
            ("g6.xlarge", 2.5), ("g6.2xlarge", 5.0), ("g6.4xlarge", 10.0), ("g6.8xlarge", 25.0),
            ("g6.12xlarge", 40.0), ("g6.16xlarge", 25.0), ("g6.24xlarge", 50.0),
            ("g6.48xlarge", 100.0), ("g6e.xlarge", 2.5), ("g6e.2xlarge", 5.0),
            ("g6e.4xlarge", 20.0), ("g6e.8xlarge", 25.0), ("g6e.12xlarge", 100.0),
            ("g6e.16xlarge", 35.0), ("g6e.24xlarge", 200.0), ("g6e.48xlarge", 400.0),
            ("p5.48xlarge", 3200.0),
        )
    ),
)  # fmt: skip
THROUGHPUT_FACTS: dict[str, ThroughputFacts] = {row.name: row for row in _THROUGHPUT_ROWS}
