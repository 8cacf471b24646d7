"""The planned NetworkPolicies allow the stack's flows and nothing else that matters.

A small evaluator of Kubernetes NetworkPolicy semantics (networking.k8s.io/v1: a pod selected
by a policy of a direction accepts only what some rule of such a policy allows; an unselected pod
is open; peers are podSelector/namespaceSelector/ipBlock; ports narrow a rule) runs over the
policies of the offline plan. The pods' labels are the ones their owners set: KServe
`serving.kserve.io/inferenceservice`, Fluid's charts `fluid.io/managed-by: fluid` and `role`
(fluid-cloudnative/fluid:charts/jindocache/templates/*, charts/library@v1.0.8), Kubernetes
`batch.kubernetes.io/job-name` on Job pods and `kubernetes.io/metadata.name` on namespaces,
Knative's activator `app: activator`, EKS's CoreDNS `k8s-app: kube-dns`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import pytest

from components.platform.manifests import INGRESS_GATEWAY_LABELS
from tests.plan_support import Plan

POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
MODELS = "kserve-fluid-demo"
VPC = ipaddress.ip_network("10.0.0.0/16")


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str] = field(default_factory=dict)
    ip: str = "10.0.40.7"


@dataclass(frozen=True)
class Outside:
    ip: str


Peer = Pod | Outside


def _selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
    return True


def _namespace_labels(name: str) -> dict[str, str]:
    return {"kubernetes.io/metadata.name": name}


def _peer_matches(entry: dict[str, Any], peer: Peer, policy_namespace: str) -> bool:
    if "ipBlock" in entry:
        block = entry["ipBlock"]
        address = ipaddress.ip_address(peer.ip)
        inside = address in ipaddress.ip_network(block["cidr"])
        return inside and not any(
            address in ipaddress.ip_network(c) for c in block.get("except", [])
        )
    if not isinstance(peer, Pod):
        return False
    if "namespaceSelector" in entry:
        if not _selects(entry["namespaceSelector"], _namespace_labels(peer.namespace)):
            return False
    elif peer.namespace != policy_namespace:
        return False
    return _selects(entry.get("podSelector"), peer.labels)


def _port_matches(rule: dict[str, Any], port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    return any(
        p.get("protocol", "TCP") == protocol and p.get("port") in (None, port) for p in ports
    )


def _direction_allows(
    policies: list[dict[str, Any]], pod: Pod, kind: str, peer: Peer, port: int, protocol: str
) -> bool:
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == pod.namespace
        and kind in p["spec"].get("policyTypes", ["Ingress"])
        and _selects(p["spec"]["podSelector"], pod.labels)
    ]
    if not selecting:
        return True
    key, peers_key = ("egress", "to") if kind == "Egress" else ("ingress", "from")
    for policy in selecting:
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(peers_key)
            peer_ok = not peers or any(
                _peer_matches(e, peer, policy["metadata"]["namespace"]) for e in peers
            )
            if peer_ok and _port_matches(rule, port, protocol):
                return True
    return False


def allowed(
    policies: list[dict[str, Any]], source: Peer, target: Peer, port: int, protocol: str = "TCP"
) -> bool:
    out = not isinstance(source, Pod) or _direction_allows(
        policies, source, "Egress", target, port, protocol
    )
    into = not isinstance(target, Pod) or _direction_allows(
        policies, target, "Ingress", source, port, protocol
    )
    return out and into


def _policies(plan: Plan) -> list[dict[str, Any]]:
    return [r["inputs"] for r in plan.of_type(POLICY)]


FLUID_PREDICTOR = Pod(
    MODELS, {"serving.kserve.io/inferenceservice": "llama-31-8b-instruct", "component": "predictor"}
)
DOWNLOAD_PREDICTOR = Pod(
    MODELS,
    {
        "serving.kserve.io/inferenceservice": "llama-31-8b-instruct-download",
        "component": "predictor",
    },
)
STREAM_PREDICTOR = Pod(
    MODELS,
    {"serving.kserve.io/inferenceservice": "llama-31-8b-instruct-stream", "component": "predictor"},
)
FLUID = {"fluid.io/managed-by": "fluid", "app": "jindofs", "release": "s3-data"}
JINDO_FUSE = Pod(MODELS, {**FLUID, "role": "jindofs-fuse"})
JINDO_WORKER = Pod(MODELS, {**FLUID, "role": "jindofs-worker"}, ip="10.0.50.3")
JINDO_MASTER = Pod(MODELS, {**FLUID, "role": "jindofs-master"}, ip="10.0.50.4")
DATALOAD = Pod(
    MODELS,
    {"fluid.io/managed-by": "fluid", "role": "dataload-pod", "app": "jindocache",
     "batch.kubernetes.io/job-name": "llama-31-8b-instruct-dataload-loader-job"},
)  # fmt: skip
GATE_JOB = Pod(MODELS, {"batch.kubernetes.io/job-name": "llama-31-8b-instruct-dataload-gate"})
COPY_JOB = Pod("image-mirror", {"batch.kubernetes.io/job-name": "copy-queue-db2acc90"})
ACTIVATOR = Pod("knative-serving", {"app": "activator"})
KOURIER = Pod("knative-serving", {"app": "3scale-kourier-gateway"})
GATEWAY = Pod("istio-system", dict(INGRESS_GATEWAY_LABELS))
STRANGER = Pod("default", {"app": "curious"})
DNS = Pod("kube-system", {"k8s-app": "kube-dns"}, ip="10.0.10.2")
S3 = Outside("52.219.170.1")
STS = Outside("3.120.181.40")
API_SERVER = Outside("10.0.12.25")  # a control-plane ENI in a private subnet
REGISTRY = Outside("104.18.121.25")


@pytest.mark.parametrize(
    ("source", "target", "port"),
    [
        (GATEWAY, FLUID_PREDICTOR, 8012),
        (ACTIVATOR, FLUID_PREDICTOR, 8012),
        (ACTIVATOR, DOWNLOAD_PREDICTOR, 9090),
        (GATEWAY, STREAM_PREDICTOR, 8012),
        (JINDO_FUSE, JINDO_WORKER, 8101),
        (JINDO_FUSE, JINDO_MASTER, 8101),
        (DATALOAD, JINDO_MASTER, 8101),
        (JINDO_WORKER, S3, 443),
        (JINDO_MASTER, S3, 443),
        (DOWNLOAD_PREDICTOR, S3, 443),  # the storage initializer
        (DOWNLOAD_PREDICTOR, STS, 443),  # its IRSA token exchange
        (STREAM_PREDICTOR, S3, 443),  # the Run:ai streamer
        (STREAM_PREDICTOR, STS, 443),
        (GATE_JOB, API_SERVER, 443),
        (COPY_JOB, REGISTRY, 443),
        (COPY_JOB, STS, 443),
    ],
)
def test_the_stacks_flows_are_allowed(
    dev_plan: Plan, source: Peer, target: Peer, port: int
) -> None:
    assert allowed(_policies(dev_plan), source, target, port)


@pytest.mark.parametrize("pod", [FLUID_PREDICTOR, JINDO_WORKER, GATE_JOB, COPY_JOB])
def test_every_pod_may_ask_cluster_dns(dev_plan: Plan, pod: Pod) -> None:
    assert allowed(_policies(dev_plan), pod, DNS, 53, "UDP")
    assert allowed(_policies(dev_plan), pod, DNS, 53, "TCP")


@pytest.mark.parametrize(
    ("source", "target", "port"),
    [
        (STRANGER, FLUID_PREDICTOR, 8012),  # only Knative's and Istio's namespaces call models
        (COPY_JOB, FLUID_PREDICTOR, 8080),
        (FLUID_PREDICTOR, S3, 443),  # a `cache` predictor reads the cache, fetches nothing
        (FLUID_PREDICTOR, JINDO_WORKER, 8101),  # it reads through the FUSE mount on its node
        (STRANGER, JINDO_WORKER, 8101),
        (JINDO_WORKER, Outside("52.219.170.1"), 80),  # S3 over TLS only
        (STRANGER, COPY_JOB, 8080),
        (STREAM_PREDICTOR, Outside("52.219.170.1"), 80),
        (FLUID_PREDICTOR, DNS, 8080),
    ],
)
def test_everything_else_is_denied(dev_plan: Plan, source: Peer, target: Peer, port: int) -> None:
    assert not allowed(_policies(dev_plan), source, target, port)


def test_kourier_reaches_the_predictors_and_istio_is_not_trusted(kourier_plan: Plan) -> None:
    policies = _policies(kourier_plan)
    assert allowed(policies, KOURIER, FLUID_PREDICTOR, 8012)
    assert not allowed(policies, GATEWAY, FLUID_PREDICTOR, 8012)


@pytest.mark.parametrize("stack", ["dev", "prod", "kourier"])
def test_both_namespaces_default_to_deny_and_the_cni_enforces_it(
    stack: str, request: pytest.FixtureRequest
) -> None:
    plan: Plan = request.getfixturevalue(f"{stack}_plan")
    deny = [p for p in _policies(plan) if p["metadata"]["name"] == "default-deny"]
    assert sorted(p["metadata"]["namespace"] for p in deny) == ["image-mirror", MODELS]
    for policy in deny:
        assert policy["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    # Without the VPC CNI's policy agent the objects are accepted and ignored.
    cluster = plan.one("eks:index:Cluster")["inputs"]
    assert cluster["vpcCniOptions"]["enableNetworkPolicy"] is True
