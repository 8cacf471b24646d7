"""Typed stack configuration, validated as a whole before any resource is registered.

One pydantic model per config object: camelCase keys, unknown keys refused at every level with
the closest known key suggested, strict types, every problem reported at once as
`<key path>: <what is wrong and what is allowed>`. Pulumi.yaml declares each top-level key with
its type, default and description (the CLI applies those defaults); the object models below
hold the same defaults field by field, so an object the CLI stores partially (`pulumi config
set --path knative.domain x` replaces the whole default object) is completed from them.

Adding a key: declare it in Pulumi.yaml and add one annotated field to `StackKeys` (or to the
object it belongs to); its checks go in the annotation (`Field(ge=...)`, `one_of(...)`,
`rule(...)`), or in `_cross_checks` when they involve other keys.
"""

from __future__ import annotations

import difflib
import ipaddress
import itertools
import json
import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components.config import rules
from components.config.cache_validation import (
    GP3_MAX_IOPS,
    GP3_MAX_SIZE_GIB,
    GP3_MAX_THROUGHPUT_MIBPS,
    GP3_MIN_IOPS,
    GP3_MIN_THROUGHPUT_MIBPS,
    gp3_problems,
    mem_tier_problems,
)
from components.config.instance_types import CATALOGUE
from components.config.kserve_names import isvc_name, name_problems
from components.config.node_capacity import allocatable_for_pods
from components.config.rules import (
    REGION,
    Bool,
    Cidr,
    Domain,
    HfRepo,
    Int,
    KubeName,
    Namespace,
    Num,
    Quantity,
    Str,
    VllmArg,
    as_float,
    one_of,
    problem,
    quantity,
    rule,
    show,
)
from components.versions import SUPPORTED_KUBERNETES_VERSIONS

SECRET_KEYS: tuple[str, ...] = ("hfToken",)
"""Optional secrets, read with `get_secret` and not declared in Pulumi.yaml: the CLI refuses a
declared `secret: true` key that the stack does not set (see tools/plan/stack_config.py)."""

# A fresh GPU node (about 3 min) plus the ~10 GB serving image pull (about 4 min) ...
COLD_START_NODE_AND_IMAGE_SECONDS = 420
# ... plus the storage initializer's download: the seed's 265 s for 15 GB, rounded up.
COLD_START_SECONDS_PER_GIB = 18
# Karpenter waits up to settings.batchMaxDuration (10s) to batch pending pods before it launches
# a node (aws/karpenter-provider-aws:charts/karpenter/values.yaml@v1.14.1).
KARPENTER_BATCH_MAX_SECONDS = 10
# vLLM's --gpu-memory-utilization: fraction of GPU memory for weights, activations and KV cache,
# 0 < x <= 1, default 0.92 (vllm-project/vllm:vllm/config/cache.py@002f10e0 CacheConfig).
VLLM_DEFAULT_GPU_MEMORY_UTILIZATION = 0.92


class ConfigError(Exception):
    """Raised with every configuration problem found, one line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def _alias(name: str) -> str:
    return to_camel(name).replace("Gib", "GiB").replace("Mibps", "MiBps")


class Settings(BaseModel):
    """A config object: camelCase keys, unknown keys refused, immutable."""

    model_config = ConfigDict(alias_generator=_alias, extra="forbid", frozen=True)


class _Scaling(Settings):
    min_size: int
    desired_size: int
    max_size: int

    @model_validator(mode="after")
    def _ordered(self) -> _Scaling:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise problem(
                "sizes must satisfy minSize <= desiredSize <= maxSize, got "
                f"{self.min_size}, {self.desired_size}, {self.max_size}"
            )
        return self


class DataNodeGroupConfig(_Scaling):
    instance_type: Annotated[Str, AfterValidator(rules.instance_type)] = "m5n.xlarge"
    min_size: Annotated[Int, Field(ge=1)] = 3
    desired_size: Annotated[Int, Field(ge=1)] = 3
    max_size: Annotated[Int, Field(ge=1)] = 3
    root_disk_gib: Annotated[Int, Field(ge=20)] = 50
    # gp3's ranges (components/config/cache_validation.py); the ratios between them are cross
    # checks.
    cache_volume_gib: Annotated[Int, Field(ge=1, le=GP3_MAX_SIZE_GIB)] = 120
    cache_volume_iops: Annotated[Int, Field(ge=GP3_MIN_IOPS, le=GP3_MAX_IOPS)] = 3000
    cache_volume_throughput_mibps: Annotated[
        Int, Field(ge=GP3_MIN_THROUGHPUT_MIBPS, le=GP3_MAX_THROUGHPUT_MIBPS)
    ] = 250


PROVISIONERS = ("karpenter", "nodeGroup")
# The huggingfaceserver GPU image is ~10 GB compressed: a root volume that holds the images
# (no instance-store RAID0) needs room for it; 20 GiB defaults fail to pull it.
GPU_ROOT_WITH_IMAGES_MIN_GIB = 100


@dataclass(frozen=True)
class OnlyUnder:
    """Marks a gpuNodes key that takes effect under one provisioner only; under the other it is
    refused (an inert key would look like it changes what launches)."""

    provisioner: str


_ZONE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d{1,2}[a-z]$")


class ColdStartConfig(Settings):
    """How a new GPU node starts fast (docs/gpu-nodes.md, "A new node in 90 s"): the serving
    images on an EBS snapshot the stack builds, how that volume is initialized, warm slots."""

    # Build the images' snapshot and restore it on every Karpenter GPU node (applies with
    # provisioner karpenter and imageMirror on: the builder pulls only from the stack's ECR).
    image_snapshot: Bool = True
    # The restored data volume (gp3) that holds /var/lib/containerd and SOCI's store. FSR credits
    # depend on it: bucket MAX(1, MIN(10, 1024 / size)) volumes, refilled at the same per hour.
    snapshot_volume_gib: Annotated[Int, Field(ge=60, le=1024)] = 100
    # Zones with Fast Snapshot Restore (fully initialized volumes; $0.75 per DSU-hour per zone);
    # the NodePool then launches only there. Empty: off.
    fast_snapshot_restore_zones: Annotated[
        tuple[
            Annotated[
                Str,
                rule(_ZONE, "{value} is not an availability zone like eu-central-1a"),
            ],
            ...,
        ],
        rule(lambda v: len(set(v)) == len(v), "lists a zone twice"),
    ] = ()
    # Without FSR: EBS Provisioned Rate for Volume Initialization (EC2NodeClass
    # blockDeviceMappings[].ebs.volumeInitializationRate, 100-300 MiB/s in the pinned CRD).
    volume_initialization_rate_mibps: Annotated[Int, Field(ge=100, le=300)] = 300
    # GPUs kept warm by low-priority placeholder pods that a real predictor preempts.
    warm_slots: Annotated[Int, Field(ge=0)] = 0

    @property
    def fast_snapshot_restore(self) -> bool:
        return bool(self.fast_snapshot_restore_zones)


class GpuNodesConfig(Settings):
    """How GPU nodes start, the one GPU setting (docs/gpu-nodes.md): Karpenter's NodePool `gpu`
    (a node only while a model pod needs one) or an always-on managed node group.

    Adding a key: one annotated field; add `OnlyUnder(<provisioner>)` to its annotation when
    the other provisioner has no use for it. Every key without it applies to both.
    """

    provisioner: Annotated[Str, one_of(*PROVISIONERS)] = "karpenter"
    # The GPU types that launch: Karpenter picks among them; a node group launches its one type.
    instance_types: Annotated[
        tuple[Annotated[Str, AfterValidator(rules.gpu_instance_type)], ...],
        rule(bool, "must list at least one GPU instance type like g5.8xlarge"),
        rule(lambda v: len(set(v)) == len(v), "lists an instance type twice"),
    ] = ("g5.8xlarge",)
    capacity_type: Annotated[Str, one_of("ON_DEMAND", "SPOT")] = "ON_DEMAND"
    # Encrypted gp3 root; images and kubelet live on the NVMe RAID0 (Karpenter's
    # instanceStorePolicy, the node group's instanceStoreRaid0), so 100 GiB is plenty.
    root_disk_gib: Annotated[Int, Field(ge=20)] = 100
    # Karpenter: NodePool limits.nvidia.com/gpu, at most this many GPUs at once.
    gpu_limit: Annotated[Int, Field(ge=1), OnlyUnder("karpenter")] = 2
    # Karpenter: NodePool consolidateAfter, how long an empty GPU node stays for the next request.
    keep_warm_minutes: Annotated[Int, Field(ge=0), OnlyUnder("karpenter")] = 15
    # Node group: its scaling config.
    min_size: Annotated[Int, Field(ge=0), OnlyUnder("nodeGroup")] = 0
    desired_size: Annotated[Int, Field(ge=0), OnlyUnder("nodeGroup")] = 1
    max_size: Annotated[Int, Field(ge=1), OnlyUnder("nodeGroup")] = 2
    # Node group: kubelet and containerd on the instance's NVMe store (g5/g6 have one).
    instance_store_raid0: Annotated[Bool, OnlyUnder("nodeGroup")] = True
    # Karpenter: how a new GPU node starts fast (image snapshot, FSR, warm slots).
    cold_start: Annotated[ColdStartConfig, OnlyUnder("karpenter")] = ColdStartConfig()

    @model_validator(mode="after")
    def _node_group_shape(self) -> GpuNodesConfig:
        if self.karpenter:
            return self
        if len(self.instance_types) > 1:
            raise problem(
                "instanceTypes lists "
                f"{len(self.instance_types)} types; the nodeGroup provisioner launches one "
                "instance type, list one (or use provisioner karpenter to pick among several)"
            )
        if not self.min_size <= self.desired_size <= self.max_size:
            raise problem(
                "sizes must satisfy minSize <= desiredSize <= maxSize, got "
                f"{self.min_size}, {self.desired_size}, {self.max_size}"
            )
        if not self.instance_store_raid0 and self.root_disk_gib < GPU_ROOT_WITH_IMAGES_MIN_GIB:
            raise problem(
                f"rootDiskGiB {self.root_disk_gib} is too small for the serving image on the "
                f"root volume (instanceStoreRaid0 false); use at least "
                f"{GPU_ROOT_WITH_IMAGES_MIN_GIB}"
            )
        return self

    @property
    def karpenter(self) -> bool:
        return self.provisioner == "karpenter"

    @property
    def node_group_instance_type(self) -> str:
        """The one type the nodeGroup provisioner launches."""
        return self.instance_types[0]

    @classmethod
    def inert_keys(cls, provisioner: str) -> list[str]:
        """The keys that have no effect under `provisioner`."""
        return [
            str(field.alias)
            for field in cls.model_fields.values()
            if any(
                isinstance(m, OnlyUnder) and m.provisioner != provisioner for m in field.metadata
            )
        ]

    @property
    def karpenter_capacity_type(self) -> str:
        """The `karpenter.sh/capacity-type` value of the capacity type."""
        return self.capacity_type.lower().replace("_", "-")


class ModelCacheConfig(Settings):
    # The data nodes mount their cache volume at this path; nodes keep /mnt for such volumes.
    path: Annotated[Str, AfterValidator(rules.cache_path)] = "/mnt/ssd0/cache"
    quota_gib: Annotated[Int, Field(ge=1)] = 100
    high_watermark: Num = 0.95
    low_watermark: Num = 0.7
    fuse_clean_policy: Annotated[Str, one_of("OnDemand", "OnRuntimeDeleted")] = "OnDemand"
    # "SSD": the gp3 cache volume at `path`; "MEM": worker memory (components/cache/throughput.py
    # says how fast each feeds a GPU node).
    medium: Annotated[Str, one_of("SSD", "MEM")] = "SSD"

    @model_validator(mode="after")
    def _watermarks(self) -> ModelCacheConfig:
        if not 0 < self.low_watermark < self.high_watermark <= 1:
            raise problem(
                "watermarks must satisfy 0 < lowWatermark < highWatermark <= 1, got "
                f"{self.low_watermark}, {self.high_watermark}"
            )
        return self


class ModelBucketConfig(Settings):
    name: Annotated[Str, AfterValidator(rules.bucket_name)] = ""
    force_destroy: Bool = True
    retain_on_delete: Bool = False
    protect: Bool = False


LOADERS: tuple[str, ...] = ("cache", "stream", "download")
"""How a model's weights reach vLLM (components/loaders.py): through the Fluid cache's PVC,
streamed from S3 by the Run:ai Model Streamer, or downloaded by KServe's storage initializer."""

LoaderName = Annotated[Str, one_of(*LOADERS)]


class ModelResources(Settings):
    cpu: Quantity
    memory: Quantity
    gpu: Annotated[Int, Field(ge=1)] = 1


class ModelConfig(Settings):
    name: KubeName
    s3_prefix: Annotated[Str, AfterValidator(rules.s3_prefix)]
    size_gib: Annotated[Num, Field(gt=0)]
    resources: ModelResources
    hf_repo: HfRepo = ""
    hf_revision: Str = "main"
    vllm_args: tuple[VllmArg, ...] = ()
    min_replicas: Annotated[Int, Field(ge=0)] = 0
    max_replicas: Annotated[Int, Field(ge=1)] = 1
    cache_replicas: Annotated[Int, Field(ge=1)] = 1
    # The loader of the InferenceService named after the model, and the loaders of extra
    # InferenceServices `<name>-<loader>` deployed beside it for comparison.
    loader: LoaderName = "cache"
    compare_loaders: Annotated[
        tuple[LoaderName, ...],
        rule(lambda v: len(set(v)) == len(v), "lists a loader twice"),
    ] = ()
    # Replaced by compareLoaders: `false` (nothing to compare) is still accepted, `true` is
    # refused with what to write instead.
    baseline: Bool | None = None
    warm_start: Bool = False

    @field_validator("baseline")
    @classmethod
    def _baseline_replaced(cls, value: bool | None) -> None:
        if value:
            raise problem(
                "is replaced by compareLoaders; write `compareLoaders: [download]` for the "
                "storage-initializer InferenceService (now named <name>-download; "
                "compareLoaders: [stream, download] also deploys the streamer), or remove it"
            )
        return None

    @field_validator("vllm_args")
    @classmethod
    def _utilization(cls, args: tuple[str, ...]) -> tuple[str, ...]:
        for arg in args:
            flag, _, value = arg.partition("=")
            if flag == "--gpu-memory-utilization" and not 0 < as_float(value) <= 1:
                raise problem(f"{show(arg)}: vLLM takes a fraction of GPU memory in (0, 1]")
        return args

    @model_validator(mode="after")
    def _replicas(self) -> ModelConfig:
        if self.min_replicas > self.max_replicas:
            raise problem(
                f"minReplicas {self.min_replicas} is greater than maxReplicas {self.max_replicas}"
            )
        if self.loader in self.compare_loaders:
            raise problem(
                f'compareLoaders lists "{self.loader}", the model\'s own loader; list only the '
                "other loaders to deploy beside it"
            )
        return self

    @property
    def loaders(self) -> tuple[str, ...]:
        """Every loader deployed for this model, its own first (one InferenceService each)."""
        return (self.loader, *self.compare_loaders)

    @property
    def uses_cache(self) -> bool:
        """Whether the Fluid cache holds this model (a Dataset mount and a DataLoad)."""
        return "cache" in self.loaders

    @property
    def gpu_memory_utilization(self) -> float:
        flags = dict(arg.partition("=")[::2] for arg in self.vllm_args)
        value = flags.get("--gpu-memory-utilization")
        return as_float(value) if value else VLLM_DEFAULT_GPU_MEMORY_UTILIZATION

    @property
    def expected_cold_start_seconds(self) -> int:
        """Worst case the Knative progress deadline must cover: new node, image, download."""
        return COLD_START_NODE_AND_IMAGE_SECONDS + round(self.size_gib * COLD_START_SECONDS_PER_GIB)

    def cold_start_allowance_seconds(self, gpu_nodes: GpuNodesConfig) -> int:
        """What a rollout or a request must wait for this model from zero: under Karpenter the
        node launch also waits for Karpenter's batching window."""
        extra = KARPENTER_BATCH_MAX_SECONDS if gpu_nodes.karpenter else 0
        return self.expected_cold_start_seconds + extra


class KnativeConfig(Settings):
    progress_deadline_seconds: Annotated[Int, Field(ge=60)] = 1800
    scale_to_zero_grace_period_seconds: Annotated[Int, Field(ge=6)] = 30
    domain: Domain = "example.com"


def _ipv4_cidr(value: str) -> bool:
    return rules.is_cidr(value) and ":" not in value


class IngressConfig(Settings):
    """Who may reach the ingress load balancer (components/platform/exposure.py applies it)."""

    # Empty: everyone (Kubernetes' default 0.0.0.0/0); a production stack must list networks.
    allowed_source_cidrs: tuple[
        Annotated[
            Str,
            rule(
                _ipv4_cidr,
                "{value} is not an IPv4 CIDR block like 203.0.113.0/24 (the ingress load "
                "balancer is IPv4)",
            ),
        ],
        ...,
    ] = ()
    # true: an internal NLB in the private subnets (components/manifests/platform.py says how).
    internal: Bool = False


class StackKeys(Settings):
    """Every key of the project's namespace; required here because the CLI always passes
    Pulumi.yaml's default for a key the stack does not set."""

    kubernetes_version: Annotated[Str, one_of(*SUPPORTED_KUBERNETES_VERSIONS)]
    vpc_cidr: Annotated[Str, AfterValidator(rules.vpc_cidr)]
    availability_zone_count: Annotated[
        Int,
        rule(
            lambda v: 2 <= v <= 4,
            "{value} must be an integer from 2 to 4 (EKS needs subnets in at least two zones)",
        ),
    ]
    nat_gateways: Annotated[Str, one_of("single", "onePerAz")]
    vpc_interface_endpoints: Bool
    endpoint_public_access_cidrs: Annotated[
        tuple[Cidr, ...], rule(bool, "must list at least one CIDR block")
    ]
    cluster_admin_arns: Annotated[
        tuple[Annotated[Str, AfterValidator(rules.admin_arn)], ...], AfterValidator(rules.unique)
    ]
    cluster_deletion_protection: Bool
    imds_hop_limit: Annotated[
        Int, one_of(1, 2, reason="1 (pods cannot reach node credentials) or 2")
    ]
    data_node_group: DataNodeGroupConfig
    gpu_nodes: GpuNodesConfig
    model_cache: ModelCacheConfig
    model_bucket: ModelBucketConfig
    model_namespace: Namespace
    models: Annotated[tuple[ModelConfig, ...], rule(bool, "must list at least one model")]
    networking: Annotated[Str, one_of("istio", "kourier")]
    knative: KnativeConfig
    ingress: IngressConfig
    staging: Annotated[Str, one_of("job", "none")]
    image_mirror: Bool
    docker_hub_credential_arn: Annotated[Str, AfterValidator(rules.pull_through_credential)]
    github_credential_arn: Annotated[Str, AfterValidator(rules.pull_through_credential)]


class StackConfig(StackKeys):
    """The validated configuration plus where it runs."""

    project: str
    stack: str
    region: str
    has_hf_token: bool

    @property
    def name(self) -> str:
        """Base name of the stack's cloud resources, unique per project and stack."""
        return f"{self.project}-{self.stack}"

    @property
    def cache_workers(self) -> int:
        """One JindoFS worker per data node (host network: one per node)."""
        return self.data_node_group.desired_size


# --- Turning pydantic's errors into one line per problem -----------------------------------------


def _model_in(annotation: Any) -> type[Settings] | None:
    if isinstance(annotation, type) and issubclass(annotation, Settings):
        return annotation
    for argument in typing.get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed where `loc` points (for "did you mean")."""
    model: type[Settings] | None = StackKeys
    for part in loc:
        if isinstance(part, str) and model is not None:
            by_alias = {f.alias: f for f in model.model_fields.values()}
            model = _model_in(by_alias[part].annotation)
    return [str(f.alias) for f in model.model_fields.values()] if model else []


def _path(loc: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


_TYPE_NAMES = {
    "int_type": "an integer",
    "bool_type": "true or false",
    "float_type": "a number",
    "string_type": "a string",
    "tuple_type": "a list",
    "model_type": "an object",
}


# Keys of earlier versions of the config and where their settings live now.
MOVED_KEYS = {
    "gpuNodeGroup": (
        "moved into gpuNodes: set gpuNodes.provisioner to nodeGroup and give gpuNodes "
        "instanceTypes (one type), minSize, desiredSize, maxSize, rootDiskGiB, capacityType and "
        "instanceStoreRaid0 (docs/gpu-nodes.md)"
    ),
}


def _line(error: Mapping[str, Any]) -> str:
    loc, kind, ctx = tuple(error["loc"]), error["type"], error.get("ctx") or {}
    value = error.get("input")
    if kind == "extra_forbidden" and len(loc) == 1 and loc[0] in MOVED_KEYS:
        message = MOVED_KEYS[loc[0]]
    elif kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        hint = f'did you mean "{close[0]}"?' if close else f"known keys: {', '.join(known)}"
        message = f"is not a known key; {hint}"
    elif kind == "missing" and len(loc) == 1:
        message = "is missing; it has a default in Pulumi.yaml, run through the CLI"
    elif kind == "missing":
        message = "is required"
    elif kind in _TYPE_NAMES:
        message = f"must be {_TYPE_NAMES[kind]}, got {show(value)}"
    elif kind == "greater_than_equal":
        message = f"{show(value)} must be at least {ctx['ge']:g}"
    elif kind == "less_than_equal":
        message = f"{show(value)} must be at most {ctx['le']:g}"
    elif kind == "greater_than":
        message = f"{show(value)} must be greater than {ctx['gt']:g}"
    else:
        message = str(error["msg"])
    return f"{_path(loc)}: {message}"


def inert_gpu_node_keys(raw: Any) -> list[str]:
    """gpuNodes keys the chosen provisioner would ignore, one line each (read from the raw
    value, so they are reported with every other problem)."""
    if not isinstance(raw, Mapping):
        return []
    provisioner = raw.get("provisioner", GpuNodesConfig.model_fields["provisioner"].default)
    if provisioner not in PROVISIONERS:
        return []
    other = next(p for p in PROVISIONERS if p != provisioner)
    return [
        f"gpuNodes.{key}: has no effect with provisioner {provisioner} (it is a {other} "
        f"setting); remove it (`pulumi config rm --path gpuNodes.{key}`)"
        for key in GpuNodesConfig.inert_keys(provisioner)
        if key in raw
    ]


# --- Checks across keys (run once every key is valid on its own) ---------------------------------


def _gpu_capacity(c: StackConfig) -> tuple[int, str]:
    """GPUs that can run at once, and how the config says so (for messages)."""
    gpu = c.gpu_nodes
    if gpu.karpenter:
        return gpu.gpu_limit, f"gpuNodes.gpuLimit {gpu.gpu_limit}"
    node = CATALOGUE[gpu.node_group_instance_type]
    capacity = gpu.max_size * node.gpus
    return capacity, (
        f"gpuNodes.maxSize {gpu.max_size} x {node.gpus} GPU per {node.name} = {capacity}"
    )


def _cross_checks(c: StackConfig) -> list[str]:
    problems: list[str] = []
    gpu_types = [CATALOGUE[name] for name in c.gpu_nodes.instance_types]
    capacity, capacity_text = _gpu_capacity(c)
    data, workers, cache = c.data_node_group, c.data_node_group.desired_size, c.model_cache
    problems += gp3_problems(
        "dataNodeGroup",
        data.cache_volume_gib,
        data.cache_volume_iops,
        data.cache_volume_throughput_mibps,
    )
    if cache.medium == "MEM":
        problems += mem_tier_problems(data.instance_type, cache.quota_gib)
    elif cache.quota_gib > data.cache_volume_gib:
        problems.append(
            f"modelCache.quotaGiB: {cache.quota_gib} GiB does not fit the data nodes' cache "
            f"volume (dataNodeGroup.cacheVolumeGiB = {c.data_node_group.cache_volume_gib})"
        )
    if c.gpu_nodes.karpenter:
        problems += _karpenter_checks(c)
    problems += _cold_start_checks(c)
    problems += _ingress_checks(c)
    if c.image_mirror and not c.docker_hub_credential_arn:
        # components/image_mirror.py docker_hub_images lists them (tests/test_image_mirror.py).
        problems.append(
            "dockerHubCredentialArn: required while imageMirror is on: the stack runs Docker Hub "
            "images (KServe, Fluid, Istio, curl) and ECR caches Docker Hub only with a "
            "credential; set the ARN of a Secrets Manager secret ecr-pullthroughcache/<name> "
            "(docs/image-mirror.md), or imageMirror: false"
        )
    seen: dict[str, int] = {}
    for index, model in enumerate(c.models):
        key = f"models[{index}]"
        # The longest InferenceService name decides: a comparison's when there is one.
        longest = max((isvc_name(model, loader) for loader in model.loaders), key=len)
        problems += name_problems(
            f"{key}.name", model.name, longest, c.model_namespace, c.knative.domain
        )
        if model.name in seen:
            problems.append(
                f'{key}.name: "{model.name}" is already used by models[{seen[model.name]}]; '
                "model names must be unique"
            )
        seen.setdefault(model.name, index)
        if model.uses_cache and model.cache_replicas > workers:
            problems.append(
                f"{key}.cacheReplicas: {model.cache_replicas} is more than the {workers} cache "
                "workers (dataNodeGroup.desiredSize)"
            )
        # A model must fit one GPU node type; when it fits none, the first type's reasons.
        misfits = [_fits_gpu_node(key, model, node) for node in gpu_types]
        if all(misfits):
            problems += misfits[0]
        if model.max_replicas * model.resources.gpu > capacity:
            problems.append(
                f"{key}.maxReplicas: {model.max_replicas} replicas x {model.resources.gpu} GPU "
                f"never fit {capacity_text} GPUs"
            )
        needed = model.cold_start_allowance_seconds(c.gpu_nodes)
        if c.knative.progress_deadline_seconds < needed:
            karpenter = (
                f" + {KARPENTER_BATCH_MAX_SECONDS} s Karpenter batching"
                if c.gpu_nodes.karpenter
                else ""
            )
            problems.append(
                f"knative.progressDeadlineSeconds: {c.knative.progress_deadline_seconds} is "
                f'below the expected cold start of model "{model.name}" ({needed} s: '
                f"{COLD_START_NODE_AND_IMAGE_SECONDS} s for node and image + "
                f"{model.size_gib:g} GiB x {COLD_START_SECONDS_PER_GIB} s/GiB{karpenter}); "
                f"use at least {needed}"
            )
        if c.staging == "job" and not model.hf_repo:
            problems.append(f'{key}.hfRepo: is required when staging is "job"')
    prefixes = sorted((m.s3_prefix, m.name) for m in c.models)
    for (first, first_name), (second, second_name) in itertools.pairwise(prefixes):
        if second == first or second.startswith(first + "/"):
            problems.append(
                f'models: the S3 prefixes of "{first_name}" and "{second_name}" overlap '
                f'("{first}", "{second}"); each model needs its own folder'
            )
    always_on = sum(m.min_replicas * m.resources.gpu * len(m.loaders) for m in c.models)
    if always_on > capacity:
        problems.append(
            f"models: the minReplicas of all models (comparisons included) need {always_on} GPUs "
            f"at once; {capacity_text}"
        )
    cached = sum(m.size_gib * m.cache_replicas for m in c.models if m.uses_cache)
    usable = cache.quota_gib * workers * cache.high_watermark
    if cached > usable:
        problems.append(
            f"modelCache.quotaGiB: {cache.quota_gib} GiB x {workers} workers x highWatermark "
            f"{cache.high_watermark} = {usable:g} GiB is smaller than the models' size x "
            f"cacheReplicas = {cached:g} GiB"
        )
    if c.staging == "job" and not c.has_hf_token:
        problems.insert(
            0,
            'hfToken: is required when staging is "job"; '
            "set it with `pulumi config set --secret hfToken <token>`",
        )
    return problems


def covers_the_internet(cidrs: Sequence[str]) -> bool:
    """Whether the blocks together hold every IPv4 (or every IPv6) address, as 0.0.0.0/1 plus
    128.0.0.0/1 do: such a list restricts nothing."""
    networks = [ipaddress.ip_network(cidr) for cidr in cidrs]
    v4 = [n for n in networks if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in networks if isinstance(n, ipaddress.IPv6Network)]
    return [str(n) for n in ipaddress.collapse_addresses(v4)] == ["0.0.0.0/0"] or [
        str(n) for n in ipaddress.collapse_addresses(v6)
    ] == ["::/0"]


def _open_to_everyone(key: str, cidrs: Sequence[str], what: str) -> list[str]:
    """One line when a production stack's CIDR list lets the whole internet in."""
    instead = "client networks" if key.startswith("ingress") else "networks"
    if any(ipaddress.ip_network(cidr).prefixlen == 0 for cidr in cidrs):
        return [
            f"{key}: 0.0.0.0/0 opens a production stack's {what} to the internet; list the "
            f"{instead} instead"
        ]
    if covers_the_internet(cidrs):
        return [
            f"{key}: {', '.join(cidrs)} together cover the whole internet, which opens a "
            f"production stack's {what} to everyone like 0.0.0.0/0; list the {instead} instead"
        ]
    return []


def _ingress_checks(c: StackConfig) -> list[str]:
    """A production stack (clusterDeletionProtection: true) must say who may reach the
    Kubernetes API and who may call the models, unless its load balancer is internal (reachable
    only from the VPC and routed networks); "everyone" split into blocks does not count."""
    if not c.cluster_deletion_protection:
        return []
    problems = _open_to_everyone(
        "endpointPublicAccessCidrs", c.endpoint_public_access_cidrs, "Kubernetes API"
    )
    if c.ingress.internal:
        return problems
    key = "ingress.allowedSourceCidrs"
    cidrs = c.ingress.allowed_source_cidrs
    if not cidrs:
        return [
            *problems,
            f"{key}: is required when clusterDeletionProtection is true (a production stack); "
            "list the client networks allowed to call the models",
        ]
    return problems + _open_to_everyone(key, cidrs, "GPUs")


def _karpenter_checks(c: StackConfig) -> list[str]:
    """The NodePool can launch every listed type and start both services of a model at once."""
    problems: list[str] = []
    limit = c.gpu_nodes.gpu_limit
    for name in c.gpu_nodes.instance_types:
        node = CATALOGUE[name]
        # Karpenter never launches a node whose capacity would pass the NodePool's limits.
        if node.gpus > limit:
            problems.append(
                f"gpuNodes.gpuLimit: {limit} is below the {node.gpus} GPUs of one {name}, so "
                "Karpenter could never launch it; raise gpuLimit or drop the type"
            )
    # Every InferenceService of a model (one per loader) scales up at once, a GPU each.
    needed = max(m.resources.gpu * len(m.loaders) for m in c.models)
    if needed > limit:
        problems.append(
            f"gpuNodes.gpuLimit: {limit} GPUs cannot start all InferenceServices of one model "
            f"at once (one per loader; needs {needed}); use at least {needed}"
        )
    return problems


def _cold_start_checks(c: StackConfig) -> list[str]:
    """Warm slots and Fast Snapshot Restore exist only on Karpenter's nodes with the snapshot."""
    key, cold = "gpuNodes.coldStart", c.gpu_nodes.cold_start
    problems: list[str] = []
    if not c.gpu_nodes.karpenter:
        return problems  # the whole coldStart object is refused there (OnlyUnder)
    if cold.warm_slots > c.gpu_nodes.gpu_limit:
        problems.append(
            f"{key}.warmSlots: {cold.warm_slots} warm GPUs do not fit gpuNodes.gpuLimit "
            f"{c.gpu_nodes.gpu_limit}; use at most {c.gpu_nodes.gpu_limit}"
        )
    if cold.fast_snapshot_restore and not (cold.image_snapshot and c.image_mirror):
        problems.append(
            f"{key}.fastSnapshotRestoreZones: restores the image snapshot, which needs "
            f"{key}.imageSnapshot true and imageMirror true; use []"
        )
    for zone in cold.fast_snapshot_restore_zones:
        if zone[:-1] != c.region:
            problems.append(
                f'{key}.fastSnapshotRestoreZones: "{zone}" is not a zone of the stack\'s region '
                f"{c.region}"
            )
    return problems


def _fits_gpu_node(key: str, model: ModelConfig, node: Any) -> list[str]:
    """A replica must fit one GPU node after the AMI's reservations
    (components/config/node_capacity.py) and its weights the GPU memory vLLM may use."""
    problems: list[str] = []
    allocatable = allocatable_for_pods(node)
    res, where = model.resources, f"{key}.resources"
    cpu_m, memory_mib = quantity(res.cpu) * 1000, quantity(res.memory) / 2**20
    if cpu_m > allocatable.cpu_millicores:
        problems.append(
            f"{where}.cpu: {res.cpu} CPUs do not fit a {node.name} ({node.vcpus} vCPUs, "
            f"{allocatable.cpu_millicores}m allocatable after kubelet reservations and DaemonSets)"
        )
    if memory_mib > allocatable.memory_mib:
        problems.append(
            f"{where}.memory: {res.memory} does not fit a {node.name} ({node.memory_gib} GiB, "
            f"{allocatable.memory_mib}Mi allocatable after kubelet reservations and eviction)"
        )
    if res.gpu > node.gpus:
        problems.append(f"{where}.gpu: {res.gpu} GPUs do not fit a {node.name} ({node.gpus} GPU)")
        return problems
    usable_gib = node.gpu_memory_gib * res.gpu * model.gpu_memory_utilization
    if model.size_gib > usable_gib:
        problems.append(
            f"{key}.sizeGiB: {model.size_gib:g} GiB of weights do not fit {res.gpu} x "
            f"{node.gpu_model} ({node.gpu_memory_gib} GiB) at --gpu-memory-utilization "
            f"{model.gpu_memory_utilization:g} = {usable_gib:g} GiB"
        )
    return problems


# --- Entry points ---------------------------------------------------------------------------------


def project_key_type(key: str) -> str | None:
    """The Pulumi.yaml type of a project key (None for keys the program does not know)."""
    fields = {f.alias: f for f in StackKeys.model_fields.values()}
    if key not in fields:
        return None
    annotation = fields[key].annotation
    if typing.get_origin(annotation) is tuple:
        return "array"
    if _model_in(annotation) is not None:
        return "object"
    names: dict[Any, str] = {int: "integer", bool: "boolean"}
    return names.get(annotation, "string")


def decode(value: str, kind: str | None) -> Any:
    """A config string read the way `pulumi.Config.get_int/get_bool/get_object` read it."""
    try:
        if kind == "integer":
            return int(value)
        if kind == "boolean":
            return {"true": True, "false": False}.get(value, value)
        if kind in ("array", "object") or (kind is None and value[:1] in ("[", "{")):
            return json.loads(value)
    except ValueError:
        pass
    return value


def parse_config(
    raw: Mapping[str, Any], *, project: str, stack: str, region: str | None, has_hf_token: bool
) -> StackConfig:
    """Build the typed config from the project's plaintext values or raise ConfigError."""
    problems: list[str] = []
    if region is None:
        problems.append(
            "aws:region: is not set; set it with `pulumi config set aws:region <region>`"
        )
    elif not REGION.match(region):
        problems.append(f"aws:region: {show(region)} is not an AWS region like eu-central-1")
    values = dict(raw)
    for secret in SECRET_KEYS:
        if values.pop(secret, None) is not None:
            problems.append(
                f"{secret}: is stored in plain text; set it with "
                f"`pulumi config set --secret {secret} <value>`"
            )
    problems += inert_gpu_node_keys(values.get("gpuNodes"))
    try:
        keys = StackKeys.model_validate(values)
    except ValidationError as error:
        raise ConfigError(problems + [_line(e) for e in error.errors()]) from None
    config = StackConfig.model_construct(
        **dict(keys), project=project, stack=stack, region=str(region), has_hf_token=has_hf_token
    )
    problems += _cross_checks(config)
    if problems:
        raise ConfigError(problems)
    return config


def load_config() -> StackConfig:
    """Read and validate the stack configuration through Pulumi's runtime config."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    project = pulumi.get_project()
    every = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = set(runtime_config.get_config_secret_keys_env())
    raw: dict[str, Any] = {}
    has_token = False
    for full in sorted(every):
        namespace, _, key = full.partition(":")
        if namespace != project:
            continue
        if key in SECRET_KEYS and (runtime_config.is_config_secret(full) or full in secret_keys):
            has_token = True
        else:
            raw[key] = decode(str(every[full]), project_key_type(key))
    return parse_config(
        raw,
        project=project,
        stack=pulumi.get_stack(),
        region=pulumi.Config("aws").get("region"),
        has_hf_token=has_token,
    )
