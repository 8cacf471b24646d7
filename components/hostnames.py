"""The one place that derives the hostnames an InferenceService answers on in Knative mode.

Three upstream rules, ported as they are written (KServe v0.20.0, Knative 1.22):

1. KServe names the predictor's Knative Service `<isvc>-predictor`
   (kserve/kserve:pkg/constants/constants.go@v0.20.0 `PredictorServiceName`).
2. Knative routes that Service at its domain template, by default
   `{{.Name}}.{{.Namespace}}.{{.Domain}}` (knative/networking:pkg/config/config.go@knative-v1.22.0
   `DefaultDomainTemplate`; knative/serving:pkg/reconciler/route/domains/domains.go@knative-v1.22.1
   `DomainNameFromTemplate`), so the predictor answers on `<isvc>-predictor.<ns>.<domain>`.
3. With Istio, KServe's ingress reconciler adds a VirtualService for the top-level host and sets
   `status.url` to it: the predictor's host with its first `-predictor` removed, or unchanged when
   the URL contains `-default` but not `-predictor-default`
   (kserve/kserve:pkg/controller/v1beta1/inferenceservice/reconcilers/ingress/
   ingress_reconciler.go@v0.20.0 `getServiceHost`, `getHostBasedServiceUrl`). With
   `disableIstioVirtualHost` (Kourier) no such host exists and `status.url` is the predictor's.

Tools that reach the cluster read `status.url` instead (tools/operate/smoke.py,
tools/operate/coldstart_bench.py); these functions are what the stack outputs, the README and
offline tools predict.
"""

from __future__ import annotations

from components.config.kserve_names import PREDICTOR, knative_host, predictor_service_name
from components.config.model import StackConfig


def istio_virtual_host(predictor_host: str) -> str:
    """kserve `getServiceHost` for a predictor-only InferenceService, character for character."""
    if "-default" in predictor_host:
        return predictor_host.replace(f"-{PREDICTOR}-default", "", 1)
    return predictor_host.replace(f"-{PREDICTOR}", "", 1)


def predictor_host(config: StackConfig, isvc: str) -> str:
    """Where Knative routes the predictor: `<isvc>-predictor.<ns>.<domain>`."""
    return knative_host(predictor_service_name(isvc), config.model_namespace, config.knative.domain)


def service_host(config: StackConfig, isvc: str) -> str:
    """The host of `status.url`: the Host header a request through the ingress carries."""
    host = predictor_host(config, isvc)
    if config.networking == "istio":
        return istio_virtual_host(host)
    return host


def url_pattern(config: StackConfig) -> str:
    """`service_host` with `{name}` for the InferenceService name, for the stack output."""
    marker = "a"  # a name without `-default` or `-predictor`, so the pattern is the rule's shape
    return "http://" + service_host(config, marker).replace(marker, "{name}", 1)
