"""Layer 3: the serving platform (device plugin, cert-manager, Istio or Kourier, Knative, KServe).

Dependencies are explicit so that `pulumi up` creates, and `pulumi destroy` removes, in the order
facts §3.10 gives: every release waits for the data nodes (where controllers run) and is deleted
while they still exist; only the device plugin waits for the GPU capacity (node group or NodePool).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components.context import LayerArgs, image_waits
from components.hostnames import url_pattern
from components.kube import custom_resource, pinned_release
from components.platform import manifests
from components.platform.exposure import source_ranges


@dataclass(frozen=True)
class PlatformArgs(LayerArgs):
    gpu_capacity: pulumi.Resource
    """The GPU node group, or Karpenter's NodePool: what GPU pods need to exist."""


class ServingPlatform(pulumi.ComponentResource):
    """Helm releases and the KnativeServing object that KServe InferenceServices run on."""

    webhook_ready: list[pulumi.Resource]
    """What a ClusterServingRuntime needs: KServe's controller with its webhook answering."""
    kserve_ready: list[pulumi.Resource]
    """What every InferenceService needs: the webhook, Knative Serving and the ingress gateway."""
    builtin_runtimes: pulumi.Resource
    """KServe's built-in runtimes, which the baseline InferenceServices auto-select."""
    knative_serving: k8s.apiextensions.CustomResource
    ingress_hostname: pulumi.Output[str]

    def __init__(
        self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kserve-fluid:platform:ServingPlatform", name, None, opts)
        config = args.config
        on_data_nodes = list(args.system_ready)
        allowed = source_ranges(config)

        release = functools.partial(pinned_release, parent=self, provider=args.provider)

        release(
            "nvidia-device-plugin",
            versions.NVIDIA_DEVICE_PLUGIN,
            "nvidia-device-plugin",
            manifests.device_plugin_values(args.mirror),
            depends_on=[
                *args.system_ready,
                args.gpu_capacity,
                *image_waits(args.image_ready, versions.NVIDIA_DEVICE_PLUGIN_IMAGE),
            ],
            timeout=600,
        )
        cert_manager = release(
            "cert-manager",
            versions.CERT_MANAGER,
            "cert-manager",
            manifests.cert_manager_values(args.mirror),
            depends_on=[
                *on_data_nodes,
                *image_waits(args.image_ready, *versions.CERT_MANAGER_IMAGES.values()),
            ],
            timeout=600,
        )
        ingress_ready: list[pulumi.Resource] = []
        operator_after: list[pulumi.Resource] = list(on_data_nodes)
        if config.networking == "istio":
            # CRDs and cluster-scoped objects only: needs the API server, no node.
            istio_base = release(
                "istio-base",
                versions.ISTIO_BASE,
                manifests.ISTIO_NAMESPACE,
                manifests.istio_base_values(),
                depends_on=[],
                timeout=300,
            )
            istiod = release(
                "istiod",
                versions.ISTIOD,
                manifests.ISTIO_NAMESPACE,
                manifests.istiod_values(args.mirror),
                depends_on=[
                    *on_data_nodes,
                    istio_base,
                    *image_waits(
                        args.image_ready, versions.ISTIO_PILOT_IMAGE, versions.ISTIO_PROXY_IMAGE
                    ),
                ],
                timeout=600,
            )
            gateway = release(
                manifests.INGRESS_GATEWAY_RELEASE,
                versions.ISTIO_GATEWAY,
                manifests.ISTIO_NAMESPACE,
                manifests.ingress_gateway_values(allowed, config.ingress.internal),
                depends_on=[*on_data_nodes, istiod],
                # Helm waits for the NLB's hostname on create, and on delete for the Service
                # (and its load-balancer-cleanup finalizer, i.e. the NLB) to be gone, before
                # the cluster and then the VPC are destroyed (pulumi-eks #194, #382, #1226).
                timeout=900,
                delete_timeout="20m",
            )
            ingress_ready = [gateway]
            # KnativeServing's net-istio needs Istio's CRDs (knative/operator#587).
            operator_after.append(istio_base)

        knative_operator = release(
            "knative-operator",
            versions.KNATIVE_OPERATOR,
            "knative-operator",
            manifests.knative_operator_values(args.mirror),
            depends_on=[
                *operator_after,
                *image_waits(args.image_ready, *versions.KNATIVE_OPERATOR_IMAGES.values()),
            ],
            timeout=600,
        )
        knative_namespace = k8s.core.v1.Namespace(
            "knative-serving",
            metadata={"name": manifests.KNATIVE_NAMESPACE},
            # A Namespace needs only the API server.
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
        )
        self.knative_serving = custom_resource(
            "knative-serving",
            manifests.knative_serving(config, allowed, args.mirror),
            pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                # Deleted before the operator, or its finalizer never clears (operator#1950).
                # Not the gateway: net-istio only needs Istio's CRDs; the InferenceServices,
                # whose routes the gateway serves, wait for it.
                depends_on=[
                    knative_operator,
                    knative_namespace,
                    # The pods it makes pull these from ECR (spec.registry.override).
                    *image_waits(
                        args.image_ready,
                        *versions.knative_operator_pod_images(config.networking).values(),
                        versions.KNATIVE_QUEUE_PROXY_IMAGE,
                    ),
                ],
                custom_timeouts=pulumi.CustomTimeouts(create="20m", delete="20m"),
            ),
        )
        # CRDs only: needs the API server, no node.
        kserve_crd = release(
            "kserve-crd",
            versions.KSERVE_CRD,
            manifests.KSERVE_NAMESPACE,
            {},
            depends_on=[],
            timeout=300,
        )
        kserve = release(
            "kserve",
            versions.KSERVE_RESOURCES,
            manifests.KSERVE_NAMESPACE,
            manifests.kserve_resources_values(config, args.mirror),
            depends_on=[
                *on_data_nodes,
                kserve_crd,
                cert_manager,
                self.knative_serving,
                *image_waits(
                    args.image_ready,
                    versions.KSERVE_CONTROLLER_IMAGE,
                    versions.KUBE_RBAC_PROXY_IMAGE,
                    versions.STORAGE_INITIALIZER_IMAGE,
                ),
            ],
            timeout=900,
        )
        webhook = manifests.webhook_wait_job(args.mirror.ref(versions.CURL_IMAGE))
        webhook_ready = k8s.batch.v1.Job(
            "wait-for-kserve-webhook",
            metadata=webhook["metadata"],
            spec=webhook["spec"],
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                depends_on=[
                    *on_data_nodes,
                    kserve,
                    *image_waits(args.image_ready, versions.CURL_IMAGE),
                ],
                custom_timeouts=pulumi.CustomTimeouts(create="15m"),
            ),
        )
        runtimes = release(
            "kserve-runtime-configs",
            versions.KSERVE_RUNTIME_CONFIGS,
            manifests.KSERVE_NAMESPACE,
            manifests.kserve_runtime_values(args.mirror),
            depends_on=[*on_data_nodes, kserve, webhook_ready],
            timeout=300,
        )
        self.webhook_ready = [kserve, webhook_ready]
        self.kserve_ready = [kserve, webhook_ready, self.knative_serving, *ingress_ready]
        self.builtin_runtimes = runtimes

        namespace, service_name = manifests.ingress_service(config)
        ingress = k8s.core.v1.Service.get(
            "ingress-service",
            f"{namespace}/{service_name}",
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                depends_on=ingress_ready or [self.knative_serving],
            ),
        )
        self.ingress_hostname = ingress.status.apply(_load_balancer_hostname)
        self.url_pattern = url_pattern(config)
        self.register_outputs(
            {"ingressHostname": self.ingress_hostname, "urlPattern": self.url_pattern}
        )


def _load_balancer_hostname(status: Any) -> str:
    """The NLB's DNS name once AWS has assigned it, else an empty string."""
    ingress = getattr(getattr(status, "load_balancer", None), "ingress", None) or []
    return str(ingress[0].hostname or "") if ingress else ""
