"""Destroy-order rules over the dependency graph: each fails on its own mutation."""

from __future__ import annotations

from typing import Any

from tests.policy.support import add_record, mutate, record, urn_of, violations

NAMESPACE = "kubernetes:core/v1:Namespace"
DATASET = "kubernetes:data.fluid.io/v1alpha1:Dataset"
RELEASE = "kubernetes:helm.sh/v3:Release"
MNG = "eks:index:ManagedNodeGroup"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"


FLUID = f"{RELEASE} fluid"
NODES_MESSAGE = (
    "does not depend on the node group running the controllers; destroy could remove the "
    "nodes first and strand finalizers"
)


def test_object_without_the_controller_nodes_fails(dev: dict[str, Any]) -> None:
    """The Fluid release reaches the data node group directly and through CoreDNS."""
    broken = mutate(dev, lambda d: record(d, RELEASE, "fluid").update(dependencies=[]))
    assert violations("destroy-after-controller-nodes", broken) == [f"{FLUID}: {NODES_MESSAGE}"]


def test_api_server_only_objects_need_no_nodes(dev: dict[str, Any]) -> None:
    """A Namespace or a CRD-only release needs only the API server (DESIGN.md), unless the
    stack's policy config says otherwise."""
    assert record(dev, NAMESPACE, "models")["dependencies"] == []
    assert violations("destroy-after-controller-nodes", dev) == []
    strict: dict[str, list[str]] = {"apiServerOnlyKinds": [], "apiServerOnlyReleases": []}
    messages = violations("destroy-after-controller-nodes", dev, strict)
    assert f"{NAMESPACE} models: {NODES_MESSAGE}" in messages
    assert f"{RELEASE} kserve-crd: {NODES_MESSAGE}" in messages


def test_the_gpu_node_group_does_not_count(dev_node_group: dict[str, Any]) -> None:
    """Its NoSchedule taint keeps the controllers off it: depending on it alone is not enough."""
    gpu = urn_of(dev_node_group, MNG, "cluster-gpu")
    broken = mutate(
        dev_node_group, lambda d: record(d, RELEASE, "fluid").update(dependencies=[gpu])
    )
    assert len(violations("destroy-after-controller-nodes", broken)) == 1


def test_dependency_through_a_parent_counts(dev: dict[str, Any]) -> None:
    """A child is deleted before its parent, so a parent's dependency holds for its children."""
    data = urn_of(dev, MNG, "cluster-data")

    def through_parent(document: dict[str, Any]) -> None:
        fluid = record(document, RELEASE, "fluid")
        parent = add_record(
            document, "kserve-fluid:cache:Models", "fluid-parent", {}, dependencies=[data]
        )
        fluid.update(dependencies=[], parent=parent["urn"])

    assert violations("destroy-after-controller-nodes", mutate(dev, through_parent)) == []


def test_custom_resource_without_its_crd_release_fails(dev: dict[str, Any]) -> None:
    fluid = urn_of(dev, RELEASE, "fluid")

    def drop_fluid(document: dict[str, Any]) -> None:
        dataset = record(document, DATASET)
        dataset["dependencies"] = [u for u in dataset["dependencies"] if u != fluid]

    assert violations("destroy-after-crd-owner", mutate(dev, drop_fluid)) == [
        f"{DATASET} model-cache-dataset: does not depend on the release installing "
        "data.fluid.io (fluid)"
    ]


def test_custom_resource_of_an_unknown_group_fails(dev: dict[str, Any]) -> None:
    data = urn_of(dev, MNG, "cluster-data")
    broken = mutate(
        dev,
        lambda d: add_record(d, NODE_POOL, "gpu", {"spec": {}}, dependencies=[data]),
    )
    assert violations("destroy-after-crd-owner", broken) == [
        f"{NODE_POOL} gpu: does not depend on the release installing karpenter.sh "
        "(karpenter, karpenter-crd)"
    ]
    unknown = mutate(
        dev,
        lambda d: add_record(
            d, "kubernetes:example.com/v1:Widget", "w", {"spec": {}}, dependencies=[data]
        ),
    )
    assert violations("destroy-after-crd-owner", unknown) == [
        "kubernetes:example.com/v1:Widget w: no release known to own API group example.com"
    ]


def test_karpenter_node_pool_after_its_release_passes(dev: dict[str, Any]) -> None:
    """When Karpenter lands, a NodePool that depends on its release passes both rules."""
    data = urn_of(dev, MNG, "cluster-data")

    def with_karpenter(document: dict[str, Any]) -> None:
        release = add_record(
            document, RELEASE, "karpenter", {"name": "karpenter"}, dependencies=[data]
        )
        add_record(document, NODE_POOL, "gpu", {"spec": {}}, dependencies=[release["urn"]])

    document = mutate(dev, with_karpenter)
    assert violations("destroy-after-crd-owner", document) == []
    assert violations("destroy-after-controller-nodes", document) == []


def test_load_balancer_without_the_network_fails(dev: dict[str, Any]) -> None:
    gateway = "istio-ingressgateway"
    broken = mutate(dev, lambda d: record(d, RELEASE, gateway).update(dependencies=[]))
    assert violations("destroy-load-balancer-before-network", broken) == [
        f"{RELEASE} {gateway}: creates a load balancer but does not depend on the network; "
        "destroy could delete the VPC while the ELB still holds it"
    ]


def test_online_gpu_node_group_taint_comes_from_its_child(dev_node_group: dict[str, Any]) -> None:
    """Stack policies see outputs: online the pulumi-eks component has no `taints`, its
    aws:eks/nodeGroup:NodeGroup child has them (effect NO_SCHEDULE)."""
    gpu = urn_of(dev_node_group, MNG, "cluster-gpu")

    def online_shape(document: dict[str, Any]) -> None:
        for name in ("cluster-gpu", "cluster-data"):
            component = record(document, MNG, name)
            taints = component["inputs"].pop("taints", [])
            add_record(
                document,
                "aws:eks/nodeGroup:NodeGroup",
                f"{name}-nodegroup",
                {"taints": taints, "nodeGroupName": name},
                parent=component["urn"],
            )
        record(document, RELEASE, "fluid").update(dependencies=[gpu])

    assert violations("destroy-after-controller-nodes", mutate(dev_node_group, online_shape)) == [
        f"{FLUID}: {NODES_MESSAGE}"
    ]


def test_objects_the_eks_component_creates_go_with_the_cluster(dev: dict[str, Any]) -> None:
    """Online, pulumi-eks may register Kubernetes objects under `eks:index:Cluster` (its own
    bootstrap); they cannot depend on node groups built after the cluster and are left out."""
    cluster = urn_of(dev, "eks:index:Cluster")
    inside = mutate(
        dev, lambda d: add_record(d, "kubernetes:apps/v1:Deployment", "x", {}, parent=cluster)
    )
    outside = mutate(dev, lambda d: add_record(d, "kubernetes:apps/v1:Deployment", "x", {}))
    assert violations("destroy-after-controller-nodes", inside) == []
    assert len(violations("destroy-after-controller-nodes", outside)) == 1
