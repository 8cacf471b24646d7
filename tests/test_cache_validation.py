"""gp3 and cache-tier checks: pairs AWS refuses, throughput the instance cannot use, MEM fit."""

from __future__ import annotations

from typing import Any

import pytest

from components.cache.throughput import plan_report
from components.config.cache_validation import (
    allocatable_memory_mib,
    ebs_warnings,
    gp3_problems,
    mem_tier_problems,
)
from tests.test_config import parse, problems, with_change

KEY = "dataNodeGroup"


def test_a_valid_gp3_volume_has_no_problem() -> None:
    assert gp3_problems(KEY, 120, 3000, 250) == []
    assert gp3_problems(KEY, 120, 4000, 1000) == []
    assert gp3_problems(KEY, 160, 8000, 2000) == []  # the 2025 limits


def test_gp3_ratios_aws_refuses() -> None:
    # AWS refuses 1000 MiB/s on 3000 IOPS: at most 0.25 MiB/s per IOPS.
    assert gp3_problems(KEY, 120, 3000, 1000) == [
        "dataNodeGroup.cacheVolumeThroughputMiBps: 1000 MiB/s needs at least 4000 IOPS "
        "(gp3 allows 0.25 MiB/s per provisioned IOPS); cacheVolumeIops is 3000"
    ]
    assert gp3_problems(KEY, 10, 6000, 250) == [
        "dataNodeGroup.cacheVolumeIops: 6000 IOPS needs a volume of at least 12 GiB "
        "(gp3 allows 500 IOPS per GiB); cacheVolumeGiB is 10"
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cacheVolumeThroughputMiBps", 2001,
         "dataNodeGroup.cacheVolumeThroughputMiBps: 2001 must be at most 2000"),
        ("cacheVolumeThroughputMiBps", 100,
         "dataNodeGroup.cacheVolumeThroughputMiBps: 100 must be at least 125"),
        ("cacheVolumeIops", 80001, "dataNodeGroup.cacheVolumeIops: 80001 must be at most 80000"),
        ("cacheVolumeIops", 2999, "dataNodeGroup.cacheVolumeIops: 2999 must be at least 3000"),
        ("cacheVolumeGiB", 70000, "dataNodeGroup.cacheVolumeGiB: 70000 must be at most 65536"),
    ],
)  # fmt: skip
def test_gp3_ranges_are_refused(field: str, value: int, message: str) -> None:
    assert problems(with_change(f"dataNodeGroup.{field}", value)) == [message]


def test_the_2025_gp3_limits_are_accepted() -> None:
    raw = with_change("dataNodeGroup.cacheVolumeThroughputMiBps", 2000)
    raw["dataNodeGroup"].update(cacheVolumeIops=8000, cacheVolumeGiB=160)
    assert parse(raw).data_node_group.cache_volume_throughput_mibps == 2000


def test_refused_pair_stops_the_config_before_any_resource() -> None:
    raw = with_change("dataNodeGroup.cacheVolumeThroughputMiBps", 1000)
    assert problems(raw) == [
        "dataNodeGroup.cacheVolumeThroughputMiBps: 1000 MiB/s needs at least 4000 IOPS "
        "(gp3 allows 0.25 MiB/s per provisioned IOPS); cacheVolumeIops is 3000"
    ]


def test_throughput_above_the_instance_ebs_limit_is_a_warning() -> None:
    assert ebs_warnings(KEY, "m5n.xlarge", 250) == [
        "dataNodeGroup.cacheVolumeThroughputMiBps: 250 MiB/s (262.1 MB/s) is above what the "
        "instance sustains (m5n.xlarge EBS limit: 143.75 MB/s baseline, 593.75 MB/s burst, "
        "burst for 30 minutes once a day)"
    ]
    assert ebs_warnings(KEY, "m5n.xlarge", 1000) == [
        "dataNodeGroup.cacheVolumeThroughputMiBps: 1000 MiB/s (1048.6 MB/s) is more than the "
        "instance can ever use (m5n.xlarge EBS limit: 143.75 MB/s baseline, 593.75 MB/s burst)"
    ]
    assert ebs_warnings(KEY, "m6in.xlarge", 250) == []
    assert ebs_warnings(KEY, "m5.xlarge", 1000) == []  # no published figure: nothing to say


def test_allocatable_memory_follows_the_eks_reservation() -> None:
    # 32 GiB - (11 MiB x 58 pods + 255 MiB) - 100 MiB eviction threshold.
    assert allocatable_memory_mib("r6in.xlarge") == 32 * 1024 - (11 * 58 + 255) - 100
    assert allocatable_memory_mib("m5.xlarge") is None


def test_mem_tier_must_fit_allocatable_memory() -> None:
    assert mem_tier_problems("r6in.xlarge", 16) == []
    assert mem_tier_problems("r6in.xlarge", 32) == [
        "modelCache.quotaGiB: 32 GiB does not fit the MEM tier of a r6in.xlarge (31.0 GiB "
        "allocatable to pods); lower the quota or use a larger data node type"
    ]
    assert mem_tier_problems("m5.xlarge", 4)[0].startswith(
        'modelCache.medium: "MEM" needs a data node type with known allocatable memory; '
        '"m5.xlarge" is not one of c6in.2xlarge, c6in.xlarge,'
    )


def _mem_dev(quota: int) -> dict[str, Any]:
    raw = with_change("modelCache.medium", "MEM")
    raw["modelCache"]["quotaGiB"] = quota
    return raw


def test_mem_tier_in_the_config() -> None:
    # m5n.xlarge: 16 GiB, 15.0 GiB allocatable; 15 GiB x 3 replicas fit 16 GiB x 3 x 0.95 only
    # on a larger node.
    assert problems(_mem_dev(16)) == [
        "modelCache.quotaGiB: 16 GiB does not fit the MEM tier of a m5n.xlarge (15.0 GiB "
        "allocatable to pods); lower the quota or use a larger data node type"
    ]
    raw = _mem_dev(16)
    raw["dataNodeGroup"]["instanceType"] = "r6in.xlarge"
    assert parse(raw).model_cache.medium == "MEM"
    assert problems(with_change("modelCache.medium", "NVME")) == [
        'modelCache.medium: "NVME" is not allowed; use one of SSD, MEM'
    ]


def test_plan_report_of_dev_names_the_warning_and_the_binding_limit() -> None:
    from tests.test_config import dev_raw

    report = plan_report(parse(dev_raw()))
    entry = report["models"]["llama-31-8b-instruct"]
    assert entry["baseline"]["binding"] == "worker EBS bandwidth"
    assert entry["burst"]["binding"] == "worker disk"
    assert report["warnings"] == ebs_warnings(KEY, "m5n.xlarge", 250)


def test_plan_report_gives_no_estimate_rather_than_a_guess() -> None:
    raw = with_change("dataNodeGroup.instanceType", "m5.xlarge")
    report = plan_report(parse(raw))
    assert report["models"] == {}
    assert report["lines"] == [
        'no estimate: "m5.xlarge" has no published network/EBS figures in '
        "components/config/instance_types.py (THROUGHPUT_FACTS)"
    ]
