"""Exposure: in production stacks neither the EKS API endpoint nor the ingress load balancer
accepts connections from the whole internet.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs

from .base import MANDATORY, PRODUCTION_STACKS, ResourceRule, as_list, display, is_production

OPEN_CIDRS = {"0.0.0.0/0", "::/0"}
# EKS's in-tree AWS cloud provider, which serves LoadBalancer Services when no AWS Load Balancer
# Controller is installed, makes the NLB internal for any value of this annotation but "" and
# "false" (kubernetes/cloud-provider-aws:pkg/providers/v1/aws.go EnsureLoadBalancer,
# `internalAnnotation`); it ignores `aws-load-balancer-scheme`, the Load Balancer Controller's.
INTERNAL_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-internal"
# The annotation form of loadBalancerSourceRanges, a comma-separated CIDR list that AWS honours
# (kubernetes/kubernetes staging/src/k8s.io/api/core/v1/annotation_key_constants.go,
# AnnotationLoadBalancerSourceRangesKey).
SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges"
SERVICE = "kubernetes:core/v1:Service"
KNATIVE_SERVING = "kubernetes:operator.knative.dev/v1beta1:KnativeServing"
CHART_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")


def opens_everything(cidrs: Sequence[str]) -> bool:
    """0.0.0.0/0 or ::/0, or blocks that add up to it (0.0.0.0/1 + 128.0.0.0/1)."""
    if OPEN_CIDRS & set(cidrs):
        return True
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            continue
    v4 = [n for n in networks if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in networks if isinstance(n, ipaddress.IPv6Network)]
    return [str(n) for n in ipaddress.collapse_addresses(v4)] == ["0.0.0.0/0"] or [
        str(n) for n in ipaddress.collapse_addresses(v6)
    ] == ["::/0"]


def _cidr_problems(public: Any, cidrs: Any, where: str) -> list[str]:
    # Unset, EKS makes the endpoint public (endpointPublicAccess default true) and open to
    # 0.0.0.0/0 (publicAccessCidrs default): EKS API Reference, VpcConfigRequest
    # (docs.aws.amazon.com/eks/latest/APIReference/API_VpcConfigRequest.html).
    if public is False:
        return []
    allowed = [str(c) for c in as_list(cidrs)]
    if not allowed or opens_everything(allowed):
        return [f"the public API endpoint is open to the internet; set {where} to known ranges"]
    return []


def check_endpoint(args: ResourceValidationArgs, config: Mapping[str, Any]) -> list[str]:
    if not is_production(args.urn, config):
        return []
    props = args.props
    if args.resource_type == "eks:index:Cluster":
        if not props:
            # The engine sends the pulumi-eks component with props {} (tools/plan/policy_feed.py);
            # its `aws:eks/cluster:Cluster` child carries the endpoint settings.
            return []
        problems = _cidr_problems(
            props.get("endpointPublicAccess"), props.get("publicAccessCidrs"), "publicAccessCidrs"
        )
    elif args.resource_type == "aws:eks/cluster:Cluster":
        vpc = props.get("vpcConfig") or {}
        problems = _cidr_problems(
            vpc.get("endpointPublicAccess"),
            vpc.get("publicAccessCidrs"),
            "vpcConfig.publicAccessCidrs",
        )
    else:
        return []
    return [f"{display(args)}: {p}" for p in problems]


def load_balancer_service(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The LoadBalancer Service settings a resource creates: a Service, or a chart's `service`
    values (the Istio gateway chart renders `service.type`, `service.annotations` and
    `service.loadBalancerSourceRanges`: istio/istio:manifests/charts/gateway/values.yaml@1.29.2,
    as in vendor/charts/gateway-1.29.2.tgz).
    Returns {"annotations", "loadBalancerSourceRanges"} or None.
    """
    if resource_type == SERVICE:
        spec = props.get("spec") or {}
        if spec.get("type") != "LoadBalancer":
            return None
        return {
            "annotations": (props.get("metadata") or {}).get("annotations") or {},
            "loadBalancerSourceRanges": spec.get("loadBalancerSourceRanges"),
        }
    if resource_type in CHART_TYPES:
        service = (props.get("values") or {}).get("service") or {}
        if service.get("type") != "LoadBalancer":
            return None
        return {
            "annotations": service.get("annotations") or {},
            "loadBalancerSourceRanges": service.get("loadBalancerSourceRanges"),
        }
    if resource_type == KNATIVE_SERVING:
        # The operator creates Kourier's Service from spec.ingress.kourier and overrides its
        # annotations through spec.services (knative/operator KnativeServing CRD, in
        # vendor/crds/operator.knative.dev_knativeservings.yaml).
        spec = props.get("spec") or {}
        kourier = (spec.get("ingress") or {}).get("kourier") or {}
        if not kourier.get("enabled") or kourier.get("service-type") != "LoadBalancer":
            return None
        annotations: dict[str, Any] = {}
        for override in as_list(spec.get("services")):
            if (override or {}).get("name") == "kourier":
                annotations.update((override or {}).get("annotations") or {})
        return {"annotations": annotations, "loadBalancerSourceRanges": None}
    return None


def creates_load_balancer(resource: PolicyResource) -> bool:
    return load_balancer_service(resource.resource_type, resource.props) is not None


def check_ingress(args: ResourceValidationArgs, config: Mapping[str, Any]) -> list[str]:
    if not is_production(args.urn, config):
        return []
    service = load_balancer_service(args.resource_type, args.props)
    if service is None or str(service["annotations"].get(INTERNAL_ANNOTATION, "")) not in (
        "",
        "false",
    ):
        return []
    ranges = [str(c) for c in as_list(service["loadBalancerSourceRanges"])]
    if not ranges:
        annotated = str(service["annotations"].get(SOURCE_RANGES_ANNOTATION) or "")
        ranges = [c.strip() for c in annotated.split(",") if c.strip()]
    if not ranges or opens_everything(ranges):
        return [
            f"{display(args)}: the internet-facing load balancer is open to 0.0.0.0/0; set "
            f"loadBalancerSourceRanges to known ranges or make it internal ({INTERNAL_ANNOTATION})"
        ]
    return []


RULES = [
    ResourceRule(
        "eks-endpoint-restricted",
        "In production the EKS public endpoint is off or limited to known CIDR ranges.",
        MANDATORY,
        check_endpoint,
        PRODUCTION_STACKS,
    ),
    ResourceRule(
        "ingress-restricted",
        "In production the ingress load balancer is internal or limited to known CIDR ranges.",
        MANDATORY,
        check_ingress,
        PRODUCTION_STACKS,
    ),
]
