"""Layer 4: Fluid and the model cache (Dataset, JindoRuntime, one DataLoad per model).

Destroy order matters (facts §5 items 2-3): InferenceServices go first (they depend on the
DataLoads), then DataLoad -> JindoRuntime -> Dataset, all while the Fluid controllers, and the
data nodes they run on, still exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components.cache import dataload_gate, manifests
from components.config.model import StackConfig
from components.context import LayerArgs, image_waits
from components.kube import custom_resource, pinned_release


@dataclass(frozen=True)
class ModelCacheArgs(LayerArgs):
    namespace: pulumi.Resource
    bucket_name: pulumi.Input[str]
    access_key_id: pulumi.Input[str]
    secret_access_key: pulumi.Input[str]
    gpu_capacity: pulumi.Resource | None = None
    """The GPU nodes (node group today, a Karpenter NodePool later): FUSE pods run there."""
    staging_jobs: Mapping[str, pulumi.Resource] = field(default_factory=dict)


def model_namespace(config: StackConfig, provider: k8s.Provider) -> k8s.core.v1.Namespace:
    """The models' namespace: staging Jobs, the cache and the InferenceServices live here.

    A Namespace needs only the API server, so it waits for no node group.
    """
    namespace = manifests.namespace(config)
    return k8s.core.v1.Namespace(
        "models", metadata=namespace["metadata"], opts=pulumi.ResourceOptions(provider=provider)
    )


class ModelCache(pulumi.ComponentResource):
    """The cache the Fluid InferenceServices read through, preloaded before they exist."""

    dataloads: dict[str, k8s.apiextensions.CustomResource]
    dataset: k8s.apiextensions.CustomResource | None
    """None when no model uses the `cache` loader."""

    def __init__(
        self, name: str, args: ModelCacheArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kserve-fluid:cache:ModelCache", name, None, opts)
        config = args.config
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        on_data_nodes = list(args.system_ready)
        # The Jindo FUSE pods run on the GPU nodes: the JindoRuntime is deleted while they still
        # run (Fluid's finalizers need their pods). The Fluid release does not wait for them:
        # its controllers run on the data nodes and its CSI DaemonSet needs no GPU node to be
        # installed; waiting for Karpenter's NodePool put a minute on `pulumi up`'s critical
        # path (issue 20, tools/plan/critical_path.py).
        on_gpu_nodes = [args.gpu_capacity] if args.gpu_capacity is not None else []
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
                    *versions.FLUID_CONTROLLER_IMAGES.values(),
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
        self.dataset = None
        self.dataloads = {}
        self.dataload_gates: dict[str, k8s.batch.v1.Job] = {}
        # Only models with the `cache` loader are mounted and loaded; none: no Dataset at all.
        cached = [model for model in config.models if model.uses_cache]
        if cached:
            # Only the spec names the bucket; it comes from the Output below.
            dataset_cr = custom_resource(
                "model-cache-dataset",
                manifests.dataset(config, "BUCKET"),
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
                            dataset_cr,
                            *on_gpu_nodes,
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
            self.dataset = dataset_cr
            gate_reader = self._gate_reader(config, k8s_opts, [args.namespace])
            for model in cached:
                document = manifests.dataload(config, model)
                staged = [args.staging_jobs[model.name]] if model.name in args.staging_jobs else []
                load = custom_resource(
                    manifests.dataload_name(model),
                    document,
                    pulumi.ResourceOptions.merge(
                        k8s_opts,
                        pulumi.ResourceOptions(
                            depends_on=[*cr_after, dataset_cr, runtime, *staged],
                            custom_timeouts=pulumi.CustomTimeouts(delete="10m"),
                        ),
                    ),
                )
                self.dataloads[model.name] = load
                gate = dataload_gate.gate_job(config, model, args.mirror.ref(versions.CURL_IMAGE))
                timeout = manifests.dataload_timeout_seconds(model)
                self.dataload_gates[model.name] = k8s.batch.v1.Job(
                    dataload_gate.gate_name(model),
                    metadata=gate["metadata"],
                    spec=gate["spec"],
                    opts=pulumi.ResourceOptions.merge(
                        k8s_opts,
                        pulumi.ResourceOptions(
                            depends_on=[
                                load,
                                *gate_reader,
                                *on_data_nodes,
                                *image_waits(args.image_ready, versions.CURL_IMAGE),
                            ],
                            custom_timeouts=pulumi.CustomTimeouts(create=f"{timeout // 60 + 5}m"),
                        ),
                    ),
                )
        self.register_outputs({"dataset": manifests.DATASET_NAME})

    def _gate_reader(
        self,
        config: StackConfig,
        k8s_opts: pulumi.ResourceOptions,
        after: list[pulumi.Resource],
    ) -> list[pulumi.Resource]:
        """The ServiceAccount, Role and RoleBinding the DataLoad gate Jobs read with."""
        opts = pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=after))
        account = dataload_gate.reader_account(config)
        role = dataload_gate.reader_role(config)
        binding = dataload_gate.reader_binding(config)
        return [
            k8s.core.v1.ServiceAccount("dataload-reader", metadata=account["metadata"], opts=opts),
            k8s.rbac.v1.Role(
                "dataload-reader", metadata=role["metadata"], rules=role["rules"], opts=opts
            ),
            k8s.rbac.v1.RoleBinding(
                "dataload-reader",
                metadata=binding["metadata"],
                role_ref=binding["roleRef"],
                subjects=binding["subjects"],
                opts=opts,
            ),
        ]
