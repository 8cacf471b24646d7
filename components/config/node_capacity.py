"""What a node offers pods once the EKS AMI's kubelet reservations and the per-node DaemonSets
are taken out, so config validation compares a model's requests with what can really run.

Allocatable = capacity - kube-reserved - system-reserved (none on the EKS AMI) - eviction
threshold (Kubernetes' node-allocatable rule). The AMI's nodeadm computes the reservations from
the instance (awslabs/amazon-eks-ami:nodeadm/internal/kubelet/config.go@v20260724):
- kube-reserved CPU: 6% of the first core, 1% of the second, 0.5% of cores 3-4, 0.25% of the
  rest (getCPUMillicoresToReserve);
- kube-reserved memory: 11 MiB x maxPods + 255 MiB (getMemoryMebibytesToReserve), with maxPods =
  ENIs x (IPv4 addresses per ENI - 1) + 2 (eni_max_pods.go calculateStandardMaxPods);
- evictionHard memory.available: 100Mi.
The nominal memory of the instance type is used as capacity (the kernel's share is not known
offline), so the check is an upper bound: a request it refuses can never be scheduled.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.config.instance_types import InstanceType

# maxPods per GPU instance type from ENIs and IPv4 per ENI in
# awslabs/amazon-eks-ami:nodeadm/internal/kubelet/instance-info.jsonl@v20260724.
MAX_PODS: dict[str, int] = {
    **dict.fromkeys(("g4dn.xlarge", "g4dn.2xlarge", "g4dn.4xlarge"), 29),
    **dict.fromkeys(("g4dn.8xlarge", "g4dn.16xlarge"), 58),
    "g4dn.12xlarge": 234,
    **dict.fromkeys(("g5.xlarge", "g5.2xlarge", "g6.xlarge", "g6.2xlarge"), 58),
    **dict.fromkeys(("g6e.xlarge", "g6e.2xlarge"), 58),
    **dict.fromkeys(("g5.4xlarge", "g5.8xlarge", "g5.16xlarge"), 234),
    **dict.fromkeys(("g6.4xlarge", "g6.8xlarge", "g6.12xlarge"), 234),
    **dict.fromkeys(("g6e.4xlarge", "g6e.8xlarge"), 234),
    **dict.fromkeys(("g5.12xlarge", "g5.24xlarge", "g6.16xlarge", "g6.24xlarge"), 737),
    **dict.fromkeys(("g6.48xlarge", "g6e.16xlarge", "p4d.24xlarge"), 737),
    "g5.48xlarge": 345,
    "g6e.12xlarge": 292,
    **dict.fromkeys(("g6e.24xlarge", "g6e.48xlarge"), 492),
    "p5.48xlarge": 100,
    # Data-node types (a MEM cache tier must fit their memory): 4 ENIs x 15 IPv4 each for every
    # one of them (aws/karpenter-provider-aws:pkg/providers/instancetype/
    # zz_generated.vpclimits.go@1d927085), so 4 x (15 - 1) + 2 = 58 pods.
    **dict.fromkeys(
        (
            f"{family}.{size}"
            for family in ("m5n", "m5dn", "m6in", "m6idn", "c6in", "r6in", "r5n")
            for size in ("xlarge", "2xlarge")
        ),
        58,
    ),
}
EVICTION_HARD_MEMORY_MIB = 100

# CPU requests of the DaemonSets on every GPU node: aws-node requests 25m
# (aws/amazon-vpc-cni-k8s:charts/aws-vpc-cni/values.yaml@v1.22.0); the NVIDIA device plugin and
# the Jindo FUSE pods are rendered without requests (see the plan's manifests).
DAEMONSET_CPU_MILLICORES = 25
DAEMONSET_MEMORY_MIB = 0


def kube_reserved_cpu_millicores(vcpus: int) -> int:
    total = vcpus * 1000
    reserved = 0
    for start, end, per_10000 in ((0, 1000, 600), (1000, 2000, 100), (2000, 4000, 50)):
        reserved += max(0, min(total, end) - start) * per_10000 // 10000
    return reserved + max(0, total - 4000) * 25 // 10000


@dataclass(frozen=True)
class Allocatable:
    """CPU and memory left for a model server on an otherwise empty node."""

    cpu_millicores: int
    memory_mib: int


def allocatable_for_pods(node: InstanceType) -> Allocatable:
    max_pods = MAX_PODS[node.name]
    cpu = node.vcpus * 1000 - kube_reserved_cpu_millicores(node.vcpus) - DAEMONSET_CPU_MILLICORES
    memory = (
        node.memory_gib * 1024
        - (11 * max_pods + 255)
        - EVICTION_HARD_MEMORY_MIB
        - DAEMONSET_MEMORY_MIB
    )
    return Allocatable(cpu, memory)
