"""The scheduler rules of tests/nodes.py, shown on cases whose answer Kubernetes documents."""

from __future__ import annotations

from tests.nodes import (
    NodeShape,
    Taint,
    expression_matches,
    landing,
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
