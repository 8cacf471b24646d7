"""How fast the model cache can feed one GPU node, from published instance limits.

A pure model, so `make plan` can say before anything is paid for how many seconds the cache needs
to serve each model's bytes to one reader, and which limit binds:

    seconds = bytes / min(
        sum over the workers holding a replica of min(worker network, worker disk path),
        reader (GPU node) network,
        flows x per-flow limit,
    )

The worker disk path is, for the SSD tier on the gp3 cache volume, min(volume throughput, the
instance's EBS bandwidth); for the MEM tier there is no disk on the path (the quota only decides
what fits, see components/config/cache_validation.py). Each figure is taken at baseline and at
burst: "burst" is what the instances reach for a limited time (EBS: 30 minutes once a day; network:
5 to 60 minutes by instance size), so a cold start must not count on it.

ASSUMPTION (visible in the plan and the README): the Jindo FUSE client reads a file's blocks from
all workers holding a replica in parallel, one TCP flow per worker. JindoFS is closed source;
this is not verified. If the client reads from one worker at a time, divide the aggregate by the
number of replicas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from components.config.cache_validation import ebs_warnings
from components.config.instance_types import THROUGHPUT_FACTS, ThroughputFacts

if TYPE_CHECKING:
    from components.config.model import StackConfig

Phase = Literal["baseline", "burst"]
PHASES: tuple[Phase, ...] = ("baseline", "burst")
Medium = Literal["SSD", "MEM"]

PER_FLOW_GBPS = 5.0
"""Single-flow (5-tuple) traffic is limited to 5 Gbit/s between instances that are not in the same
cluster placement group (the data and GPU nodes are not): AWS 'Amazon EC2 instance network
bandwidth', docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-network-bandwidth.html
(also awsdocs/amazon-ec2-user-guide:doc_source/ec2-instance-network-bandwidth.md@e3707c4)."""

ASSUMPTION = (
    "assumes the Jindo client reads from every worker holding a replica in parallel, one flow "
    "per worker (JindoFS is closed source; unverified)"
)
MIB = 2**20
GIB = 2**30

# Names of the limits, as the plan prints them.
WORKER_DISK = "worker disk"
WORKER_EBS = "worker EBS bandwidth"
WORKER_NETWORK = "worker network"
PER_FLOW = "per-flow limit"
READER_NETWORK = "GPU node network"


@dataclass(frozen=True)
class CacheSetup:
    """The parts of the stack that decide the cache's speed, as plain typed values."""

    worker_type: str
    workers: int
    medium: Medium
    volume_throughput_mibps: int  # the gp3 cache volume's provisioned throughput (SSD tier)
    reader_type: str
    flows_per_worker: int = 1
    per_flow_gbps: float = PER_FLOW_GBPS


@dataclass(frozen=True)
class Limit:
    """One candidate bottleneck: its name, the figure behind it, and its rate in bytes/s."""

    name: str
    detail: str
    bytes_per_second: float


@dataclass(frozen=True)
class Estimate:
    """Seconds to serve `size_bytes` to one reader in one phase, and what binds."""

    phase: Phase
    size_bytes: int
    seconds: float
    bytes_per_second: float
    binding: tuple[Limit, ...]  # every limit within 0.5% of the rate (ties are all named)
    limits: tuple[Limit, ...]
    notes: tuple[str, ...] = ()

    @property
    def binding_names(self) -> str:
        return " = ".join(limit.name for limit in self.binding)


class UnknownInstanceError(ValueError):
    """The instance type has no published throughput facts in
    components/config/instance_types.py."""


def facts_for(instance_type: str) -> ThroughputFacts:
    facts = THROUGHPUT_FACTS.get(instance_type)
    if facts is None:
        raise UnknownInstanceError(
            f'"{instance_type}" has no published network/EBS figures in '
            "components/config/instance_types.py (THROUGHPUT_FACTS)"
        )
    return facts


def _gbps(value: float) -> float:
    return value * 1e9 / 8


def _network(facts: ThroughputFacts, phase: Phase, notes: list[str]) -> float:
    if phase == "burst":
        if facts.network_burst_gbps is None:
            notes.append(f"{facts.name}: no published burst bandwidth; its baseline is used")
            return facts.network_baseline_gbps
        return facts.network_burst_gbps
    return facts.network_baseline_gbps


def _worker_limit(
    setup: CacheSetup, facts: ThroughputFacts, phase: Phase, notes: list[str]
) -> Limit:
    """The slower of one worker's network and its disk path."""
    network_gbps = _network(facts, phase, notes)
    candidates = [
        Limit(WORKER_NETWORK, f"{facts.name} {phase} {network_gbps:g} Gbit/s", _gbps(network_gbps))
    ]
    if setup.medium == "SSD":
        candidates.append(
            Limit(
                WORKER_DISK,
                f"gp3 cache volume {setup.volume_throughput_mibps} MiB/s",
                setup.volume_throughput_mibps * MIB,
            )
        )
        ebs = facts.ebs_baseline_mb_s if phase == "baseline" else facts.ebs_max_mb_s
        if ebs is None:
            raise UnknownInstanceError(f'"{facts.name}" has no published EBS throughput')
        candidates.append(Limit(WORKER_EBS, f"{facts.name} {phase} {ebs:g} MB/s", ebs * 1e6))
    return min(candidates, key=lambda limit: limit.bytes_per_second)


def estimate(size_bytes: int, cache_replicas: int, setup: CacheSetup, phase: Phase) -> Estimate:
    """Seconds for one reader to read a model of `size_bytes` cached `cache_replicas` times."""
    if size_bytes <= 0 or cache_replicas < 1 or setup.workers < 1:
        raise ValueError("size_bytes, cache_replicas and workers must be positive")
    notes: list[str] = []
    worker = facts_for(setup.worker_type)
    reader = facts_for(setup.reader_type)
    serving = min(cache_replicas, setup.workers)
    per_worker = _worker_limit(setup, worker, phase, notes)
    flows = serving * setup.flows_per_worker
    reader_gbps = _network(reader, phase, notes)
    limits = (
        Limit(
            per_worker.name,
            f"{serving} x {per_worker.detail}",
            serving * per_worker.bytes_per_second,
        ),
        Limit(
            PER_FLOW,
            f"{flows} flow(s) x {setup.per_flow_gbps:g} Gbit/s",
            flows * _gbps(setup.per_flow_gbps),
        ),
        Limit(READER_NETWORK, f"{reader.name} {phase} {reader_gbps:g} Gbit/s", _gbps(reader_gbps)),
    )
    rate = min(limit.bytes_per_second for limit in limits)
    binding = tuple(limit for limit in limits if limit.bytes_per_second <= rate * 1.005)
    return Estimate(phase, size_bytes, size_bytes / rate, rate, binding, limits, tuple(notes))


def model_bytes(size_gib: float) -> int:
    """A model's configured size (`models[].sizeGiB`) in bytes."""
    return round(size_gib * GIB)


def describe(name: str, size_gib: float, baseline: Estimate, burst: Estimate) -> str:
    """The plan's one line for a model."""

    def part(estimate: Estimate) -> str:
        details = "; ".join(limit.detail for limit in estimate.binding)
        return (
            f"{estimate.seconds:.1f} s at {estimate.phase} "
            f"(bound by {estimate.binding_names}: {details})"
        )

    return f"{name} ({size_gib:g} GiB): {part(baseline)}, {part(burst)}"


def setup_from_config(config: StackConfig, reader_type: str | None = None) -> CacheSetup:
    """The stack's cache as the model sees it, read by a GPU node of `reader_type` (default:
    the first of the GPU instance types that launch, gpuNodes.instanceTypes)."""
    data = config.data_node_group
    return CacheSetup(
        worker_type=data.instance_type,
        workers=config.cache_workers,
        medium="MEM" if config.model_cache.medium == "MEM" else "SSD",
        volume_throughput_mibps=data.cache_volume_throughput_mibps,
        reader_type=reader_type or config.gpu_nodes.instance_types[0],
    )


def slowest_reader(size: int, cache_replicas: int, setups: list[CacheSetup]) -> CacheSetup:
    """Of the GPU node types that may launch (Karpenter picks one per node), the one that reads
    the model slowest at baseline: the estimate is what every node gets at least."""
    return max(setups, key=lambda s: estimate(size, cache_replicas, s, "baseline").seconds)


def plan_report(config: StackConfig) -> dict[str, Any]:
    """What the stack exports as `cacheThroughput` and `make plan` prints: a line per model,
    the figures behind it, the model's assumption and the cache volume warnings."""
    setups = [setup_from_config(config, name) for name in config.gpu_nodes.instance_types]
    setup = setups[0]
    report: dict[str, Any] = {"assumption": ASSUMPTION, "models": {}, "lines": [], "warnings": []}
    try:
        facts_for(setup.worker_type)
        for reader in setups:
            facts_for(reader.reader_type)
    except UnknownInstanceError as error:
        report["lines"].append(f"no estimate: {error}")
        return report
    for model in config.models:
        size = model_bytes(model.size_gib)
        reader = slowest_reader(size, model.cache_replicas, setups)
        baseline, burst = (estimate(size, model.cache_replicas, reader, p) for p in PHASES)
        report["lines"].append(describe(model.name, model.size_gib, baseline, burst))
        entry: dict[str, Any] = {"bytes": size, "gpuNodeType": reader.reader_type}
        for e in (baseline, burst):
            entry[e.phase] = {
                "seconds": round(e.seconds, 2),
                "bytesPerSecond": round(e.bytes_per_second),
                "binding": e.binding_names,
                "notes": list(e.notes),
            }
        report["models"][model.name] = entry
    report["warnings"] = (
        ebs_warnings("dataNodeGroup", setup.worker_type, setup.volume_throughput_mibps)
        if setup.medium == "SSD"
        else []
    )
    return report
