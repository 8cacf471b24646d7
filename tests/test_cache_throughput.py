"""The cache throughput model: each limit can bind, and the dev and prod figures the plan shows.

Expected rates are recomputed here from the published figures (MB/s, Gbit/s, MiB/s), not taken
from the model, so a wrong unit or a wrong minimum in the model fails the test.
"""

from __future__ import annotations

import pytest

from components.cache.throughput import (
    ASSUMPTION,
    PER_FLOW,
    READER_NETWORK,
    WORKER_DISK,
    WORKER_EBS,
    WORKER_NETWORK,
    CacheSetup,
    UnknownInstanceError,
    describe,
    estimate,
    model_bytes,
)
from components.config.instance_types import CATALOGUE, THROUGHPUT_FACTS

LLAMA = model_bytes(15)  # models[0].sizeGiB in the stacks
DEV = CacheSetup("m5n.xlarge", 3, "SSD", 250, "g5.8xlarge")
PROD = CacheSetup("r6in.xlarge", 3, "MEM", 125, "g5.8xlarge")


def test_model_bytes_are_gibibytes() -> None:
    assert LLAMA == 15 * 1024**3


def test_dev_is_bound_by_ebs_at_baseline_and_by_the_volume_at_burst() -> None:
    baseline = estimate(LLAMA, 3, DEV, "baseline")
    # m5n.xlarge: 143.75 MB/s EBS baseline per worker, three workers hold a replica.
    assert baseline.seconds == pytest.approx(LLAMA / (3 * 143.75e6))
    assert baseline.binding_names == WORKER_EBS
    burst = estimate(LLAMA, 3, DEV, "burst")
    # At burst the instance allows 593.75 MB/s; the gp3 volume's 250 MiB/s binds first.
    assert burst.seconds == pytest.approx(LLAMA / (3 * 250 * 2**20))
    assert burst.binding_names == WORKER_DISK
    assert 37 < baseline.seconds < 38 and 20 < burst.seconds < 21


def test_prod_mem_tier_is_within_ten_seconds_at_baseline() -> None:
    baseline = estimate(LLAMA, 3, PROD, "baseline")
    # r6in.xlarge: 6.25 Gbit/s per worker, above one flow's 5 Gbit/s: the flows bind.
    assert baseline.seconds == pytest.approx(LLAMA / (3 * 5e9 / 8))
    assert baseline.binding_names == PER_FLOW
    assert baseline.seconds <= 10


def test_a_slow_reader_binds() -> None:
    setup = CacheSetup("r6in.xlarge", 3, "MEM", 125, "g5.xlarge")
    result = estimate(LLAMA, 3, setup, "baseline")
    assert result.binding_names == READER_NETWORK
    assert result.seconds == pytest.approx(LLAMA / (2.5e9 / 8))
    assert estimate(LLAMA, 3, setup, "burst").seconds == pytest.approx(LLAMA / (10e9 / 8))


def test_worker_network_binds_below_the_flow_limit() -> None:
    setup = CacheSetup("r5n.xlarge", 3, "MEM", 125, "g5.8xlarge")
    result = estimate(LLAMA, 3, setup, "baseline")
    assert result.binding_names == WORKER_NETWORK
    assert result.seconds == pytest.approx(LLAMA / (3 * 4.1e9 / 8))


def test_only_workers_holding_a_replica_serve() -> None:
    one = estimate(LLAMA, 1, DEV, "baseline")
    assert one.seconds == pytest.approx(LLAMA / 143.75e6)
    # More replicas than workers: every worker serves, no more.
    assert estimate(LLAMA, 5, DEV, "baseline").seconds == pytest.approx(LLAMA / (3 * 143.75e6))


def test_ties_name_every_binding_limit() -> None:
    setup = CacheSetup("c6in.2xlarge", 3, "SSD", 1000, "g5.8xlarge")
    result = estimate(LLAMA, 3, setup, "baseline")
    # c6in.2xlarge's EBS baseline is 625 MB/s, exactly one flow's 5 Gbit/s.
    assert result.binding_names == f"{WORKER_EBS} = {PER_FLOW}"


def test_unknown_burst_falls_back_to_baseline_and_says_so() -> None:
    setup = CacheSetup("r6in.xlarge", 3, "MEM", 125, "g6.xlarge")
    result = estimate(LLAMA, 3, setup, "burst")
    assert result.seconds == pytest.approx(LLAMA / (2.5e9 / 8))
    assert result.notes == ("g6.xlarge: no published burst bandwidth; its baseline is used",)


def test_unknown_types_are_refused() -> None:
    with pytest.raises(UnknownInstanceError, match=r'"m5\.xlarge" has no published'):
        estimate(LLAMA, 3, CacheSetup("m5.xlarge", 3, "SSD", 250, "g5.8xlarge"), "baseline")
    with pytest.raises(ValueError, match="must be positive"):
        estimate(0, 3, DEV, "baseline")


def test_plan_line_names_seconds_and_binding_limits() -> None:
    line = describe(
        "llama", 15, estimate(LLAMA, 3, DEV, "baseline"), estimate(LLAMA, 3, DEV, "burst")
    )
    assert line == (
        "llama (15 GiB): 37.3 s at baseline (bound by worker EBS bandwidth: 3 x m5n.xlarge "
        "baseline 143.75 MB/s), 20.5 s at burst (bound by worker disk: 3 x gp3 cache volume "
        "250 MiB/s)"
    )
    assert "unverified" in ASSUMPTION


def test_facts_cover_the_supported_data_node_types_and_agree_with_the_catalogue() -> None:
    for family in ("m5n", "m5dn", "m6in", "m6idn", "c6in", "r6in", "r5n"):
        for size in ("xlarge", "2xlarge"):
            facts = THROUGHPUT_FACTS[f"{family}.{size}"]
            assert facts.ebs_baseline_mb_s is not None and facts.ebs_max_mb_s is not None
            assert facts.ebs_baseline_mb_s <= facts.ebs_max_mb_s
            assert facts.network_burst_gbps is not None
            assert facts.network_baseline_gbps <= facts.network_burst_gbps
            # The tables' MB/s column is the Mbit/s column / 8.
            assert facts.ebs_baseline_mbps == pytest.approx(facts.ebs_baseline_mb_s * 8)
    for name, facts in THROUGHPUT_FACTS.items():
        assert CATALOGUE[name].memory_gib == facts.memory_gib, name
        assert facts.source, name
    for gpu in ("g4dn.xlarge", "g5.8xlarge", "g6.8xlarge", "g6e.12xlarge", "p4d.24xlarge"):
        assert gpu in THROUGHPUT_FACTS
