"""Kubelet reservations as the EKS AMI's nodeadm computes them
(components/config/node_capacity.py)."""

from __future__ import annotations

import pytest

from components.config.instance_types import CATALOGUE
from components.config.node_capacity import (
    MAX_PODS,
    allocatable_for_pods,
    kube_reserved_cpu_millicores,
)


@pytest.mark.parametrize(("vcpus", "reserved"), [(1, 60), (2, 70), (4, 80), (32, 150), (192, 550)])
def test_kube_reserved_cpu_follows_nodeadm_ranges(vcpus: int, reserved: int) -> None:
    # 6% of core 1, 1% of core 2, 0.5% of cores 3-4, 0.25% of the rest.
    assert kube_reserved_cpu_millicores(vcpus) == reserved


def test_every_gpu_type_has_its_max_pods() -> None:
    gpu_types = {name for name, t in CATALOGUE.items() if t.gpus}
    assert gpu_types <= set(MAX_PODS)


def test_g5_8xlarge_allocatable() -> None:
    node = allocatable_for_pods(CATALOGUE["g5.8xlarge"])
    # 32000m - 150m kube-reserved - 25m aws-node; 131072Mi - (11 x 234 + 255)Mi - 100Mi eviction.
    assert (node.cpu_millicores, node.memory_mib) == (31825, 128143)
