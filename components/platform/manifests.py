"""Pure builders for the serving platform: Helm values and the KnativeServing object."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components import versions
from components.config.model import StackConfig
from components.image_mirror import UPSTREAM, ImageMirror
from components.naming import GPU_PRESENT_LABEL, gpu_toleration
from components.restricted import restricted_container_security, restricted_pod_security
from components.timeouts import request_timeout_seconds
from components.versions import KNATIVE_SERVING_VERSION

ISTIO_NAMESPACE = "istio-system"
KNATIVE_NAMESPACE = "knative-serving"
KSERVE_NAMESPACE = "kserve"
INGRESS_GATEWAY_RELEASE = "istio-ingressgateway"
# The gateway chart labels its pods `istio: <release name minus "istio-">`; net-istio's
# knative-ingress-gateway selects exactly this label (facts §3.3).
INGRESS_GATEWAY_LABELS = {"istio": "ingressgateway", "app": "istio-ingressgateway"}
KOURIER_SERVICE = "kourier"
# No AWS Load Balancer Controller runs here: EKS's cloud provider (kubernetes/cloud-provider-aws)
# serves LoadBalancer Services. It reads only these annotations; `aws-load-balancer-scheme` is
# the Load Balancer Controller's and would be ignored.
NLB_ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
    "service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled": "true",
}
# Any value but "" and "false" makes the NLB internal (private subnets): kubernetes/
# cloud-provider-aws:pkg/providers/v1/aws.go EnsureLoadBalancer (`internalAnnotation`).
INTERNAL_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-internal"
SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges"
# Plain HTTP on 80 only: no TLS listener exists yet (an NLB listener per Service port, 443 with
# nothing behind it), and the Istio status port 15021 is for in-cluster probes, not clients.
# The chart's default ports list all three (istio/istio:manifests/charts/gateway/values.yaml
# @1.29.2 `service.ports`); Helm replaces a list value, so this is the whole list.
GATEWAY_SERVICE_PORTS = [{"name": "http2", "port": 80, "protocol": "TCP", "targetPort": 80}]


def load_balancer_annotations(internal: bool) -> dict[str, str]:
    """The NLB's annotations; `ingress.internal` decides internet-facing or internal."""
    annotations = dict(NLB_ANNOTATIONS)
    if internal:
        annotations[INTERNAL_ANNOTATION] = "true"
    return annotations


def device_plugin_values(mirror: ImageMirror = UPSTREAM) -> dict[str, Any]:
    """Run only on GPU nodes, tolerating their taint."""
    return {
        "image": mirror.chart_image(versions.NVIDIA_DEVICE_PLUGIN_IMAGE),
        "tolerations": [gpu_toleration()],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": GPU_PRESENT_LABEL, "operator": "In", "values": ["true"]}
                            ]
                        }
                    ]
                }
            }
        },
    }


def cert_manager_values(mirror: ImageMirror = UPSTREAM) -> dict[str, Any]:
    """CRDs kept on uninstall; every component's image from the mirror (cert-manager-v1.17.0
    values.yaml `<component>.image.repository`, `tag`, and `digest`, which wins over the tag)."""
    values: dict[str, Any] = {"crds": {"enabled": True, "keep": True}}
    for key, upstream in versions.CERT_MANAGER_IMAGES.items():
        image = {"repository": mirror.repository(upstream), "tag": _tag_of(upstream)}
        digest = versions.digest_of(upstream)
        if digest:
            image["digest"] = digest
        if key == "image":
            values["image"] = image
        else:
            values[key] = {"image": image}
    return values


def knative_operator_values(mirror: ImageMirror = UPSTREAM) -> dict[str, Any]:
    """The operator and its webhook from the mirror (knative-operator-v1.22.3 values.yaml
    `knative_operator.<component>.image` and `tag`, joined as `image:tag`)."""
    return {
        "knative_operator": {
            key: mirror.chart_image(upstream, "image", "tag")
            for key, upstream in versions.KNATIVE_OPERATOR_IMAGES.items()
        }
    }


def _tag_of(upstream: str) -> str:
    return upstream.rpartition(":")[2]


def istio_base_values() -> dict[str, Any]:
    return {"defaultRevision": "default"}


def istiod_values(mirror: ImageMirror = UPSTREAM) -> dict[str, Any]:
    """Model pods get no sidecar: the seed excludes them, and a sidecar slows every cold start.

    `global.hub` is where istiod's own image (`pilot`) and the proxy it injects into the
    ingress gateway (`proxyv2`) come from (istiod-1.29.2 values.yaml `global.hub`,
    `global.proxy.image`); both share one hub, so they come by tag (through the cache).
    """
    hub = mirror.repository(versions.ISTIO_PILOT_IMAGE).rpartition("/")[0]
    return {"global": {"hub": hub, "proxy": {"autoInject": "disabled"}}}


def ingress_gateway_values(
    source_ranges: Sequence[str] = (), internal: bool = False
) -> dict[str, Any]:
    """The gateway behind an NLB listening on port 80, open only to `source_ranges` when given."""
    service: dict[str, Any] = {
        "type": "LoadBalancer",
        "annotations": load_balancer_annotations(internal),
        "ports": GATEWAY_SERVICE_PORTS,
    }
    if source_ranges:
        # The chart copies this into Service.spec (gateway-1.29.2 templates/service.yaml).
        service["loadBalancerSourceRanges"] = list(source_ranges)
    return {"labels": INGRESS_GATEWAY_LABELS, "service": service}


def knative_serving(
    config: StackConfig, source_ranges: Sequence[str] = (), mirror: ImageMirror = UPSTREAM
) -> dict[str, Any]:
    """The KnativeServing object; its `config` replaces the seed's `kubectl patch`.

    The operator owns the `config-*` ConfigMaps and reverts direct edits (knative/operator#264),
    so every setting lives here.
    """
    knative = config.knative
    spec: dict[str, Any] = {
        "version": KNATIVE_SERVING_VERSION,
        "config": {
            "features": {
                "kubernetes.podspec-nodeselector": "enabled",
                "kubernetes.podspec-tolerations": "enabled",
                "kubernetes.podspec-affinity": "enabled",
            },
            # The activator holds a cold-start request this long at most (components/timeouts.py).
            "defaults": {"max-revision-timeout-seconds": str(request_timeout_seconds(config))},
            "deployment": {
                "progress-deadline": f"{knative.progress_deadline_seconds}s",
                "registries-skipping-tag-resolving": mirror.skip_tag_resolution(
                    "nvcr.io,index.docker.io"
                ),
                # The operator writes spec.config into config-deployment (knative/operator:
                # pkg/reconciler/common/config_maps.go@knative-v1.22.3).
                "queue-sidecar-image": mirror.ref(versions.KNATIVE_QUEUE_PROXY_IMAGE),
                # A revision whose pod waits for a new GPU node (Karpenter) would otherwise be
                # marked Unschedulable, and the InferenceService Ready=False, until the node
                # joins (knative/serving:pkg/reconciler/revision/reconcile_resources.go); the
                # key is parsed with cm.AsBool (knative/serving:pkg/deployment/config.go
                # podIsAlwaysSchedulableKey, since knative-v1.21.0).
                "pod-is-always-schedulable": "true",
            },
            "autoscaler": {
                "enable-scale-to-zero": "true",
                # Creating an InferenceService must not need a GPU node; warm starts opt in.
                "allow-zero-initial-scale": "true",
                "scale-to-zero-grace-period": f"{knative.scale_to_zero_grace_period_seconds}s",
            },
            "domain": {knative.domain: ""},
        },
    }
    if config.networking == "kourier":
        spec["ingress"] = {
            "kourier": {"enabled": True, "service-type": "LoadBalancer"},
            "istio": {"enabled": False},
        }
        spec["config"]["network"] = {"ingress-class": "kourier.ingress.networking.knative.dev"}
        annotations = load_balancer_annotations(config.ingress.internal)
        if source_ranges:
            # KnativeServing's service overrides carry only labels, annotations and selector
            # (operator.knative.dev_knativeservings.yaml); Kubernetes reads the source ranges
            # from this annotation when spec.loadBalancerSourceRanges is empty
            # (kubernetes/cloud-provider:service/helpers/helper.go GetLoadBalancerSourceRanges).
            annotations[SOURCE_RANGES_ANNOTATION] = ",".join(source_ranges)
        spec["services"] = [{"name": KOURIER_SERVICE, "annotations": annotations}]
    else:
        spec["ingress"] = {"istio": {"enabled": True}}
    if mirror.enabled:
        spec["registry"] = {"override": knative_registry_override(config.networking, mirror)}
    return {
        "apiVersion": "operator.knative.dev/v1beta1",
        "kind": "KnativeServing",
        "metadata": {
            "name": "knative-serving",
            "namespace": KNATIVE_NAMESPACE,
            "annotations": {
                "pulumi.com/waitFor": "condition=Ready",
                "pulumi.com/timeoutSeconds": "900",
            },
        },
        "spec": spec,
    }


def knative_registry_override(networking: str, mirror: ImageMirror) -> dict[str, str]:
    """`spec.registry.override`: every container the operator creates, by
    `<workload>/<container>`, pulled from the mirror by digest.

    The operator looks up `<name>/<container>`, then `<container>`, then falls back to
    `registry.default` with `${NAME}` replaced by the image's last path element
    (knative/operator:pkg/reconciler/common/images.go@knative-v1.22.3 `ImageTransform`). The
    qualified keys are needed: Serving's and net-istio's containers are both named `controller`
    and `webhook`; no `default` is set, since it drops the path and digest of each image. The
    caching `Image` named `queue-proxy` is overridden by its name (`updateCachingImage`).
    """
    override = {
        key: mirror.ref(upstream)
        for key, upstream in versions.knative_operator_pod_images(networking).items()
    }
    override["queue-proxy"] = mirror.ref(versions.KNATIVE_QUEUE_PROXY_IMAGE)
    return override


def kserve_resources_values(config: StackConfig, mirror: ImageMirror = UPSTREAM) -> dict[str, Any]:
    """KServe controller in Knative (serverless) mode, wired to the chosen ingress."""
    gateway: dict[str, Any] = {"domain": config.knative.domain, "urlScheme": "http"}
    if config.networking == "kourier":
        gateway["disableIstioVirtualHost"] = True
        gateway["localGateway"] = {
            "gateway": f"{KNATIVE_NAMESPACE}/knative-local-gateway",
            "gatewayService": f"kourier-internal.{KNATIVE_NAMESPACE}.svc.cluster.local",
        }
    else:
        gateway["disableIstioVirtualHost"] = False
        gateway["ingressGateway"] = {
            "gateway": f"{KNATIVE_NAMESPACE}/knative-ingress-gateway",
            "className": "istio",
        }
        gateway["localGateway"] = {
            "gateway": f"{KNATIVE_NAMESPACE}/knative-local-gateway",
            "gatewayService": f"knative-local-gateway.{ISTIO_NAMESPACE}.svc.cluster.local",
        }
    return {
        "kserve": {
            "controller": {
                "deploymentMode": "Knative",
                "gateway": gateway,
                # kserve-resources-v0.20.0 values.yaml `kserve.controller.image` + `tag`, and
                # the kube-rbac-proxy sidecar's full reference `rbacProxyImage`.
                **mirror.chart_image(versions.KSERVE_CONTROLLER_IMAGE, "image", "tag"),
                "rbacProxyImage": mirror.ref(versions.KUBE_RBAC_PROXY_IMAGE),
            },
            # The baseline's storage initializer downloads S3_MAX_FILE_CONCURRENCY (default 4,
            # the shard count of an 8B model) files in parallel processes (kserve PR #4714);
            # the chart's 1-CPU limit would serialise them, so give each process a core.
            "storage": {
                **mirror.chart_image(versions.STORAGE_INITIALIZER_IMAGE, "image", "tag"),
                "resources": {
                    "requests": {"cpu": "1", "memory": "1Gi"},
                    "limits": {"cpu": "4", "memory": "4Gi"},
                },
            },
        }
    }


def kserve_runtime_values(mirror: ImageMirror = UPSTREAM) -> dict[str, Any]:
    """The built-in runtimes; huggingfaceserver serves the baseline InferenceServices.

    Only its repository changes: the controller appends `-gpu` to the tag for GPU requests
    (kserve:pkg/controller/v1beta1/inferenceservice/utils/utils.go@v0.20.0 `UpdateImageTag`),
    and `-gpu` is the tag the mirror holds (the multinode runtime appends it in its template).
    """
    huggingfaceserver = {
        "disabled": False,
        "image": mirror.repository(versions.HUGGINGFACE_SERVER_GPU_IMAGE),
        "tag": versions.KSERVE_VERSION,
    }
    return {
        "kserve": {
            "servingruntime": {"enabled": True, "huggingfaceserver": huggingfaceserver},
        }
    }


def ingress_namespaces(config: StackConfig) -> list[str]:
    """Where the pods that send requests to predictors run: Knative's activator and autoscaler
    (and Kourier, which the operator installs there), and Istio's ingress gateway."""
    found = [KNATIVE_NAMESPACE]
    if config.networking == "istio":
        found.append(ISTIO_NAMESPACE)
    return found


def ingress_service(config: StackConfig) -> tuple[str, str]:
    """(namespace, name) of the LoadBalancer Service in front of the InferenceServices."""
    if config.networking == "kourier":
        return KNATIVE_NAMESPACE, KOURIER_SERVICE
    return ISTIO_NAMESPACE, INGRESS_GATEWAY_RELEASE


def webhook_wait_job(image: str) -> dict[str, Any]:
    """A Job that succeeds once KServe's webhook answers TLS, so CRs are not refused.

    Helm reports kserve-resources ready when the controller is, not the webhook behind it
    (kserve#5037, #4182): runtimes and InferenceServices created in that window fail.
    """
    url = f"https://kserve-webhook-server-service.{KSERVE_NAMESPACE}.svc:443/"
    script = (
        f"for i in $(seq 1 120); do curl -sk -o /dev/null --max-time 5 {url} && exit 0; "
        "sleep 5; done; echo 'kserve webhook not reachable after 10 minutes' >&2; exit 1"
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "wait-for-kserve-webhook", "namespace": KSERVE_NAMESPACE},
        "spec": {
            "backoffLimit": 2,
            "activeDeadlineSeconds": 900,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    # The restricted Pod Security profile (policy rule workloads-restricted):
                    # curl needs no token, no capability and no writable root; a UID above
                    # 10000 keeps clear of host users (checkov CKV_K8S_40).
                    "automountServiceAccountToken": False,
                    "securityContext": restricted_pod_security(65532),
                    "containers": [
                        {
                            "name": "wait",
                            "image": image,
                            "command": ["/bin/sh", "-c", script],
                            "resources": {
                                "requests": {"cpu": "10m", "memory": "16Mi"},
                                "limits": {"cpu": "100m", "memory": "64Mi"},
                            },
                            "securityContext": restricted_container_security(),
                        }
                    ],
                }
            },
        },
    }
