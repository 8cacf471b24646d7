"""Typed stack configuration, validated as a whole before any resource is registered.

`Pulumi.yaml` declares every key with its type and default; the CLI (and `tools/plan.py`) apply
those defaults, so this module holds no second copy of them. `parse_config` turns the raw values
into frozen dataclasses and collects every problem at once; `load_config` reads `pulumi.Config`.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.instance_types import CATALOGUE, GPU_FAMILIES, INSTANCE_TYPE_PATTERN
from components.versions import SUPPORTED_KUBERNETES_VERSIONS

PROJECT_KEYS: dict[str, str] = {
    "kubernetesVersion": "string",
    "vpcCidr": "string",
    "availabilityZoneCount": "integer",
    "natGateways": "string",
    "endpointPublicAccessCidrs": "array",
    "clusterAdminArns": "array",
    "clusterDeletionProtection": "boolean",
    "imdsHopLimit": "integer",
    "dataNodeGroup": "object",
    "gpuNodeGroup": "object",
    "modelCache": "object",
    "modelBucket": "object",
    "modelNamespace": "string",
    "models": "array",
    "networking": "string",
    "knative": "object",
    "staging": "string",
}
"""Every non-secret project key and its Pulumi.yaml type (tests check both lists agree)."""

SECRET_KEYS: tuple[str, ...] = ("hfToken",)

# A fresh GPU node (about 3 min) plus the ~10 GB serving image pull (about 4 min) ...
COLD_START_NODE_AND_IMAGE_SECONDS = 420
# ... plus the storage initializer's download: the seed's 265 s for 15 GB, rounded up.
COLD_START_SECONDS_PER_GIB = 18

_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUANTITY = re.compile(r"^\d+(\.\d+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$")
_S3_PREFIX_CHARS = re.compile(r"^[A-Za-z0-9!_.*'()/-]+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_HF_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_IAM_ARN = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:(role|user|assumed-role)/[\w+=,.@/-]+$")
_MEMORY_UNITS = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "": 1,
}


class ConfigError(Exception):
    """Raised with every configuration problem found, one line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class DataNodeGroupConfig:
    instance_type: str
    min_size: int
    desired_size: int
    max_size: int
    root_disk_gib: int
    cache_volume_gib: int
    cache_volume_iops: int
    cache_volume_throughput_mibps: int


@dataclass(frozen=True)
class GpuNodeGroupConfig:
    instance_type: str
    min_size: int
    desired_size: int
    max_size: int
    root_disk_gib: int
    capacity_type: str
    instance_store_raid0: bool


@dataclass(frozen=True)
class ModelCacheConfig:
    path: str
    quota_gib: int
    high_watermark: float
    low_watermark: float
    fuse_clean_policy: str


@dataclass(frozen=True)
class ModelBucketConfig:
    name: str
    force_destroy: bool
    retain_on_delete: bool
    protect: bool


@dataclass(frozen=True)
class ModelResources:
    cpu: str
    memory: str
    gpu: int


@dataclass(frozen=True)
class ModelConfig:
    name: str
    s3_prefix: str
    size_gib: float
    hf_repo: str
    hf_revision: str
    vllm_args: tuple[str, ...]
    resources: ModelResources
    min_replicas: int
    max_replicas: int
    cache_replicas: int
    baseline: bool
    warm_start: bool

    @property
    def expected_cold_start_seconds(self) -> int:
        """Worst case the Knative progress deadline must cover: new node, image, download."""
        return COLD_START_NODE_AND_IMAGE_SECONDS + round(self.size_gib * COLD_START_SECONDS_PER_GIB)


@dataclass(frozen=True)
class KnativeConfig:
    progress_deadline_seconds: int
    scale_to_zero_grace_period_seconds: int
    domain: str


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    region: str
    kubernetes_version: str
    vpc_cidr: str
    availability_zone_count: int
    nat_gateways: str
    endpoint_public_access_cidrs: tuple[str, ...]
    cluster_admin_arns: tuple[str, ...]
    cluster_deletion_protection: bool
    imds_hop_limit: int
    data_node_group: DataNodeGroupConfig
    gpu_node_group: GpuNodeGroupConfig
    model_cache: ModelCacheConfig
    model_bucket: ModelBucketConfig
    model_namespace: str
    models: tuple[ModelConfig, ...]
    networking: str
    knative: KnativeConfig
    staging: str
    has_hf_token: bool

    @property
    def name(self) -> str:
        """Base name of the stack's cloud resources, unique per project and stack."""
        return f"{self.project}-{self.stack}"

    @property
    def cache_workers(self) -> int:
        """One JindoFS worker per data node (host network: one per node)."""
        return self.data_node_group.desired_size


class _Reader:
    """Reads typed fields out of raw config, recording a problem instead of raising."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{key}: {message}")

    def obj(self, raw: Any, key: str) -> Mapping[str, Any]:
        if isinstance(raw, Mapping):
            return raw
        self.problem(key, f"must be an object, got {_show(raw)}")
        return {}

    def field(self, raw: Mapping[str, Any], key: str, name: str, kind: type) -> Any:
        full = f"{key}.{name}" if key else name
        if name not in raw:
            self.problem(full, "is required")
            return _ZERO[kind]
        value = raw[name]
        ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not ok:
            self.problem(full, f"must be {_KIND_NAMES[kind]}, got {_show(value)}")
            return _ZERO[kind]
        return value

    def positive(self, raw: Mapping[str, Any], key: str, name: str, minimum: int = 1) -> int:
        value: int = self.field(raw, key, name, int)
        if name in raw and isinstance(raw[name], int) and value < minimum:
            self.problem(f"{key}.{name}", f"{value} must be at least {minimum}")
        return value

    def problems_for(self, key: str) -> bool:
        """Whether a problem was already recorded under `key` (to skip derived checks)."""
        return any(p.startswith((f"{key}.", f"{key}:")) for p in self.problems)

    def choice(self, value: str, key: str, allowed: Sequence[str]) -> str:
        if value not in allowed:
            self.problem(key, f"{_show(value)} is not allowed; use one of {', '.join(allowed)}")
        return value


_ZERO: dict[type, Any] = {str: "", int: 0, float: 0.0, bool: False, list: [], dict: {}}
_KIND_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "an object",
}


def _show(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def parse_config(
    raw: Mapping[str, Any], *, project: str, stack: str, region: str | None, has_hf_token: bool
) -> StackConfig:
    """Build the typed config from raw values (defaults already applied) or raise ConfigError."""
    r = _Reader()
    for key in PROJECT_KEYS:
        if key not in raw:
            r.problem(key, "is missing; it has a default in Pulumi.yaml, run through the CLI")
    if region is None or not _REGION.match(region):
        r.problem("aws:region", f"{_show(region)} is not an AWS region like eu-central-1")

    version = r.choice(
        str(raw.get("kubernetesVersion", "")), "kubernetesVersion", SUPPORTED_KUBERNETES_VERSIONS
    )
    vpc_cidr = _vpc_cidr(r, raw.get("vpcCidr", ""))
    az_count = raw.get("availabilityZoneCount", 0)
    if not isinstance(az_count, int) or isinstance(az_count, bool) or not 2 <= az_count <= 4:
        r.problem(
            "availabilityZoneCount",
            f"{az_count!r} must be an integer from 2 to 4 "
            "(EKS needs subnets in at least two zones)",
        )
    nat = r.choice(str(raw.get("natGateways", "")), "natGateways", ("single", "onePerAz"))
    cidrs = _cidr_list(r, raw.get("endpointPublicAccessCidrs", []))
    admins = _admin_arns(r, raw.get("clusterAdminArns", []))
    hop = raw.get("imdsHopLimit", 0)
    if not isinstance(hop, int) or isinstance(hop, bool) or hop not in (1, 2):
        r.problem("imdsHopLimit", f"{hop!r} must be 1 (pods cannot reach node credentials) or 2")

    data = _data_node_group(r, r.obj(raw.get("dataNodeGroup", {}), "dataNodeGroup"))
    gpu = _gpu_node_group(r, r.obj(raw.get("gpuNodeGroup", {}), "gpuNodeGroup"))
    cache = _model_cache(r, r.obj(raw.get("modelCache", {}), "modelCache"), data)
    bucket = _model_bucket(r, r.obj(raw.get("modelBucket", {}), "modelBucket"))
    namespace = str(raw.get("modelNamespace", ""))
    if not _DNS1035.match(namespace) or len(namespace) > 63:
        r.problem("modelNamespace", f"{_show(namespace)} is not a valid Kubernetes namespace name")
    models = _models(r, raw.get("models", []), gpu, namespace)
    _check_cache_capacity(r, cache, data, models)
    networking = r.choice(str(raw.get("networking", "")), "networking", ("istio", "kourier"))
    knative = _knative(r, r.obj(raw.get("knative", {}), "knative"), models)
    staging = r.choice(str(raw.get("staging", "")), "staging", ("job", "none"))
    if staging == "job":
        if not has_hf_token:
            r.problem(
                "hfToken",
                'is required when staging is "job"; '
                "set it with `pulumi config set --secret hfToken <token>`",
            )
        for index, model in enumerate(models):
            if not model.hf_repo:
                r.problem(f"models[{index}].hfRepo", 'is required when staging is "job"')

    if r.problems:
        raise ConfigError(r.problems)
    return StackConfig(
        project=project,
        stack=stack,
        region=str(region),
        kubernetes_version=version,
        vpc_cidr=vpc_cidr,
        availability_zone_count=int(az_count),
        nat_gateways=nat,
        endpoint_public_access_cidrs=cidrs,
        cluster_admin_arns=admins,
        cluster_deletion_protection=bool(raw.get("clusterDeletionProtection", False)),
        imds_hop_limit=int(hop),
        data_node_group=data,
        gpu_node_group=gpu,
        model_cache=cache,
        model_bucket=bucket,
        model_namespace=namespace,
        models=models,
        networking=networking,
        knative=knative,
        staging=staging,
        has_hf_token=has_hf_token,
    )


def _vpc_cidr(r: _Reader, value: Any) -> str:
    try:
        network = ipaddress.ip_network(str(value))
    except ValueError:
        r.problem("vpcCidr", f"{_show(value)} is not a CIDR block like 10.0.0.0/16")
        return str(value)
    if not 16 <= network.prefixlen <= 20:
        r.problem("vpcCidr", f"{_show(value)} must be a /16 to /20 block (room for the subnets)")
    return str(network)


def _cidr_list(r: _Reader, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        r.problem("endpointPublicAccessCidrs", "must be a non-empty list of CIDR blocks")
        return ()
    for cidr in value:
        try:
            ipaddress.ip_network(str(cidr))
        except ValueError:
            r.problem("endpointPublicAccessCidrs", f"{_show(cidr)} is not a CIDR block")
    return tuple(str(c) for c in value)


def _admin_arns(r: _Reader, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        r.problem("clusterAdminArns", "must be a list of IAM role or user ARNs")
        return ()
    for arn in value:
        if not isinstance(arn, str) or not _IAM_ARN.match(arn):
            r.problem("clusterAdminArns", f"{_show(arn)} is not an IAM role or user ARN")
    return tuple(str(a) for a in value)


def _instance_type(r: _Reader, key: str, value: str) -> None:
    if not INSTANCE_TYPE_PATTERN.match(value):
        r.problem(key, f"{_show(value)} is not an EC2 instance type like m5n.xlarge")
    elif value not in CATALOGUE:
        r.problem(
            key,
            f"{_show(value)} is not a known instance type; see "
            "components/instance_types.py for the supported families",
        )


def _scaling(r: _Reader, key: str, raw: Mapping[str, Any], minimum: int) -> tuple[int, int, int]:
    lo = r.positive(raw, key, "minSize", minimum)
    desired = r.positive(raw, key, "desiredSize", minimum)
    hi = r.positive(raw, key, "maxSize", 1)
    if not lo <= desired <= hi:
        r.problem(
            key, f"sizes must satisfy minSize <= desiredSize <= maxSize, got {lo}, {desired}, {hi}"
        )
    return lo, desired, hi


def _data_node_group(r: _Reader, raw: Mapping[str, Any]) -> DataNodeGroupConfig:
    key = "dataNodeGroup"
    instance_type = r.field(raw, key, "instanceType", str)
    _instance_type(r, f"{key}.instanceType", instance_type)
    lo, desired, hi = _scaling(r, key, raw, 1)
    throughput = r.positive(raw, key, "cacheVolumeThroughputMiBps", 125)
    if throughput > 1000:
        r.problem(f"{key}.cacheVolumeThroughputMiBps", f"{throughput} exceeds gp3's 1000 MiB/s")
    iops = r.positive(raw, key, "cacheVolumeIops", 3000)
    if iops > 16000:
        r.problem(f"{key}.cacheVolumeIops", f"{iops} exceeds gp3's 16000 IOPS")
    return DataNodeGroupConfig(
        instance_type=instance_type,
        min_size=lo,
        desired_size=desired,
        max_size=hi,
        root_disk_gib=r.positive(raw, key, "rootDiskGiB", 20),
        cache_volume_gib=r.positive(raw, key, "cacheVolumeGiB", 1),
        cache_volume_iops=iops,
        cache_volume_throughput_mibps=throughput,
    )


def _gpu_node_group(r: _Reader, raw: Mapping[str, Any]) -> GpuNodeGroupConfig:
    key = "gpuNodeGroup"
    instance_type = r.field(raw, key, "instanceType", str)
    _instance_type(r, f"{key}.instanceType", instance_type)
    known = CATALOGUE.get(instance_type)
    if known is not None and known.gpus == 0:
        families = "/".join(GPU_FAMILIES)
        r.problem(
            f"{key}.instanceType", f"{_show(instance_type)} has no GPU; use a {families} type"
        )
    lo, desired, hi = _scaling(r, key, raw, 0)
    capacity = r.choice(
        r.field(raw, key, "capacityType", str), f"{key}.capacityType", ("ON_DEMAND", "SPOT")
    )
    return GpuNodeGroupConfig(
        instance_type=instance_type,
        min_size=lo,
        desired_size=desired,
        max_size=hi,
        # The huggingfaceserver GPU image is ~10 GB compressed; 20 GiB defaults fail to pull it.
        root_disk_gib=r.positive(raw, key, "rootDiskGiB", 100),
        capacity_type=capacity,
        instance_store_raid0=r.field(raw, key, "instanceStoreRaid0", bool),
    )


def _model_cache(r: _Reader, raw: Mapping[str, Any], data: DataNodeGroupConfig) -> ModelCacheConfig:
    key = "modelCache"
    path = r.field(raw, key, "path", str)
    if not path.startswith("/") or path.rstrip("/") in ("", "/mnt") or ".." in path.split("/"):
        r.problem(f"{key}.path", f"{_show(path)} must be an absolute directory below /mnt")
    quota = r.positive(raw, key, "quotaGiB", 1)
    if data.cache_volume_gib and quota > data.cache_volume_gib:
        r.problem(
            f"{key}.quotaGiB",
            f"{quota} GiB does not fit the data nodes' cache volume "
            f"(dataNodeGroup.cacheVolumeGiB = {data.cache_volume_gib})",
        )
    high = r.field(raw, key, "highWatermark", float)
    low = r.field(raw, key, "lowWatermark", float)
    if not 0 < low < high <= 1:
        r.problem(
            key, f"watermarks must satisfy 0 < lowWatermark < highWatermark <= 1, got {low}, {high}"
        )
    policy = r.choice(
        r.field(raw, key, "fuseCleanPolicy", str),
        f"{key}.fuseCleanPolicy",
        ("OnDemand", "OnRuntimeDeleted"),
    )
    return ModelCacheConfig(path.rstrip("/"), quota, high, low, policy)


def _model_bucket(r: _Reader, raw: Mapping[str, Any]) -> ModelBucketConfig:
    key = "modelBucket"
    name = r.field(raw, key, "name", str)
    if name:
        _bucket_name(r, f"{key}.name", name)
    return ModelBucketConfig(
        name=name,
        force_destroy=r.field(raw, key, "forceDestroy", bool),
        retain_on_delete=r.field(raw, key, "retainOnDelete", bool),
        protect=r.field(raw, key, "protect", bool),
    )


def _bucket_name(r: _Reader, key: str, name: str) -> None:
    reasons: list[str] = []
    if not _BUCKET.match(name):
        reasons.append(
            "3-63 lowercase letters, digits, dots or hyphens, starting and ending "
            "with a letter or digit"
        )
    if ".." in name or ".-" in name or "-." in name:
        reasons.append("no adjacent dots or dot-hyphen pairs")
    if re.match(r"^\d+\.\d+\.\d+\.\d+$", name):
        reasons.append("not formatted as an IP address")
    if name.startswith(("xn--", "sthree-", "amzn-s3-demo-")) or name.endswith(
        ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
    ):
        reasons.append("no reserved prefix or suffix (xn--, sthree-, -s3alias, --ol-s3, ...)")
    if reasons:
        r.problem(key, f"{_show(name)} is not a valid S3 bucket name: {'; '.join(reasons)}")


def _s3_prefix(r: _Reader, key: str, prefix: str) -> None:
    if not prefix:
        r.problem(key, "is required (the model's folder in the bucket, like models/my-model)")
    elif prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
        r.problem(key, f"{_show(prefix)} must not start or end with / or contain //")
    elif not _S3_PREFIX_CHARS.match(prefix) or ".." in prefix.split("/"):
        r.problem(
            key, f"{_show(prefix)} may only use letters, digits and !_.*'()/- and no .. segments"
        )
    elif len(prefix) > 900:
        r.problem(key, "is longer than 900 characters (S3 keys stop at 1024)")


def _models(
    r: _Reader, value: Any, gpu: GpuNodeGroupConfig, namespace: str
) -> tuple[ModelConfig, ...]:
    if not isinstance(value, list) or not value:
        r.problem("models", "must be a non-empty list of models")
        return ()
    node = CATALOGUE.get(gpu.instance_type)
    if node is not None and node.gpus == 0:
        node = None  # already reported; fitting a model to it would only repeat the problem
    models: list[ModelConfig] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(value):
        key = f"models[{index}]"
        raw = r.obj(item, key)
        if not raw:
            continue
        model = _model(r, key, raw, node, namespace)
        if model.name in seen:
            r.problem(
                f"{key}.name",
                f'"{model.name}" is already used by models[{seen[model.name]}]'
                "; model names must be unique",
            )
        seen.setdefault(model.name, index)
        models.append(model)
    prefixes = sorted((m.s3_prefix, m.name) for m in models if m.s3_prefix)
    for (first, first_name), (second, second_name) in itertools.pairwise(prefixes):
        if second == first or second.startswith(first + "/"):
            r.problem(
                "models",
                f'the S3 prefixes of "{first_name}" and "{second_name}" overlap '
                f'("{first}", "{second}"); each model needs its own folder',
            )
    return tuple(models)


def _model(r: _Reader, key: str, raw: Mapping[str, Any], node: Any, namespace: str) -> ModelConfig:
    name = r.field(raw, key, "name", str)
    # Length limits of the derived names and hosts: components/hostnames.py.
    if not _DNS1035.match(name):
        r.problem(
            f"{key}.name",
            f"{_show(name)} is not a valid Kubernetes name: lowercase "
            "letters, digits and '-', starting with a letter",
        )
    prefix = r.field(raw, key, "s3Prefix", str)
    _s3_prefix(r, f"{key}.s3Prefix", prefix)
    size = r.field(raw, key, "sizeGiB", float)
    if size <= 0 and "sizeGiB" in raw:
        r.problem(f"{key}.sizeGiB", f"{size} must be greater than 0")
    hf_repo = str(raw.get("hfRepo", ""))
    if hf_repo and not _HF_REPO.match(hf_repo):
        r.problem(f"{key}.hfRepo", f"{_show(hf_repo)} is not a Hugging Face repo id like org/name")
    args = r.field(raw, key, "vllmArgs", list)
    for arg in args:
        if not isinstance(arg, str) or not arg.startswith("--"):
            r.problem(f"{key}.vllmArgs", f"{_show(arg)} must be a --flag or --flag=value string")
    resources = _resources(
        r, f"{key}.resources", r.obj(raw.get("resources"), f"{key}.resources"), node
    )
    lo = r.positive(raw, key, "minReplicas", 0)
    hi = r.positive(raw, key, "maxReplicas", 1)
    if lo > hi:
        r.problem(key, f"minReplicas {lo} is greater than maxReplicas {hi}")
    return ModelConfig(
        name=name,
        s3_prefix=prefix,
        size_gib=size,
        hf_repo=hf_repo,
        hf_revision=str(raw.get("hfRevision", "main")),
        vllm_args=tuple(str(a) for a in args),
        resources=resources,
        min_replicas=lo,
        max_replicas=hi,
        cache_replicas=r.positive(raw, key, "cacheReplicas", 1),
        baseline=r.field(raw, key, "baseline", bool),
        warm_start=r.field(raw, key, "warmStart", bool),
    )


def _resources(r: _Reader, key: str, raw: Mapping[str, Any], node: Any) -> ModelResources:
    cpu = r.field(raw, key, "cpu", str)
    memory = r.field(raw, key, "memory", str)
    gpu = r.positive(raw, key, "gpu", 1)
    for name, value in (("cpu", cpu), ("memory", memory)):
        if value and not _QUANTITY.match(value):
            r.problem(
                f"{key}.{name}", f"{_show(value)} is not a Kubernetes quantity like 24 or 48Gi"
            )
    if node is not None and not r.problems_for(key):
        if _cpu_cores(cpu) > node.vcpus:
            r.problem(f"{key}.cpu", f"{cpu} CPUs do not fit a {node.name} ({node.vcpus} vCPUs)")
        if _bytes(memory) > node.memory_gib * 2**30:
            r.problem(
                f"{key}.memory", f"{memory} does not fit a {node.name} ({node.memory_gib} GiB)"
            )
        if gpu > node.gpus:
            r.problem(f"{key}.gpu", f"{gpu} GPUs do not fit a {node.name} ({node.gpus} GPU)")
    return ModelResources(cpu, memory, gpu)


def _cpu_cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def _bytes(quantity: str) -> float:
    match = re.match(r"^(\d+(?:\.\d+)?)([A-Za-z]*)$", quantity)
    if not match:
        return 0.0
    return float(match.group(1)) * _MEMORY_UNITS.get(match.group(2), 1)


def _check_cache_capacity(
    r: _Reader,
    cache: ModelCacheConfig,
    data: DataNodeGroupConfig,
    models: Sequence[ModelConfig],
) -> None:
    workers = data.desired_size
    if not workers or not cache.quota_gib or not models:
        return
    for index, model in enumerate(models):
        if model.cache_replicas > workers:
            r.problem(
                f"models[{index}].cacheReplicas",
                f"{model.cache_replicas} is more than the "
                f"{workers} cache workers (dataNodeGroup.desiredSize)",
            )
    needed = sum(m.size_gib * m.cache_replicas for m in models)
    usable = cache.quota_gib * workers * cache.high_watermark
    if needed > usable:
        r.problem(
            "modelCache.quotaGiB",
            f"{cache.quota_gib} GiB x {workers} workers x "
            f"highWatermark {cache.high_watermark} = {usable:g} GiB is smaller than the "
            f"models' size x cacheReplicas = {needed:g} GiB",
        )


def _knative(r: _Reader, raw: Mapping[str, Any], models: Sequence[ModelConfig]) -> KnativeConfig:
    key = "knative"
    deadline = r.positive(raw, key, "progressDeadlineSeconds", 60)
    for model in models:
        needed = model.expected_cold_start_seconds
        if deadline and deadline < needed:
            r.problem(
                f"{key}.progressDeadlineSeconds",
                f"{deadline} is below the expected cold "
                f'start of model "{model.name}" ({needed} s: '
                f"{COLD_START_NODE_AND_IMAGE_SECONDS} s for node and image + "
                f"{model.size_gib:g} GiB x {COLD_START_SECONDS_PER_GIB} s/GiB); "
                f"use at least {needed}",
            )
    domain = r.field(raw, key, "domain", str)
    if not re.match(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$", domain):
        r.problem(f"{key}.domain", f"{_show(domain)} is not a DNS domain like example.com")
    return KnativeConfig(
        progress_deadline_seconds=deadline,
        scale_to_zero_grace_period_seconds=r.positive(raw, key, "scaleToZeroGracePeriodSeconds", 6),
        domain=domain,
    )


def load_config() -> StackConfig:
    """Read and validate the stack configuration through `pulumi.Config`."""
    import pulumi

    config = pulumi.Config()
    readers: dict[str, Callable[[str], Any]] = {
        "string": config.get,
        "integer": config.get_int,
        "boolean": config.get_bool,
        "array": config.get_object,
        "object": config.get_object,
    }
    problems: list[str] = []
    raw: dict[str, Any] = {}
    for key, kind in PROJECT_KEYS.items():
        try:
            value = readers[kind](key)
        except (pulumi.ConfigTypeError, ValueError) as error:
            problems.append(f"{key}: must be {kind} ({error})")
            continue
        if value is not None:
            raw[key] = value
    region = pulumi.Config("aws").get("region")
    has_token = config.get_secret("hfToken") is not None
    try:
        parsed = parse_config(
            raw,
            project=pulumi.get_project(),
            stack=pulumi.get_stack(),
            region=region,
            has_hf_token=has_token,
        )
    except ConfigError as error:
        raise ConfigError(problems + error.problems) from None
    if problems:
        raise ConfigError(problems)
    return parsed
