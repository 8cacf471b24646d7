"""How the stack gets GPU nodes: the `gpuNodes` config key, typed and validated.

`provisioner: karpenter` (the default) starts GPU nodes only while a model pod needs one and
removes them after the keep-warm window; `nodeGroup` keeps the managed node group of
`gpuNodeGroup` for accounts that cannot run Karpenter. This module owns the key until the config
model (issue 9) declares it; the checks and their messages move there unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.config import ConfigError, ModelConfig, StackConfig
from components.instance_types import CATALOGUE, GPU_FAMILIES

KEY = "gpuNodes"
PROVISIONERS = ("karpenter", "nodeGroup")
CAPACITY_TYPES = ("ON_DEMAND", "SPOT")
KARPENTER_BATCH_MAX_SECONDS = 10
"""Karpenter waits up to settings.batchMaxDuration (10s) to batch pending pods before it launches
(aws/karpenter-provider-aws:charts/karpenter/values.yaml@v1.14.1)."""

DEFAULTS: dict[str, Any] = {
    "provisioner": "karpenter",
    "instanceTypes": ["g5.8xlarge"],
    "capacityType": "ON_DEMAND",
    "gpuLimit": 2,
    "keepWarmMinutes": 15,
    "rootDiskGiB": 100,
}
"""The issue's defaults; Pulumi.yaml declares the same (a test keeps the two equal)."""


@dataclass(frozen=True)
class GpuNodesSettings:
    """GPU node provisioning, as the Karpenter NodePool or the managed node group reads it."""

    provisioner: str
    instance_types: tuple[str, ...]
    capacity_type: str
    gpu_limit: int
    keep_warm_minutes: int
    root_disk_gib: int

    @property
    def karpenter(self) -> bool:
        return self.provisioner == "karpenter"

    @property
    def karpenter_capacity_type(self) -> str:
        """The `karpenter.sh/capacity-type` value of the node group's capacity type."""
        return self.capacity_type.lower().replace("_", "-")


def cold_start_allowance_seconds(model: ModelConfig, settings: GpuNodesSettings) -> int:
    """What a request or rollout must wait for a model pod from zero.

    The model's expected cold start already counts a fresh GPU node; under Karpenter the launch
    also waits for Karpenter's batching window before the instance is requested.
    """
    extra = KARPENTER_BATCH_MAX_SECONDS if settings.karpenter else 0
    return model.expected_cold_start_seconds + extra


_MEMORY_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6,
                 "G": 10**9, "T": 10**12, "": 1}  # fmt: skip


def _cpu_cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def _bytes(quantity: str) -> float:
    match = re.match(r"^(\d+(?:\.\d+)?)([A-Za-z]*)$", quantity)
    return float(match.group(1)) * _MEMORY_UNITS.get(match.group(2), 1) if match else 0.0


def _show(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _int(raw: Mapping[str, Any], name: str, minimum: int, problems: list[str]) -> int:
    value = raw.get(name, DEFAULTS[name])
    if not isinstance(value, int) or isinstance(value, bool):
        problems.append(f"{KEY}.{name}: must be an integer, got {_show(value)}")
        return int(DEFAULTS[name])
    if value < minimum:
        problems.append(f"{KEY}.{name}: {value} must be at least {minimum}")
    return value


def _instance_types(raw: Mapping[str, Any], problems: list[str]) -> tuple[str, ...]:
    value = raw.get("instanceTypes", DEFAULTS["instanceTypes"])
    key = f"{KEY}.instanceTypes"
    if not isinstance(value, list) or not value:
        problems.append(f"{key}: must be a non-empty list of GPU instance types like g5.8xlarge")
        return ()
    families = "/".join(GPU_FAMILIES)
    for name in value:
        known = CATALOGUE.get(name) if isinstance(name, str) else None
        if known is None:
            problems.append(
                f"{key}: {_show(name)} is not a known instance type; see "
                "components/instance_types.py for the supported families"
            )
        elif known.gpus == 0:
            problems.append(f"{key}: {_show(name)} has no GPU; use a {families} type")
    if len(set(map(str, value))) != len(value):
        problems.append(f"{key}: lists an instance type twice")
    return tuple(str(name) for name in value)


def _check_fit(
    settings: GpuNodesSettings, models: Sequence[ModelConfig], problems: list[str]
) -> None:
    """Every model fits one of the types, and no type is too big for the GPU limit."""
    types = [CATALOGUE[name] for name in settings.instance_types if name in CATALOGUE]
    types = [known for known in types if known.gpus]
    if not types:
        return
    for known in types:
        if known.gpus > settings.gpu_limit:
            problems.append(
                f"{KEY}.gpuLimit: {settings.gpu_limit} is below the {known.gpus} GPUs of one "
                f"{known.name}, so Karpenter could never launch it; raise gpuLimit or drop the type"
            )
    names = ", ".join(known.name for known in types)
    for index, model in enumerate(models):
        fits = [
            known
            for known in types
            if model.resources.gpu <= known.gpus
            and _cpu_cores(model.resources.cpu) <= known.vcpus
            and _bytes(model.resources.memory) <= known.memory_gib * 2**30
        ]
        if not fits:
            problems.append(
                f"models[{index}].resources: {model.resources.cpu} CPUs, {model.resources.memory}, "
                f"{model.resources.gpu} GPU fit none of {KEY}.instanceTypes ({names})"
            )
    # Both InferenceServices of a model scale up at once (Fluid and baseline), each on its own GPU.
    needed = max((_model_gpus(model) for model in models), default=0)
    if needed > settings.gpu_limit:
        problems.append(
            f"{KEY}.gpuLimit: {settings.gpu_limit} GPUs cannot start both InferenceServices of one "
            f"model at once (needs {needed}); use at least {needed}"
        )


def _model_gpus(model: ModelConfig) -> int:
    return model.resources.gpu * (2 if model.baseline else 1)


def _check_deadline(settings: GpuNodesSettings, config: StackConfig, problems: list[str]) -> None:
    deadline = config.knative.progress_deadline_seconds
    for model in config.models:
        needed = cold_start_allowance_seconds(model, settings)
        if deadline < needed:
            problems.append(
                f"knative.progressDeadlineSeconds: {deadline} is below the cold start of model "
                f'"{model.name}" on a new Karpenter node ({needed} s); use at least {needed}'
            )


def parse_gpu_nodes(raw: Any, config: StackConfig) -> GpuNodesSettings:
    """The typed `gpuNodes` settings, checked against the rest of the config, or ConfigError."""
    problems: list[str] = []
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError([f"{KEY}: must be an object, got {_show(raw)}"])
    for name in raw:
        if name not in DEFAULTS:
            problems.append(f"{KEY}.{name}: is not a known key; use {', '.join(DEFAULTS)}")
    provisioner = raw.get("provisioner", DEFAULTS["provisioner"])
    if provisioner not in PROVISIONERS:
        problems.append(
            f"{KEY}.provisioner: {_show(provisioner)} is not allowed; "
            f"use one of {', '.join(PROVISIONERS)}"
        )
    capacity = raw.get("capacityType", DEFAULTS["capacityType"])
    if capacity not in CAPACITY_TYPES:
        problems.append(
            f"{KEY}.capacityType: {_show(capacity)} is not allowed; "
            f"use one of {', '.join(CAPACITY_TYPES)}"
        )
    settings = GpuNodesSettings(
        provisioner=str(provisioner),
        instance_types=_instance_types(raw, problems),
        capacity_type=str(capacity),
        gpu_limit=_int(raw, "gpuLimit", 1, problems),
        keep_warm_minutes=_int(raw, "keepWarmMinutes", 0, problems),
        root_disk_gib=_int(raw, "rootDiskGiB", 20, problems),
    )
    if settings.karpenter and not problems:
        _check_fit(settings, config.models, problems)
        _check_deadline(settings, config, problems)
    if problems:
        raise ConfigError(problems)
    return settings


def load_gpu_nodes(config: StackConfig) -> GpuNodesSettings:
    """Read `gpuNodes` through `pulumi.Config` (Pulumi.yaml supplies the defaults)."""
    import pulumi

    try:
        raw = pulumi.Config().get_object(KEY)
    except (pulumi.ConfigTypeError, ValueError) as error:
        raise ConfigError([f"{KEY}: must be an object ({error})"]) from None
    return parse_gpu_nodes(raw, config)
