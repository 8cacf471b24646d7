"""Exposure rules: production stacks keep the EKS endpoint and the ingress NLB off 0.0.0.0/0."""

from __future__ import annotations

from typing import Any

from tests.policy.support import ALL_RULES, add_record, mutate, record, violations

CLUSTER = "eks:index:Cluster"
AWS_CLUSTER = "aws:eks/cluster:Cluster"
RELEASE = "kubernetes:helm.sh/v3:Release"
SERVICE = "kubernetes:core/v1:Service"
ENDPOINT_MESSAGE = "the public API endpoint is open to the internet; set {} to known ranges"
INGRESS_MESSAGE = (
    "the internet-facing load balancer is open to 0.0.0.0/0; set loadBalancerSourceRanges to "
    "known ranges or make it internal (service.beta.kubernetes.io/aws-load-balancer-internal)"
)
INTERNAL = "service.beta.kubernetes.io/aws-load-balancer-internal"


def test_open_endpoint_fails_in_production(prod: dict[str, Any]) -> None:
    broken = mutate(
        prod, lambda d: record(d, CLUSTER)["inputs"].update(publicAccessCidrs=["0.0.0.0/0"])
    )
    assert violations("eks-endpoint-restricted", broken) == [
        f"{CLUSTER} cluster-eks: " + ENDPOINT_MESSAGE.format("publicAccessCidrs")
    ]


def test_private_endpoint_passes(prod: dict[str, Any]) -> None:
    private = mutate(
        prod,
        lambda d: record(d, CLUSTER)["inputs"].update(
            endpointPublicAccess=False, publicAccessCidrs=["0.0.0.0/0"]
        ),
    )
    assert violations("eks-endpoint-restricted", private) == []


def test_dev_may_stay_open(dev: dict[str, Any]) -> None:
    """dev's default endpointPublicAccessCidrs is 0.0.0.0/0: not a production stack."""
    assert record(dev, CLUSTER)["inputs"]["publicAccessCidrs"] == ["0.0.0.0/0"]
    assert violations("eks-endpoint-restricted", dev) == []
    assert len(violations("eks-endpoint-restricted", dev, {"productionStacks": ["dev"]})) == 1


def test_online_cluster_child_shape(prod: dict[str, Any]) -> None:
    """Online, pulumi-eks's aws:eks/cluster:Cluster child carries vpcConfig (pulumi-aws schema
    `aws:eks/cluster:Cluster` input `vpcConfig.publicAccessCidrs`); an unset list is EKS's
    0.0.0.0/0 default."""
    broken = mutate(
        prod,
        lambda d: add_record(
            d, AWS_CLUSTER, "cluster-eks-eksCluster", {"vpcConfig": {"endpointPublicAccess": True}}
        ),
    )
    assert violations("eks-endpoint-restricted", broken) == [
        f"{AWS_CLUSTER} cluster-eks-eksCluster: "
        + ENDPOINT_MESSAGE.format("vpcConfig.publicAccessCidrs")
    ]


def test_open_ingress_fails_in_production(prod: dict[str, Any]) -> None:
    gateway = "istio-ingressgateway"
    broken = mutate(
        prod,
        lambda d: record(d, RELEASE, gateway)["inputs"]["values"]["service"].pop(
            "loadBalancerSourceRanges"
        ),
    )
    wide = mutate(
        prod,
        lambda d: record(d, RELEASE, gateway)["inputs"]["values"]["service"].update(
            loadBalancerSourceRanges=["10.0.0.0/8", "0.0.0.0/0"]
        ),
    )
    expected = [f"{RELEASE} {gateway}: {INGRESS_MESSAGE}"]
    assert violations("ingress-restricted", broken) == expected
    assert violations("ingress-restricted", wide) == expected


def _open_gateway(annotations: dict[str, str]) -> Any:
    def change(document: dict[str, Any]) -> None:
        service = record(document, RELEASE, "istio-ingressgateway")["inputs"]["values"]["service"]
        service.pop("loadBalancerSourceRanges")
        service["annotations"].update(annotations)

    return change


def test_internal_ingress_passes(prod: dict[str, Any]) -> None:
    """Internal as the cloud provider decides it: any value but "" and "false"."""
    for value in ("true", "0.0.0.0/0"):
        internal = mutate(prod, _open_gateway({INTERNAL: value}))
        assert violations("ingress-restricted", internal) == []


def test_the_scheme_annotation_does_not_make_it_internal(prod: dict[str, Any]) -> None:
    """`aws-load-balancer-scheme: internal` is the AWS Load Balancer Controller's annotation; the
    in-tree cloud provider that serves this stack's Services ignores it (internet-facing NLB)."""
    expected = [f"{RELEASE} istio-ingressgateway: {INGRESS_MESSAGE}"]
    scheme = {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}
    assert violations("ingress-restricted", mutate(prod, _open_gateway(scheme))) == expected
    not_internal = {INTERNAL: "false"}
    assert violations("ingress-restricted", mutate(prod, _open_gateway(not_internal))) == expected


def test_open_load_balancer_service_fails(prod: dict[str, Any]) -> None:
    """A Service object of type LoadBalancer (another ingress, or a chart rendered by helm v4)."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kourier", "namespace": "kourier-system"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
    }
    broken = mutate(prod, lambda d: add_record(d, SERVICE, "kourier", service))
    assert violations("ingress-restricted", broken) == [f"{SERVICE} kourier: {INGRESS_MESSAGE}"]


KNATIVE_SERVING = "kubernetes:operator.knative.dev/v1beta1:KnativeServing"
RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges"


def test_kourier_in_production_passes_every_rule(prod_kourier: dict[str, Any]) -> None:
    serving = record(prod_kourier, KNATIVE_SERVING)["inputs"]["spec"]
    kourier = next(s for s in serving["services"] if s["name"] == "kourier")
    ranges = set(kourier["annotations"][RANGES_ANNOTATION].split(","))
    assert ranges == {"203.0.113.0/24", "198.51.100.10/32"}
    for each in ALL_RULES:
        assert violations(each.name, prod_kourier) == [], each.name


def test_open_kourier_load_balancer_fails(prod_kourier: dict[str, Any]) -> None:
    def open_kourier(document: dict[str, Any]) -> None:
        serving = record(document, KNATIVE_SERVING)["inputs"]["spec"]
        next(s for s in serving["services"] if s["name"] == "kourier")["annotations"].pop(
            RANGES_ANNOTATION
        )

    assert violations("ingress-restricted", mutate(prod_kourier, open_kourier)) == [
        f"{KNATIVE_SERVING} knative-serving: {INGRESS_MESSAGE}"
    ]


def test_kourier_load_balancer_must_follow_the_network(prod_kourier: dict[str, Any]) -> None:
    broken = mutate(prod_kourier, lambda d: record(d, KNATIVE_SERVING).update(dependencies=[]))
    assert violations("destroy-load-balancer-before-network", broken) == [
        f"{KNATIVE_SERVING} knative-serving: creates a load balancer but does not depend on the "
        "network; destroy could delete the VPC while the ELB still holds it"
    ]


def test_blocks_that_add_up_to_the_internet_count_as_open(prod: dict[str, Any]) -> None:
    halves = ["0.0.0.0/1", "128.0.0.0/1"]
    endpoint = mutate(prod, lambda d: record(d, CLUSTER)["inputs"].update(publicAccessCidrs=halves))
    assert violations("eks-endpoint-restricted", endpoint) == [
        f"{CLUSTER} cluster-eks: " + ENDPOINT_MESSAGE.format("publicAccessCidrs")
    ]
    gateway = "istio-ingressgateway"
    quarters = ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"]
    ingress = mutate(
        prod,
        lambda d: record(d, RELEASE, gateway)["inputs"]["values"]["service"].update(
            loadBalancerSourceRanges=quarters
        ),
    )
    assert violations("ingress-restricted", ingress) == [f"{RELEASE} {gateway}: {INGRESS_MESSAGE}"]
    # Three quarters of the internet is not all of it: the rule stays exact.
    most = mutate(
        prod,
        lambda d: record(d, RELEASE, gateway)["inputs"]["values"]["service"].update(
            loadBalancerSourceRanges=quarters[:3]
        ),
    )
    assert violations("ingress-restricted", most) == []
