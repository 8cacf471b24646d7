"""How long each loader needs to bring a model's bytes to one GPU node, and what it costs.

`make plan` prints, per model, one line per loader (components/config/model.py `LOADERS`) with its
seconds at the instances' baseline and burst rates, the limit that binds and what the loader
adds to the monthly bill, so the choice is made before anything is paid for. The same figures
are the stack output `loaderTimes`. Engine start after the bytes arrive (CUDA context, vLLM
profiling) is the same for every loader and is not modeled.

- cache: components/cache/throughput.py (the Jindo workers -> the GPU node's FUSE client).
- stream: vLLM's Run:ai Model Streamer reads the safetensors from S3 with
  `STREAM_CONCURRENCY` connections straight into a CPU buffer and the GPU:
  min(GPU node network, connections x per-flow limit, connections x the S3 connection rate
  Run:ai measured, S3's GET rate per prefix x the streamer's chunk).
- download: KServe's storage initializer copies the files to the pod's disk first, one process
  per file (at most `S3_MAX_FILE_CONCURRENCY`), before vLLM starts and reads the copy:
  min(GPU node network, processes x the per-process rate KServe measured, flows x per-flow
  limit). The disk write (instance-store NVMe) and vLLM's read of the copy from the page cache
  are not modeled: no published figure.

Prices are on-demand us-east-1 (no eu-central-1 list offline); check yours before deciding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from components.cache.throughput import (
    PER_FLOW,
    PER_FLOW_GBPS,
    PHASES,
    READER_NETWORK,
    Estimate,
    Limit,
    Phase,
    UnknownInstanceError,
    describe,
    estimate,
    facts_for,
    model_bytes,
    setup_from_config,
)
from components.serving.manifests import STREAM_CONCURRENCY

if TYPE_CHECKING:
    from components.config.model import ModelConfig, StackConfig

MIB = 2**20
GIB = 2**30
HOURS_PER_MONTH = 730

S3_CONNECTION_MB_S = 15e9 / 4.88 / 32 / 1e6
"""MB/s one streamer connection drew from S3: Run:ai loaded the 15 GB Llama-3-8B from a bucket
in the instance's region in 4.88 s at concurrency 32 on a g5.12xlarge
(run-ai/runai-model-streamer:docs/src/benchmarks.md@0.15.9, Appendix C; 8.45 s at 16, 5.01 s
at 64: the rate per connection falls as connections rise, so the figure at 32 is used)."""

STREAM_CHUNK_BYTES = 8 * MIB
"""The streamer's request size for object storage (docs/src/env-vars.md@0.15.9
`RUNAI_STREAMER_CHUNK_BYTESIZE`, default 8388608): one GET per chunk."""

S3_GET_PER_SECOND = 5500
"""At least 5,500 GET/HEAD requests per second per partitioned prefix (Amazon S3 User Guide,
'Best practices design patterns: optimizing Amazon S3 performance',
docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html)."""

DOWNLOAD_PROCESSES = 4
"""`S3_MAX_FILE_CONCURRENCY` default: files downloaded at once, one process each
(kserve/kserve:python/storage/kserve_storage/kserve_storage.py@v0.20.0 `_download_s3`)."""

DOWNLOAD_THREADS_PER_FILE = 10
"""Each process's `Bucket.download_file` uses boto3's TransferConfig default of 10 threads
(boto/boto3:boto3/s3/transfer.py@1.37.34 `TransferConfig.DEFAULTS`; the version KServe's
huggingfaceserver v0.20.0 locks), in 8 MiB parts."""

DOWNLOAD_PROCESS_MB_S = 26.35e9 / 219.844 / 1e6
"""MB/s one storage-initializer process reached: bloom-7b1 (26.35 GB) downloaded in 219.844 s
(kserve/kserve:docs/samples/fluid/README.md@cd0a216, the seed's first benchmark, one process)."""

# Prices, USD, on demand, us-east-1.
EC2_HOURLY_USD = {
    "m5n.xlarge": 0.238,
    "m6in.xlarge": 0.27846,
    "c6in.xlarge": 0.2268,
    "c6in.2xlarge": 0.4536,
    "r6in.xlarge": 0.34866,
}
"""aws/karpenter-provider-aws:pkg/providers/pricing/zz_generated.pricing_aws.go@v1.14.1
(generated 2026-07-06 for us-east-1)."""
GP3_GIB_MONTH_USD = 0.08
GP3_IOPS_MONTH_USD = 0.005  # per provisioned IOPS above the 3,000 included
GP3_MIBPS_MONTH_USD = 0.04  # per MiB/s above the 125 included
"""gp3: aws.amazon.com/ebs/pricing (us-east-1)."""
S3_GET_PER_1000_USD = 0.0004
"""S3 Standard GET: aws.amazon.com/s3/pricing (us-east-1)."""
NAT_PER_GB_USD = 0.045
"""NAT gateway data processing: aws.amazon.com/vpc/pricing (us-east-1). S3 traffic that takes the
VPC's S3 gateway endpoint instead pays nothing: gateway endpoints 'come at no additional charge'
(AWS Prescriptive Guidance, startup security baseline WKLD.12)."""

COLD_STARTS_PER_MONTH = 730
"""The monthly figure's scenario for S3 loaders: one cold start an hour, every hour."""

S3_CONNECTIONS = "S3 connections"
S3_REQUESTS = "S3 GET rate"
DOWNLOAD_PROCESSES_LIMIT = "storage-initializer processes"


def _gbps(value: float) -> float:
    return value * 1e9 / 8


def _network(reader: str, phase: Phase, notes: list[str]) -> float:
    facts = facts_for(reader)
    if phase == "burst":
        if facts.network_burst_gbps is None:
            notes.append(f"{reader}: no published burst bandwidth; its baseline is used")
            return facts.network_baseline_gbps
        return facts.network_burst_gbps
    return facts.network_baseline_gbps


def _estimate(
    size_bytes: int, phase: Phase, limits: tuple[Limit, ...], notes: list[str]
) -> Estimate:
    rate = min(limit.bytes_per_second for limit in limits)
    binding = tuple(limit for limit in limits if limit.bytes_per_second <= rate * 1.005)
    return Estimate(phase, size_bytes, size_bytes / rate, rate, binding, limits, tuple(notes))


def stream_estimate(
    size_bytes: int, reader: str, phase: Phase, concurrency: int = STREAM_CONCURRENCY
) -> Estimate:
    """Seconds for the streamer to move `size_bytes` from S3 to one GPU node."""
    if size_bytes <= 0 or concurrency < 1:
        raise ValueError("size_bytes and concurrency must be positive")
    notes: list[str] = []
    nic = _network(reader, phase, notes)
    limits = (
        Limit(READER_NETWORK, f"{reader} {phase} {nic:g} Gbit/s", _gbps(nic)),
        Limit(
            S3_CONNECTIONS,
            f"{concurrency} x {S3_CONNECTION_MB_S:.0f} MB/s (Run:ai, same-region S3)",
            concurrency * S3_CONNECTION_MB_S * 1e6,
        ),
        Limit(
            PER_FLOW,
            f"{concurrency} flow(s) x {PER_FLOW_GBPS:g} Gbit/s",
            concurrency * _gbps(PER_FLOW_GBPS),
        ),
        Limit(
            S3_REQUESTS,
            f"{S3_GET_PER_SECOND} GET/s per prefix x {STREAM_CHUNK_BYTES // MIB} MiB",
            S3_GET_PER_SECOND * STREAM_CHUNK_BYTES,
        ),
    )
    return _estimate(size_bytes, phase, limits, notes)


def download_estimate(size_bytes: int, reader: str, phase: Phase) -> Estimate:
    """Seconds for the storage initializer to copy `size_bytes` from S3 to the GPU node."""
    if size_bytes <= 0:
        raise ValueError("size_bytes must be positive")
    notes = ["disk write and vLLM's read of the local copy not modeled"]
    nic = _network(reader, phase, notes)
    flows = DOWNLOAD_PROCESSES * DOWNLOAD_THREADS_PER_FILE
    limits = (
        Limit(READER_NETWORK, f"{reader} {phase} {nic:g} Gbit/s", _gbps(nic)),
        Limit(
            DOWNLOAD_PROCESSES_LIMIT,
            f"{DOWNLOAD_PROCESSES} x {DOWNLOAD_PROCESS_MB_S:.0f} MB/s (KServe's measured "
            "storage initializer, one file per process)",
            DOWNLOAD_PROCESSES * DOWNLOAD_PROCESS_MB_S * 1e6,
        ),
        Limit(
            PER_FLOW, f"{flows} flow(s) x {PER_FLOW_GBPS:g} Gbit/s", flows * _gbps(PER_FLOW_GBPS)
        ),
    )
    return _estimate(size_bytes, phase, limits, notes)


@dataclass(frozen=True)
class LoaderCost:
    """What a loader adds to the bill: a fixed monthly part and a part per cold start."""

    monthly_usd: float
    monthly_detail: str
    per_start_endpoint_usd: float = 0.0
    per_start_nat_usd: float = 0.0
    requests_per_start: int = 0

    def at(self, starts: int) -> tuple[float, float]:
        """Monthly USD at `starts` cold starts: through the S3 gateway endpoint, through NAT."""
        return (
            self.monthly_usd + starts * self.per_start_endpoint_usd,
            self.monthly_usd + starts * self.per_start_nat_usd,
        )


def cache_cost(config: StackConfig) -> LoaderCost:
    """The data nodes that hold the cache and their cache volumes (the system pods run there
    too; with no model on the cache fewer nodes would do)."""
    data = config.data_node_group
    nodes = data.desired_size
    hourly = EC2_HOURLY_USD.get(data.instance_type)
    volume = (
        data.cache_volume_gib * GP3_GIB_MONTH_USD
        + max(0, data.cache_volume_iops - 3000) * GP3_IOPS_MONTH_USD
        + max(0, data.cache_volume_throughput_mibps - 125) * GP3_MIBPS_MONTH_USD
    )
    if hourly is None:
        return LoaderCost(
            nodes * volume,
            f"{nodes} x gp3 cache volume; no price listed for {data.instance_type}",
        )
    monthly = nodes * (hourly * HOURS_PER_MONTH + volume)
    return LoaderCost(
        monthly,
        f"{nodes} x {data.instance_type} ({hourly:g} USD/h) + {nodes} x gp3 "
        f"{data.cache_volume_gib} GiB {data.cache_volume_iops} IOPS "
        f"{data.cache_volume_throughput_mibps} MiB/s",
    )


def s3_cost(size_bytes: int, request_bytes: int) -> LoaderCost:
    """A loader that reads every byte from S3 at each cold start, in `request_bytes` GETs."""
    requests = -(-size_bytes // request_bytes)
    get_usd = requests / 1000 * S3_GET_PER_1000_USD
    return LoaderCost(
        0.0,
        "no fixed cost",
        per_start_endpoint_usd=get_usd,
        per_start_nat_usd=get_usd + size_bytes / 1e9 * NAT_PER_GB_USD,
        requests_per_start=requests,
    )


def loader_estimates(
    config: StackConfig, model: ModelConfig
) -> dict[str, tuple[Estimate, Estimate, LoaderCost]]:
    """Per loader: the baseline and burst estimates and the cost, for one model. Each loader's
    figure is the slowest GPU instance type's that may launch (gpuNodes.instanceTypes)."""
    size = model_bytes(model.size_gib)
    setups = [setup_from_config(config, name) for name in config.gpu_nodes.instance_types]

    def slowest(per_type: list[tuple[Estimate, ...]]) -> tuple[Estimate, ...]:
        return max(per_type, key=lambda pair: pair[0].seconds)

    cache = slowest([tuple(estimate(size, model.cache_replicas, s, p) for p in PHASES)
                     for s in setups])  # fmt: skip
    stream = slowest([tuple(stream_estimate(size, s.reader_type, p) for p in PHASES)
                      for s in setups])  # fmt: skip
    download = slowest([tuple(download_estimate(size, s.reader_type, p) for p in PHASES)
                        for s in setups])  # fmt: skip
    return {
        "cache": (cache[0], cache[1], cache_cost(config)),
        "stream": (stream[0], stream[1], s3_cost(size, STREAM_CHUNK_BYTES)),
        "download": (download[0], download[1], s3_cost(size, 8 * MIB)),
    }


def _cost_text(cost: LoaderCost) -> str:
    if not cost.requests_per_start:
        return f"adds {cost.monthly_usd:.0f} USD/month ({cost.monthly_detail})"
    endpoint, nat = cost.at(COLD_STARTS_PER_MONTH)
    return (
        f"adds {cost.per_start_endpoint_usd:.4f} USD per cold start through the S3 gateway "
        f"endpoint ({cost.requests_per_start} GETs), {cost.per_start_nat_usd:.2f} USD through "
        f"NAT; at {COLD_STARTS_PER_MONTH} cold starts a month {endpoint:.2f} or {nat:.0f} "
        "USD/month"
    )


def plan_report(config: StackConfig) -> dict[str, Any]:
    """What the stack exports as `loaderTimes` and `make plan` prints: per model and loader the
    seconds at baseline and burst, the binding limits, the cost, and whether it is deployed."""
    report: dict[str, Any] = {
        "assumptions": [
            "seconds until the weights are on the GPU node; engine start is the same for all",
            "S3 traffic takes the VPC's S3 gateway endpoint; the NAT figure is without it",
            f"prices on demand, us-east-1; monthly S3 figures at {COLD_STARTS_PER_MONTH} cold "
            "starts",
        ],
        "models": {},
        "lines": [],
    }
    try:
        for name in config.gpu_nodes.instance_types:
            facts_for(setup_from_config(config, name).reader_type)
        facts_for(setup_from_config(config).worker_type)
    except UnknownInstanceError as error:
        report["lines"].append(f"no estimate: {error}")
        return report
    for model in config.models:
        entry: dict[str, Any] = {}
        report["lines"].append(f"{model.name} ({model.size_gib:g} GiB):")
        for loader, (baseline, burst, cost) in loader_estimates(config, model).items():
            deployed = loader in model.loaders
            timing = describe(loader, model.size_gib, baseline, burst).split(": ", 1)[1]
            mark = " [deployed]" if deployed else ""
            report["lines"].append(f"  {loader:8s} {timing}; {_cost_text(cost)}{mark}")
            endpoint, nat = cost.at(COLD_STARTS_PER_MONTH)
            entry[loader] = {
                "deployed": deployed,
                **{
                    e.phase: {
                        "seconds": round(e.seconds, 2),
                        "bytesPerSecond": round(e.bytes_per_second),
                        "binding": e.binding_names,
                        "limits": {limit.name: limit.detail for limit in e.limits},
                        "notes": list(e.notes),
                    }
                    for e in (baseline, burst)
                },
                "cost": {
                    "fixedUsdPerMonth": round(cost.monthly_usd, 2),
                    "fixedDetail": cost.monthly_detail,
                    "usdPerColdStartViaEndpoint": round(cost.per_start_endpoint_usd, 4),
                    "usdPerColdStartViaNat": round(cost.per_start_nat_usd, 4),
                    "usdPerMonthViaEndpoint": round(endpoint, 2),
                    "usdPerMonthViaNat": round(nat, 2),
                },
            }
        report["models"][model.name] = entry
    return report
