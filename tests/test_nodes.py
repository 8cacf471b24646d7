"""The scheduler rules of tests/nodes.py, shown on cases whose answer Kubernetes documents."""

from __future__ import annotations

from tests.nodes import (
    NodeShape,
    Taint,
    expression_matches,
    landing,
    node_shapes,
    schedulable,
    term_matches,
    tolerates,
)

GPU = NodeShape(
    "gpu",
    {"kserve-fluid/node-role": "gpu", "nvidia.com/gpu.present": "true"},
    (Taint("nvidia.com/gpu", "true", "NoSchedule"),),
)
DATA = NodeShape("data", {"kserve-fluid/node-role": "data"})


def test_expressions() -> None:
    labels = {"a": "1", "n": "5"}
    assert expression_matches({"key": "a", "operator": "In", "values": ["1", "2"]}, labels)
    assert not expression_matches({"key": "b", "operator": "In", "values": ["1"]}, labels)
    # NotIn and DoesNotExist match a node without the label (nodeaffinity.go).
    assert expression_matches({"key": "type", "operator": "NotIn", "values": ["x"]}, labels)
    assert expression_matches({"key": "b", "operator": "DoesNotExist"}, labels)
    assert not expression_matches({"key": "a", "operator": "DoesNotExist"}, labels)
    assert expression_matches({"key": "n", "operator": "Gt", "values": ["4"]}, labels)
    assert not expression_matches({"key": "n", "operator": "Lt", "values": ["4"]}, labels)
    assert not term_matches({}, labels), "an empty term matches nothing"


def test_tolerations() -> None:
    taint = Taint("nvidia.com/gpu", "true", "NoSchedule")
    assert tolerates({"operator": "Exists"}, taint), "empty key + Exists tolerates everything"
    assert tolerates({"key": "nvidia.com/gpu", "operator": "Exists"}, taint)
    assert tolerates({"key": "nvidia.com/gpu", "value": "true"}, taint), "Equal is the default"
    assert not tolerates({"key": "nvidia.com/gpu", "value": "false"}, taint)
    assert not tolerates(
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}, taint
    )
    assert not tolerates({"key": "other", "operator": "Exists"}, taint)


def test_pods_land_where_selector_affinity_and_taints_allow() -> None:
    gpu_pod = {
        "nodeSelector": {"kserve-fluid/node-role": "gpu"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    }
    assert landing(gpu_pod, [GPU, DATA]) == {"gpu"}
    assert landing({**gpu_pod, "tolerations": []}, [GPU, DATA]) == set()
    assert landing({}, [GPU, DATA]) == {"data"}
    misspelt = {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "kserve-fluid/node-rol",
                                    "operator": "In",
                                    "values": ["data"],
                                }
                            ]
                        }
                    ]
                }
            }
        }
    }
    assert not schedulable(misspelt, DATA)


class _FakePlan:
    """Just what node_shapes reads: registrations by type."""

    def __init__(self, resources: list[dict]) -> None:
        self.resources = resources

    def of_type(self, typ: str) -> list[dict]:
        return [r for r in self.resources if r["type"] == typ]


def test_node_shapes_from_node_groups_and_karpenter_node_pools() -> None:
    plan = _FakePlan(
        [
            {
                "type": "eks:index:ManagedNodeGroup",
                "name": "cluster-data",
                "inputs": {"instanceTypes": ["m5n.xlarge"], "labels": {"role": "data"}},
            },
            {
                "type": "kubernetes:karpenter.sh/v1:NodePool",
                "name": "gpu-pool",
                "inputs": {
                    "metadata": {"name": "gpu"},
                    "spec": {
                        "template": {
                            "metadata": {"labels": {"nvidia.com/gpu.present": "true"}},
                            "spec": {
                                "requirements": [
                                    {
                                        "key": "node.kubernetes.io/instance-type",
                                        "operator": "In",
                                        "values": ["g5.8xlarge", "g6e.4xlarge"],
                                    }
                                ],
                                "taints": [
                                    {
                                        "key": "nvidia.com/gpu",
                                        "value": "true",
                                        "effect": "NoSchedule",
                                    }
                                ],
                            },
                        }
                    },
                },
            },
        ]
    )
    data, gpu = node_shapes(plan)
    assert data.labels["node.kubernetes.io/instance-type"] == "m5n.xlarge"
    assert data.labels["kubernetes.io/os"] == "linux" and not data.is_gpu
    assert gpu.is_gpu and gpu.labels["karpenter.sh/nodepool"] == "gpu"
    assert gpu.labels["node.kubernetes.io/instance-type"] == "g5.8xlarge"
    assert gpu.taints == (Taint("nvidia.com/gpu", "true", "NoSchedule"),)
