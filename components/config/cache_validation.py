"""Checks on the cache volume and the cache tier, from the same published facts as the model.

Pure functions over plain typed values: each returns problems (refused before anything is
registered) or warnings (the stack deploys, but pays for speed it cannot use), one line each,
naming the config key.
"""

from __future__ import annotations

from components.config.instance_types import CATALOGUE, THROUGHPUT_FACTS
from components.config.node_capacity import MAX_PODS, allocatable_for_pods

# gp3 limits as the EC2 API accepts them today (raised in 2025 from 125-1000 MiB/s, 3,000-16,000
# IOPS, 1 GiB-16 TiB): botocore's EC2 model, LaunchTemplateEbsBlockDeviceRequest.Throughput
# "Valid Range: Minimum value of 125. Maximum value of 2,000", .Iops "gp3: 3,000 - 80,000 IOPS",
# .VolumeSize "gp3: 1 - 65,536 GiB" (boto/botocore:botocore/data/ec2/2016-11-15/service-2.json
# @1.44.8, the pinned boto3's botocore).
GP3_MIN_THROUGHPUT_MIBPS = 125
GP3_MAX_THROUGHPUT_MIBPS = 2000
GP3_MIN_IOPS = 3000
GP3_MAX_IOPS = 80000
GP3_MAX_SIZE_GIB = 65536
# Ratios: "additional throughput ... at a ratio of 0.25 MiB/s per provisioned IOPS" and "IOPS ...
# at a ratio of 500 IOPS per GiB of volume size" (AWS 'General Purpose SSD volumes',
# awsdocs/amazon-ec2-user-guide:doc_source/general-purpose.md@e3707c4). AWS refuses the volume
# (mid-deploy, at launch of the node) when a pair breaks them.
GP3_MIBPS_PER_IOPS = 0.25
GP3_IOPS_PER_GIB = 500


def gp3_problems(key: str, size_gib: int, iops: int, throughput_mibps: int) -> list[str]:
    """The ratios AWS enforces between a gp3 volume's throughput, IOPS and size (the ranges of
    each are field bounds in components/config/model.py), each naming the key and what is
    allowed."""
    problems: list[str] = []
    if throughput_mibps > iops * GP3_MIBPS_PER_IOPS:
        problems.append(
            f"{key}.cacheVolumeThroughputMiBps: {throughput_mibps} MiB/s needs at least "
            f"{throughput_mibps * 4} IOPS (gp3 allows 0.25 MiB/s per provisioned IOPS); "
            f"cacheVolumeIops is {iops}"
        )
    if size_gib >= 1 and iops > size_gib * GP3_IOPS_PER_GIB:
        problems.append(
            f"{key}.cacheVolumeIops: {iops} IOPS needs a volume of at least "
            f"{-(-iops // GP3_IOPS_PER_GIB)} GiB (gp3 allows 500 IOPS per GiB); "
            f"cacheVolumeGiB is {size_gib}"
        )
    return problems


def ebs_warnings(key: str, instance_type: str, throughput_mibps: int) -> list[str]:
    """A volume faster than the instance's EBS bandwidth: the difference is paid for, not used."""
    facts = THROUGHPUT_FACTS.get(instance_type)
    if facts is None or facts.ebs_baseline_mb_s is None or facts.ebs_max_mb_s is None:
        return []
    volume_mb_s = throughput_mibps * 2**20 / 1e6
    limits = (
        f"{instance_type} EBS limit: {facts.ebs_baseline_mb_s:g} MB/s baseline, "
        f"{facts.ebs_max_mb_s:g} MB/s burst"
    )
    if volume_mb_s > facts.ebs_max_mb_s:
        return [
            f"{key}.cacheVolumeThroughputMiBps: {throughput_mibps} MiB/s "
            f"({volume_mb_s:.1f} MB/s) is more than the instance can ever use ({limits})"
        ]
    if volume_mb_s > facts.ebs_baseline_mb_s:
        return [
            f"{key}.cacheVolumeThroughputMiBps: {throughput_mibps} MiB/s "
            f"({volume_mb_s:.1f} MB/s) is above what the instance sustains ({limits}, "
            "burst for 30 minutes once a day)"
        ]
    return []


def allocatable_memory_mib(instance_type: str) -> int | None:
    """Memory a pod can be given on an EKS node of this type
    (components/config/node_capacity.py), or None when its max pods are not known."""
    if instance_type not in MAX_PODS or instance_type not in CATALOGUE:
        return None
    return allocatable_for_pods(CATALOGUE[instance_type]).memory_mib


def mem_tier_problems(instance_type: str, quota_gib: int) -> list[str]:
    """A MEM tier must fit the worker node's allocatable memory."""
    allocatable = allocatable_memory_mib(instance_type)
    if allocatable is None:
        known = ", ".join(
            sorted(
                name for name in MAX_PODS if name in THROUGHPUT_FACTS and CATALOGUE[name].gpus == 0
            )
        )
        return [
            f'modelCache.medium: "MEM" needs a data node type with known allocatable memory; '
            f'"{instance_type}" is not one of {known}'
        ]
    if quota_gib * 1024 > allocatable:
        return [
            f"modelCache.quotaGiB: {quota_gib} GiB does not fit the MEM tier of a "
            f"{instance_type} ({allocatable / 1024:.1f} GiB allocatable to pods); "
            "lower the quota or use a larger data node type"
        ]
    return []
