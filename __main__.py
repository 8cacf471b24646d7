"""KServe + Fluid LLM serving on EKS: one `pulumi up` from VPC to InferenceServices."""

import pulumi
import pulumi_aws as aws

from components.cache.component import ModelCache, ModelCacheArgs, model_namespace
from components.cache.throughput import plan_report
from components.cluster.component import Cluster, ClusterArgs
from components.config.kserve_names import isvc_name
from components.config.model import ConfigError, load_config
from components.context import StackContext
from components.image_mirror import ImageMirror, MirrorSettings
from components.images.component import RegistryMirror, RegistryMirrorArgs
from components.karpenter.cold_start_budget import plan_report as cold_start_report
from components.karpenter.component import KarpenterArgs, KarpenterGpuNodes
from components.karpenter.image_snapshot import GpuImageSnapshot, ImageSnapshotArgs
from components.karpenter.manifests import ImageVolume
from components.karpenter.snapshot_images import applies as image_snapshot_applies
from components.karpenter.warm_slots import WarmGpuSlots, WarmSlotsArgs
from components.network.component import Network, NetworkArgs, vpc_endpoints_report
from components.network_policies import model_namespace_policies, network_policies
from components.platform.component import PlatformArgs, ServingPlatform
from components.platform.manifests import ingress_namespaces
from components.serving.component import ModelServing, ModelServingArgs
from components.serving.endpoints import inference_endpoints
from components.serving.loaders import plan_report as loader_report
from components.staging.component import ModelStaging, StagingArgs
from components.storage.component import ModelStore, ModelStoreArgs

try:
    config = load_config()
except ConfigError as error:
    # Refuse bad configuration before any resource is registered, one line per problem.
    raise pulumi.RunError(
        f"invalid stack configuration ({len(error.problems)} problems):\n" + str(error)
    ) from None

# Seconds the cache needs to feed each model to one GPU node (issue 12); printed by `make plan`.
cache_throughput = plan_report(config)
for warning in cache_throughput["warnings"]:
    pulumi.log.warn(warning)
# Seconds and cost of every loader (cache, stream, download) per model; printed by `make plan`.
loader_times = loader_report(config)
# Seconds from a pending model pod to its first token on a new or a warm GPU node (issue 23).
cold_start_budget = cold_start_report(config, loader_times)
for warning in cold_start_budget["warnings"]:
    pulumi.log.warn(warning)

network = Network("network", NetworkArgs(config))
cluster = Cluster(
    "cluster",
    ClusterArgs(
        config,
        vpc_id=network.vpc_id,
        private_subnet_ids=network.private_subnet_ids,
        public_subnet_ids=network.public_subnet_ids,
        with_gpu_node_group=not config.gpu_nodes.karpenter,
        egress_ready=network.egress_ready,
    ),
)
mirror = ImageMirror.for_stack(
    MirrorSettings.of(config),
    aws.get_caller_identity().account_id if config.image_mirror else "",
    config.region,
    config.name,
)
# What every layer on the cluster shares: its provider, the data nodes it waits for, the mirror.
context = StackContext(config, cluster.provider, cluster.system_ready, mirror)

# The images first: every other layer pulls from them, Karpenter's controller included. Karpenter's
# GPU node role gets the mirror's node policy inside KarpenterGpuNodes (the role exists only there).
registry_mirror = RegistryMirror(
    "images",
    RegistryMirrorArgs(
        context,
        node_role_names=[cluster.node_role.name],
        oidc_provider_arn=cluster.oidc_provider_arn,
        oidc_provider_url=cluster.oidc_provider_url,
    ),
)
# Layers above the images wait for the images they pull.
context = context.with_images(registry_mirror.ready_by_image)

# GPU capacity: what GPU pods need (and what is deleted after them): the NodePool under Karpenter,
# the managed node group otherwise.
gpu_capacity: pulumi.Resource
if config.gpu_nodes.karpenter:
    # Its nodes restore the image snapshot built from the mirror (issue 23).
    image_volume: ImageVolume | None = None
    image_ready: list[pulumi.Resource] = []
    if image_snapshot_applies(config):
        snapshot = GpuImageSnapshot(
            "gpu-images",
            ImageSnapshotArgs(
                context,
                vpc_id=network.vpc_id,
                private_subnet_ids=network.private_subnet_ids,
                pull_through_policy_arn=registry_mirror.node_pull_policy_arn,
            ),
        )
        image_volume, image_ready = snapshot.image_volume, snapshot.ready
    karpenter = KarpenterGpuNodes(
        "karpenter",
        KarpenterArgs(
            context,
            cluster=cluster.eks_cluster,
            pull_through_policy_arn=registry_mirror.node_pull_policy_arn,
            image_volume=image_volume,
            node_class_waits=image_ready,
        ),
    )
    gpu_capacity = karpenter.node_pool
    if config.gpu_nodes.cold_start.warm_slots:
        WarmGpuSlots("warm-slots", WarmSlotsArgs(context, gpu_capacity=gpu_capacity))
else:
    assert cluster.gpu_node_group is not None
    gpu_capacity = cluster.gpu_node_group
model_store = ModelStore(
    "models",
    ModelStoreArgs(
        config,
        oidc_provider_arn=cluster.oidc_provider_arn,
        oidc_provider_url=cluster.oidc_provider_url,
    ),
)
platform = ServingPlatform("platform", PlatformArgs(context, gpu_capacity=gpu_capacity))

models_namespace = model_namespace(config, cluster.provider)
# Default deny with the flows the stack needs (issue 20).
network_policies(
    model_namespace_policies(
        config.model_namespace,
        ingress_namespaces(config),
        # The loaders that read S3 from the predictor itself (stream, download).
        [
            isvc_name(model, loader)
            for model in config.models
            for loader in model.loaders
            if loader != "cache"
        ],
    ),
    cluster.provider,
    [models_namespace, *cluster.system_ready],
)
staging_jobs: dict[str, pulumi.Resource] = {}
if config.staging == "job" and model_store.staging_role_arn is not None:
    staging = ModelStaging(
        "staging",
        StagingArgs(
            context,
            namespace=models_namespace,
            bucket_name=model_store.bucket_name,
            staging_role_arn=model_store.staging_role_arn,
            hf_token=pulumi.Config().require_secret("hfToken"),
        ),
    )
    staging_jobs = staging.jobs
model_cache = ModelCache(
    "model-cache",
    ModelCacheArgs(
        context,
        namespace=models_namespace,
        bucket_name=model_store.bucket_name,
        access_key_id=model_store.reader_access_key_id,
        secret_access_key=model_store.reader_secret_access_key,
        gpu_capacity=gpu_capacity,
        staging_jobs=staging_jobs,
    ),
)
serving = ModelServing(
    "serving",
    ModelServingArgs(
        context,
        webhook_ready=platform.webhook_ready,
        kserve_ready=platform.kserve_ready,
        builtin_runtimes=platform.builtin_runtimes,
        gpu_capacity=gpu_capacity,
        namespace=models_namespace,
        dataload_gates=model_cache.dataload_gates,
        bucket_name=model_store.bucket_name,
        storage_initializer_role_arn=model_store.storage_initializer_role_arn,
        staging_jobs=staging_jobs,
    ),
)

pulumi.export("clusterName", config.name)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("region", config.region)
pulumi.export("bucketName", model_store.bucket_name)
pulumi.export("modelUris", model_store.model_uris)
pulumi.export("dataNodeGroupName", f"{config.name}-data")
if config.gpu_nodes.karpenter:
    pulumi.export("gpuNodePool", "gpu")
else:
    pulumi.export("gpuNodeGroupName", f"{config.name}-gpu")
pulumi.export("imageRegistry", mirror.registry or "upstream registries (imageMirror off)")
pulumi.export("ingressHostname", platform.ingress_hostname)
pulumi.export("inferenceServiceUrlPattern", platform.url_pattern)
pulumi.export(
    "inferenceServices", inference_endpoints(config, serving.names, platform.ingress_hostname)
)
pulumi.export("cacheThroughput", cache_throughput)
pulumi.export("coldStartBudget", cold_start_budget)
pulumi.export("vpcEndpoints", vpc_endpoints_report(config))
pulumi.export("loaderTimes", loader_times)
