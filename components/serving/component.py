"""Layer 5: the warm-up ServingRuntime and the InferenceServices of every model."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components.config.model import ModelConfig, StackConfig
from components.context import LayerArgs, image_waits
from components.kube import custom_resource
from components.serving import manifests


@dataclass(frozen=True)
class ModelServingArgs(LayerArgs):
    webhook_ready: list[pulumi.Resource]
    kserve_ready: list[pulumi.Resource]
    builtin_runtimes: pulumi.Resource
    gpu_capacity: pulumi.Resource
    namespace: pulumi.Resource
    dataload_gates: Mapping[str, pulumi.Resource]
    """Per model, the Job that succeeds once its DataLoad has filled the cache."""
    bucket_name: pulumi.Input[str]
    storage_initializer_role_arn: pulumi.Input[str]
    staging_jobs: Mapping[str, pulumi.Resource] = field(default_factory=dict)


class ModelServing(pulumi.ComponentResource):
    """Per model: an InferenceService for its loader and one for each comparison loader."""

    names: dict[str, dict[str, str]]
    """Per model, loader name -> InferenceService name (only the loaders deployed)."""

    def __init__(
        self, name: str, args: ModelServingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kserve-fluid:serving:ModelServing", name, None, opts)
        config = args.config
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.provider)

        def after(
            *resources: pulumi.Resource, timeout: int | None = None
        ) -> pulumi.ResourceOptions:
            timeouts = (
                pulumi.CustomTimeouts(create=f"{timeout // 60 + 5}m", delete="15m")
                if timeout
                else None
            )
            return pulumi.ResourceOptions.merge(
                k8s_opts,
                pulumi.ResourceOptions(
                    depends_on=[*args.system_ready, *resources], custom_timeouts=timeouts
                ),
            )

        warmup = manifests.warmup_configmap(config)
        warmup_code = k8s.core.v1.ConfigMap(
            "model-cache-warmup",
            metadata=warmup["metadata"],
            data=warmup["data"],
            opts=after(args.namespace),
        )
        # Validated by KServe's webhook; the built-in runtimes are not needed (autoSelect false).
        # Namespaced, beside the ConfigMap it mounts (manifests.serving_runtime says why).
        runtime = custom_resource(
            "warmup-serving-runtime",
            manifests.serving_runtime(config, args.mirror),
            after(*args.webhook_ready, args.namespace, warmup_code),
        )
        # The `download` storage initializer and the `stream` server read S3 as this account.
        reads_s3 = any(set(m.loaders) & {"download", "stream"} for m in config.models)
        service_account = None
        if reads_s3:
            service_account = k8s.core.v1.ServiceAccount(
                # The name the baseline's account had, so an existing stack keeps it.
                "baseline-service-account",
                metadata=pulumi.Output.from_input(args.storage_initializer_role_arn).apply(
                    lambda arn: manifests.model_reader_service_account(config, arn)["metadata"]
                ),
                opts=after(args.namespace),
            )

        # Every InferenceService pod pulls these on its GPU node.
        pulled = image_waits(
            args.image_ready,
            versions.HUGGINGFACE_SERVER_GPU_IMAGE,
            versions.KNATIVE_QUEUE_PROXY_IMAGE,
            versions.STORAGE_INITIALIZER_IMAGE,
        )
        services: dict[str, dict[str, str]] = {}
        for model in config.models:
            timeout = manifests.isvc_ready_timeout_seconds(model)
            services[model.name] = {}
            staged = [args.staging_jobs[model.name]] if model.name in args.staging_jobs else []
            for loader in model.loaders:
                name = manifests.isvc_name(model, loader)
                services[model.name][loader] = name
                if loader == "cache":
                    # Reads the cache once its DataLoad filled it, through the warm-up runtime.
                    needs: list[pulumi.Resource] = [
                        runtime,
                        warmup_code,
                        args.dataload_gates[model.name],
                    ]
                else:
                    # Reads the model from S3 (staged by the Job when there is one).
                    assert service_account is not None
                    needs = [args.builtin_runtimes, service_account, *staged]
                custom_resource(
                    name,
                    # Only the spec names the bucket; it comes from the Output below.
                    manifests.inference_service(config, model, loader, "BUCKET"),
                    # GPU capacity: destroy removes the service while its nodes still exist.
                    after(
                        *args.kserve_ready,
                        *needs,
                        args.gpu_capacity,
                        *pulled,
                        timeout=timeout,
                    ),
                    spec=None
                    if loader == "cache"
                    else pulumi.Output.from_input(args.bucket_name).apply(
                        functools.partial(_spec, config, model, loader)
                    ),
                )
        self.names = services
        self.register_outputs({"names": services})


def _spec(config: StackConfig, model: ModelConfig, loader: str, bucket: str) -> Any:
    return manifests.inference_service(config, model, loader, bucket)["spec"]
