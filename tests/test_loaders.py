"""The modeled seconds and cost per loader (components/loaders.py) and what `make plan` prints."""

from __future__ import annotations

import math

import pytest

from components.cache.throughput import PER_FLOW, READER_NETWORK, model_bytes
from components.serving import loaders
from tests.plan_support import Plan

LLAMA = model_bytes(15)  # the seed's sizeGiB


def test_stream_on_a_g5_8xlarge_is_bound_by_the_s3_connections() -> None:
    result = loaders.stream_estimate(LLAMA, "g5.8xlarge", "baseline")
    # Run:ai: 15 GB in 4.88 s at 32 connections (3.07 GB/s), just under the 25 Gbit/s NIC.
    assert result.bytes_per_second == pytest.approx(15e9 / 4.88)
    assert result.binding_names == loaders.S3_CONNECTIONS
    assert result.seconds == pytest.approx(LLAMA / (15e9 / 4.88))
    limits = {limit.name: limit.bytes_per_second for limit in result.limits}
    assert limits[READER_NETWORK] == 25e9 / 8
    assert limits[PER_FLOW] == 32 * 5e9 / 8
    assert limits[loaders.S3_REQUESTS] == 5500 * 8 * 2**20


def test_the_streamers_default_concurrency_would_be_four_times_slower() -> None:
    default = loaders.stream_estimate(LLAMA, "g5.8xlarge", "baseline", concurrency=8)
    stack = loaders.stream_estimate(LLAMA, "g5.8xlarge", "baseline")
    assert default.seconds == pytest.approx(4 * stack.seconds)


def test_stream_on_a_small_node_is_bound_by_its_network() -> None:
    baseline = loaders.stream_estimate(LLAMA, "g5.xlarge", "baseline")
    burst = loaders.stream_estimate(LLAMA, "g5.xlarge", "burst")
    assert baseline.binding_names == READER_NETWORK
    assert baseline.seconds == pytest.approx(LLAMA / (2.5e9 / 8))
    assert burst.seconds == pytest.approx(LLAMA / (10e9 / 8))


def test_download_is_bound_by_the_storage_initializer_processes() -> None:
    result = loaders.download_estimate(LLAMA, "g5.8xlarge", "baseline")
    assert result.binding_names == loaders.DOWNLOAD_PROCESSES_LIMIT
    # 4 processes x 26.35 GB / 219.844 s (KServe's measured single-process download).
    assert result.bytes_per_second == pytest.approx(4 * 26.35e9 / 219.844)
    assert result.notes == ("disk write and vLLM's read of the local copy not modeled",)


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        loaders.stream_estimate(0, "g5.8xlarge", "baseline")
    with pytest.raises(ValueError, match="must be positive"):
        loaders.stream_estimate(LLAMA, "g5.8xlarge", "baseline", concurrency=0)
    with pytest.raises(ValueError, match="must be positive"):
        loaders.download_estimate(-1, "g5.8xlarge", "baseline")


def test_s3_cost_per_cold_start() -> None:
    cost = loaders.s3_cost(LLAMA, 8 * 2**20)
    assert cost.requests_per_start == math.ceil(LLAMA / (8 * 2**20)) == 1920
    assert cost.monthly_usd == 0
    assert cost.per_start_endpoint_usd == pytest.approx(1920 / 1000 * 0.0004)
    assert cost.per_start_nat_usd == pytest.approx(1920 / 1000 * 0.0004 + LLAMA / 1e9 * 0.045)
    endpoint, nat = cost.at(730)
    assert endpoint == pytest.approx(730 * cost.per_start_endpoint_usd)
    assert nat == pytest.approx(730 * cost.per_start_nat_usd)


def test_dev_plan_prints_and_exports_every_loader(dev_plan: Plan) -> None:
    report = dev_plan.outputs["loaderTimes"]
    model = report["models"]["llama-31-8b-instruct"]
    assert set(model) == {"cache", "stream", "download"}
    assert all(entry["deployed"] for entry in model.values())
    # The cache figure is the cache model's (components/cache_throughput.py).
    cache = dev_plan.outputs["cacheThroughput"]["models"]["llama-31-8b-instruct"]
    assert model["cache"]["baseline"]["seconds"] == cache["baseline"]["seconds"] == 37.35
    assert model["stream"]["baseline"]["seconds"] == 5.24
    assert model["stream"]["baseline"]["binding"] == loaders.S3_CONNECTIONS
    assert model["download"]["baseline"]["seconds"] == 33.59
    # 3 x m5n.xlarge at 0.238 USD/h for 730 h, plus 3 gp3 volumes of 120 GiB at 250 MiB/s.
    expected = 3 * (0.238 * 730 + 120 * 0.08 + (250 - 125) * 0.04)
    assert model["cache"]["cost"]["fixedUsdPerMonth"] == round(expected, 2)
    assert model["stream"]["cost"]["fixedUsdPerMonth"] == 0
    assert model["stream"]["cost"]["usdPerColdStartViaNat"] == round(
        1920 / 1000 * 0.0004 + LLAMA / 1e9 * 0.045, 4
    )
    lines = report["lines"]
    assert lines[0] == "llama-31-8b-instruct (15 GiB):"
    assert lines[1].startswith("  cache    37.3 s at baseline (bound by worker EBS bandwidth")
    assert lines[2].startswith(
        "  stream   5.2 s at baseline (bound by S3 connections: 32 x 96 MB/s (Run:ai, "
        "same-region S3))"
    )
    assert lines[3].startswith("  download 33.6 s at baseline (bound by storage-initializer")
    assert all(line.endswith("[deployed]") for line in lines[1:])


def test_prod_deploys_the_cache_and_the_download_comparison(prod_plan: Plan) -> None:
    model = prod_plan.outputs["loaderTimes"]["models"]["llama-31-8b-instruct"]
    deployed = {loader for loader, entry in model.items() if entry["deployed"]}
    assert deployed == {"cache", "download"}
    assert set(prod_plan.outputs["inferenceServices"]["llama-31-8b-instruct"]) == deployed
    # prod's MEM cache at the per-flow limit: faster than a download, slower than the stream.
    assert (
        model["stream"]["baseline"]["seconds"]
        < model["cache"]["baseline"]["seconds"]
        < model["download"]["baseline"]["seconds"]
    )
