"""Layer 4: Fluid and the model cache (Dataset, JindoRuntime, one DataLoad per model).

Destroy order matters (facts §5 items 2-3): InferenceServices go first (they depend on the
DataLoads), then DataLoad -> JindoRuntime -> Dataset, all while the Fluid controllers, and the
data nodes they run on, still exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components.config import StackConfig
from components.image_mirror import UPSTREAM, ImageMirror
from components.kube import custom_resource, pinned_release
from components.manifests import cache as manifests
from components.registry_mirror import image_waits


@dataclass(frozen=True)
class ModelCacheArgs:
    config: StackConfig
    provider: k8s.Provider
    system_ready: Sequence[pulumi.Resource]
    namespace: pulumi.Resource
    bucket_name: pulumi.Input[str]
    access_key_id: pulumi.Input[str]
    secret_access_key: pulumi.Input[str]
    staging_jobs: Mapping[str, pulumi.Resource] = field(default_factory=dict)
    mirror: ImageMirror = UPSTREAM
    image_ready: Mapping[str, Sequence[pulumi.Resource]] = field(default_factory=dict)


def model_namespace(
    config: StackConfig, provider: k8s.Provider, system_ready: Sequence[pulumi.Resource]
) -> k8s.core.v1.Namespace:
    """The models' namespace: staging Jobs, the cache and the InferenceServices live here."""
    namespace = manifests.namespace(config)
    return k8s.core.v1.Namespace(
        "models",
        metadata=namespace["metadata"],
        opts=pulumi.ResourceOptions(provider=provider, depends_on=list(system_ready)),
    )


class ModelCache(pulumi.ComponentResource):
    """The cache the Fluid InferenceServices read through, preloaded before they exist."""

    dataloads: dict[str, k8s.apiextensions.CustomResource]
    dataset: k8s.apiextensions.CustomResource

    def __init__(
        self, name: str, args: ModelCacheArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kserve-fluid:cache:ModelCache", name, None, opts)
        config = args.config
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        on_data_nodes = list(args.system_ready)
        fluid = pinned_release(
            "fluid",
            versions.FLUID,
            manifests.FLUID_NAMESPACE,
            manifests.fluid_values(args.mirror),
            parent=self,
            provider=args.provider,
            depends_on=[
                *on_data_nodes,
                *image_waits(
                    args.image_ready,
                    versions.FLUID_CSI_REGISTRAR_IMAGE,
                    versions.FLUID_CSI_PLUGIN_IMAGE,
                ),
            ],
            timeout=900,
        )
        secret = manifests.credentials_secret(config)
        credentials = k8s.core.v1.Secret(
            "s3-credentials",
            metadata=secret["metadata"],
            type=secret["type"],
            string_data={
                manifests.ACCESS_KEY_ID: args.access_key_id,
                manifests.SECRET_ACCESS_KEY: pulumi.Output.secret(args.secret_access_key),
            },
            opts=pulumi.ResourceOptions.merge(
                k8s_opts, pulumi.ResourceOptions(depends_on=[args.namespace, *on_data_nodes])
            ),
        )
        cr_after = [fluid, args.namespace, credentials, *on_data_nodes]
        # Only the spec names the bucket; it comes from the Output below.
        dataset = manifests.dataset(config, "BUCKET")
        self.dataset = custom_resource(
            "model-cache-dataset",
            dataset,
            pulumi.ResourceOptions.merge(
                k8s_opts,
                pulumi.ResourceOptions(
                    depends_on=cr_after,
                    custom_timeouts=pulumi.CustomTimeouts(delete="15m"),
                ),
            ),
            spec=pulumi.Output.from_input(args.bucket_name).apply(
                lambda bucket: manifests.dataset(config, bucket)["spec"]
            ),
        )
        runtime = custom_resource(
            "model-cache-runtime",
            manifests.jindo_runtime(config, args.mirror),
            pulumi.ResourceOptions.merge(
                k8s_opts,
                pulumi.ResourceOptions(
                    # Deleted before the Dataset it serves (fluid#1419).
                    depends_on=[
                        *cr_after,
                        self.dataset,
                        *image_waits(
                            args.image_ready,
                            versions.JINDO_SMARTDATA_IMAGE,
                            versions.JINDO_FUSE_IMAGE,
                        ),
                    ],
                    custom_timeouts=pulumi.CustomTimeouts(delete="15m"),
                ),
            ),
        )
        self.dataloads = {}
        for model in config.models:
            document = manifests.dataload(config, model)
            staged = [args.staging_jobs[model.name]] if model.name in args.staging_jobs else []
            self.dataloads[model.name] = custom_resource(
                f"{model.name}-dataload",
                document,
                pulumi.ResourceOptions.merge(
                    k8s_opts,
                    pulumi.ResourceOptions(
                        depends_on=[*cr_after, self.dataset, runtime, *staged],
                        custom_timeouts=pulumi.CustomTimeouts(
                            create=f"{manifests.dataload_timeout_seconds(model) // 60 + 5}m",
                            delete="10m",
                        ),
                    ),
                ),
            )
        self.register_outputs({"dataset": manifests.DATASET_NAME})
