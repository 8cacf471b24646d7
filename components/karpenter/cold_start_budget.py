"""Where a new GPU node's seconds go, per model and loader, before anything is paid for.

`make plan` prints, for each model and each loader it has, the cold-node budget (no node, no
image: node, image, weights, engine, total) and the warm-slot budget (a warm node already holds
the images), every phase as a low-high range with its source, and warns when a cold total can
exceed 90 s. The benchmark measures the same phases from the cluster's events
(`coldstart_bench --cold-node`); `MILESTONES` names, per phase, the milestones that end inside
it, with the benchmark's names, so the two can be compared row by row.

Loaders: every loader a model deploys (`models[].loader` and `compareLoaders`: cache, stream,
download); their weight phase is the loaders' own model (components/serving/loaders.py, the
stack output `loaderTimes`), passed in by `__main__.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from components.config.instance_types import CATALOGUE
from components.config.model import KARPENTER_BATCH_MAX_SECONDS
from components.image_mirror import GPU_PATH_IMAGES, ImageMirror, MirrorSettings
from components.karpenter.snapshot_images import applies, snapshot_images, unpinned
from components.versions import HUGGINGFACE_SERVER_GPU_IMAGE

if TYPE_CHECKING:
    from components.config.model import ModelConfig, StackConfig

GOAL_SECONDS = 90
WARM_GOAL_SECONDS = 30
HOURS_PER_MONTH = 730

PHASES = ("node", "image", "weights", "engine")
MILESTONES: dict[str, tuple[str, ...]] = {
    "node": (
        "pod_scheduled",
        "nodeclaim_launched",
        "nodeclaim_registered",
        "nodeclaim_initialized",
        "node_ready",
    ),
    "image": ("image_pulled", "container_started"),
    "weights": ("first_token",),
    "engine": ("first_token",),
}
"""The benchmark's milestones (issue 20's names) that end inside each phase; weights and engine
both end at the first token (the cluster records no event between them)."""

# --- published figures, each with where it comes from ---------------------------------------

KARPENTER_BATCH_IDLE_SECONDS = 1
BATCH_SOURCE = (
    "Karpenter batching window: settings.batchIdleDuration 1 s .. batchMaxDuration 10 s "
    "(aws/karpenter-provider-aws:charts/karpenter/values.yaml@v1.14.1)"
)
NODE_BOOT_SECONDS = (70.0, 170.0)
NODE_SOURCE = (
    "EC2 launch to GPU allocatable: estimate, not measured (issue 23: 80-180 s with batching); "
    "measure with coldstart_bench --cold-node, nodeclaim_launched .. nodeclaim_initialized"
)
SOCI_PULL = (39.553, 9354342327)
"""SOCI parallel pull of a 9.35 GB vLLM image on AL2023: 39.553 s
(aws-samples/karpenter-blueprints:blueprints/soci-snapshotter/README.md@529b88c)."""
SEQUENTIAL_PULL = (130.813, 9354342327)
"""The same image with containerd's default pull: 2 min 10.813 s (same README)."""
ENGINE_SECONDS = (18.3, 20.8)
ENGINE_SOURCE = (
    "vLLM engine start after the weights, Llama-3-8B on 1x A10G: 23.18 - 4.88 s (S3), "
    "35.08 - 14.34 s (gp3), 28.28 - 7.53 s (io2) "
    "(run-ai/runai-model-streamer:docs/src/benchmarks.md@f73a19a, Appendix D)"
)
FSR_USD_PER_DSU_HOUR = 0.75
"""Fast Snapshot Restore: $0.75 per DSU-hour per zone (us-east-1; EBS pricing page)."""
G5_ON_DEMAND_USD_PER_HOUR = {
    "g5.xlarge": 1.006,
    "g5.2xlarge": 1.212,
    "g5.4xlarge": 1.624,
    "g5.8xlarge": 2.448,
    "g5.12xlarge": 5.672,
    "g5.16xlarge": 4.096,
    "g5.24xlarge": 8.144,
    "g5.48xlarge": 16.288,
}
"""On-demand prices in us-east-1 as Karpenter ships them (aws/karpenter-provider-aws:pkg/
providers/pricing/zz_generated.pricing_aws.go@v1.14.1, generated 2026-07-06); other regions and
families: check the EC2 pricing page."""


@dataclass(frozen=True)
class Phase:
    """One phase of a start: a low and a high estimate in seconds, and where they come from."""

    name: str
    low: float
    high: float
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "low": round(self.low, 1),
            "high": round(self.high, 1),
            "source": self.source,
            "milestones": list(MILESTONES[self.name]),
        }


@dataclass(frozen=True)
class Budget:
    """A start's phases and their sum."""

    phases: tuple[Phase, ...]

    @property
    def low(self) -> float:
        return sum(p.low for p in self.phases)

    @property
    def high(self) -> float:
        return sum(p.high for p in self.phases)


def serving_image_gib() -> float:
    """The serving image's compressed size, as components/image_mirror.py records it."""
    return next(i.size_gib for i in GPU_PATH_IMAGES if i.upstream == HUGGINGFACE_SERVER_GPU_IMAGE)


def node_phase(config: StackConfig) -> Phase:
    if not config.gpu_nodes.karpenter:
        return Phase("node", 0, 0, "gpuNodeGroup: the managed node group keeps its nodes")
    low = KARPENTER_BATCH_IDLE_SECONDS + NODE_BOOT_SECONDS[0]
    high = KARPENTER_BATCH_MAX_SECONDS + NODE_BOOT_SECONDS[1]
    return Phase("node", low, high, f"{BATCH_SOURCE}; {NODE_SOURCE}")


def image_phase(config: StackConfig) -> Phase:
    """The serving image on a new node: restored with the snapshot, else pulled."""
    gib = serving_image_gib()
    cold = config.gpu_nodes.cold_start
    if applies(config) and cold.fast_snapshot_restore:
        return Phase(
            "image",
            0,
            0,
            "on the restored volume, fully initialized by Fast Snapshot Restore (EBS user guide, "
            "ebs-fast-snapshot-restore) while the zone's credits last",
        )
    if applies(config):
        rate = cold.volume_initialization_rate_mibps
        return Phase(
            "image",
            0,
            gib * 1024 / rate,
            f"on the restored volume; blocks arrive at volumeInitializationRate {rate} MiB/s, "
            f"so reading all {gib:g} GiB of the serving image can take {gib:g} GiB / {rate} "
            "MiB/s (EC2 API Reference, EbsBlockDevice VolumeInitializationRate)",
        )
    seconds, size = SOCI_PULL if config.gpu_nodes.karpenter else SEQUENTIAL_PULL
    scaled = seconds * gib * 2**30 / size
    how = "SOCI parallel pull" if config.gpu_nodes.karpenter else "containerd's default pull"
    return Phase(
        "image",
        scaled,
        scaled,
        f"pulled ({how}): {seconds:g} s for {size / 1e9:.2f} GB scaled to {gib:g} GiB "
        "(aws-samples/karpenter-blueprints:blueprints/soci-snapshotter/README.md@529b88c)",
    )


def weights_phase(model: ModelConfig, loader: str, loader_times: dict[str, Any]) -> Phase:
    """The loader's seconds to bring the weights to one GPU node, burst .. baseline."""
    entry = loader_times.get("models", {}).get(model.name, {}).get(loader)
    if not entry:
        return Phase("weights", 0, 0, f"no estimate for loader {loader} (see the loader lines)")
    return Phase(
        "weights",
        float(entry["burst"]["seconds"]),
        float(entry["baseline"]["seconds"]),
        f"{loader} at burst .. baseline, bound by {entry['baseline']['binding']} "
        "(components/serving/loaders.py, loaderTimes)",
    )


def engine_phase() -> Phase:
    return Phase("engine", ENGINE_SECONDS[0], ENGINE_SECONDS[1], ENGINE_SOURCE)


def cold_budget(
    config: StackConfig, model: ModelConfig, loader: str, loader_times: dict[str, Any]
) -> Budget:
    return Budget(
        (
            node_phase(config),
            image_phase(config),
            weights_phase(model, loader, loader_times),
            engine_phase(),
        )
    )


def warm_budget(model: ModelConfig, loader: str, loader_times: dict[str, Any]) -> Budget:
    """On a warm slot the node and the images are there; the predictor preempts a placeholder."""
    return Budget(
        (
            Phase("node", 0, 0, "warm slot: the node is up (placeholder preempted)"),
            Phase("image", 0, 0, "warm slot: the images are on the node"),
            weights_phase(model, loader, loader_times),
            engine_phase(),
        )
    )


def fast_restore_credits(volume_gib: int) -> tuple[float, float]:
    """(bucket size, refill per hour) of FSR volume-creation credits per zone: MAX(1, MIN(10,
    1024 / size)) and MIN(10, 1024 / size) (EBS user guide, volume-creation-credits)."""
    ratio = 1024 / volume_gib
    return max(1.0, min(10.0, ratio)), min(10.0, ratio)


def cost_lines(config: StackConfig) -> list[str]:
    """What the fast-start options cost a month."""
    cold, lines = config.gpu_nodes.cold_start, []
    if applies(config) and cold.fast_snapshot_restore:
        zones = len(cold.fast_snapshot_restore_zones)
        per_zone = FSR_USD_PER_DSU_HOUR * HOURS_PER_MONTH
        bucket, refill = fast_restore_credits(cold.snapshot_volume_gib)
        lines.append(
            f"Fast Snapshot Restore: {zones} zone(s) x ${FSR_USD_PER_DSU_HOUR}/DSU-hour x "
            f"{HOURS_PER_MONTH} h = ${zones * per_zone:,.2f}/month (us-east-1 price); credits per "
            f"zone for a {cold.snapshot_volume_gib} GiB snapshot: {bucket:g} volumes at once, "
            f"{refill:g} more per hour; beyond them volumes initialize lazily. At most 5 "
            "snapshots per region may have FSR."
        )
    if cold.warm_slots:
        instance = config.gpu_nodes.instance_types[0]
        gpus = CATALOGUE[instance].gpus
        nodes = math.ceil(cold.warm_slots / gpus)
        price = G5_ON_DEMAND_USD_PER_HOUR.get(instance)
        hours = nodes * HOURS_PER_MONTH
        money = (
            f" = ${hours * price:,.2f}/month at ${price}/h on demand (us-east-1 list price)"
            if price
            else " (no list price here for this type; see the EC2 pricing page)"
        )
        lines.append(
            f"warm slots: {cold.warm_slots} GPU(s) on {nodes} x {instance} kept running: "
            f"{hours:,} node-hours/month{money}"
        )
    return lines


def plan_report(config: StackConfig, loader_times: dict[str, Any]) -> dict[str, Any]:
    """What the stack exports as `coldStartBudget` and `make plan` prints; `loader_times` is the
    serving layer's `loaderTimes` report, the weight phase of each loader."""
    report: dict[str, Any] = {"models": {}, "lines": [], "warnings": [], "costs": []}
    cold = config.gpu_nodes.cold_start
    if applies(config):
        how = (
            f"Fast Snapshot Restore in {', '.join(cold.fast_snapshot_restore_zones)}"
            if cold.fast_snapshot_restore
            else f"initialized at {cold.volume_initialization_rate_mibps} MiB/s"
        )
        report["lines"].append(f"image snapshot: on ({cold.snapshot_volume_gib} GiB, {how})")
        # The mirror's names do not matter for which pins are missing.
        mirror = ImageMirror.for_stack(MirrorSettings.of(config), "0" * 12, config.region, "x")
        missing = unpinned(snapshot_images(mirror))
        if missing:
            report["lines"].append(
                f"image snapshot: {len(missing)} image(s) pulled by tag, no digest pinned in "
                "components/versions.py"
            )
    else:
        report["lines"].append("image snapshot: off (needs provisioner karpenter and imageMirror)")
    for model in config.models:
        entry: dict[str, Any] = {}
        for loader in model.loaders:
            budgets = {
                "cold": cold_budget(config, model, loader, loader_times),
                "warm": warm_budget(model, loader, loader_times),
            }
            entry[loader] = {}
            for kind, budget in budgets.items():
                entry[loader][kind] = {
                    "phases": {p.name: p.as_dict() for p in budget.phases},
                    "total": {"low": round(budget.low, 1), "high": round(budget.high, 1)},
                }
                parts = ", ".join(f"{p.name} {_range(p.low, p.high)}" for p in budget.phases)
                report["lines"].append(
                    f"{model.name} [{loader}] {kind}: {_range(budget.low, budget.high)} s ({parts})"
                )
            if budgets["cold"].high > GOAL_SECONDS:
                report["warnings"].append(
                    f'model "{model.name}" [{loader}]: a cold GPU node can take '
                    f"{budgets['cold'].high:.0f} s to the first token, above the {GOAL_SECONDS} s "
                    "goal; gpuNodes.coldStart.warmSlots serves from a warm node"
                )
        report["models"][model.name] = entry
    report["sources"] = {
        p.name: p.source
        for model in config.models[:1]
        for p in cold_budget(config, model, model.loader, loader_times).phases
        if p.name != "weights"
    }
    report["costs"] = cost_lines(config)
    return report


def _range(low: float, high: float) -> str:
    return f"{low:.0f}" if round(low) == round(high) else f"{low:.0f}-{high:.0f}"
