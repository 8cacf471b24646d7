"""Warm GPU slots: low-priority placeholder pods that keep GPU nodes up until a predictor needs one.

Karpenter 1.14 has two ways to hold spare capacity. `CapacityBuffer` (autoscaling.x-k8s.io) is
Alpha behind the `capacityBuffer` feature gate, off by default
(aws/karpenter-provider-aws:charts/karpenter/values.yaml@v1.14.1 `settings.featureGates`), and
documented only under website/content/en/preview/concepts/capacitybuffers.md@v1.14.1, not in
the v1.14 docs. The stack uses the pattern that needs no gate: a Deployment of placeholder pods
at a negative PriorityClass (aws-samples/karpenter-blueprints:blueprints/overprovision@529b88c
uses value -10). Each placeholder requests one GPU, so Karpenter launches a node for it; a
predictor (priority 0) that finds no free GPU makes the scheduler preempt a placeholder and binds
to its node at once; the evicted placeholder turns Pending and Karpenter starts the next warm
node, within `gpuNodes.gpuLimit`. A node holding a placeholder is not empty, so `WhenEmpty`
consolidation leaves it.

The placeholder runs `sleep` in the storage-initializer image, which every GPU node already has
(it is on the GPU path and on the image snapshot), under the restricted Pod Security profile.
"""

from __future__ import annotations

from typing import Any

from components.manifests.restricted import (
    restricted_container_security,
    restricted_pod_security,
)
from components.naming import GPU_TAINT_KEY, gpu_node_labels

NAMESPACE = "gpu-warm-slots"
PRIORITY_CLASS = "gpu-warm-slot"
PRIORITY = -10
"""Below every predictor (no PriorityClass: priority 0), as the overprovision blueprint does."""
APP_LABEL = {"app.kubernetes.io/name": "gpu-warm-slot"}
USER_ID = 1000
"""The storage-initializer image's user (USER 1000 in its Dockerfile)."""


def namespace() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": NAMESPACE,
            "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
        },
    }


def priority_class() -> dict[str, Any]:
    """Placeholders never preempt anything themselves (preemptionPolicy Never)."""
    return {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": PRIORITY_CLASS},
        "value": PRIORITY,
        "globalDefault": False,
        "preemptionPolicy": "Never",
        "description": "Warm GPU slots: evicted first when a model needs the GPU.",
    }


def deployment(slots: int, image: str) -> dict[str, Any]:
    """`slots` placeholders of one GPU each on the GPU nodes (their labels and taint)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "gpu-warm-slot", "namespace": NAMESPACE, "labels": APP_LABEL},
        "spec": {
            "replicas": slots,
            "selector": {"matchLabels": APP_LABEL},
            "template": {
                "metadata": {"labels": APP_LABEL},
                "spec": {
                    "priorityClassName": PRIORITY_CLASS,
                    # Preemption should free the GPU at once.
                    "terminationGracePeriodSeconds": 0,
                    "automountServiceAccountToken": False,
                    "nodeSelector": gpu_node_labels(),
                    "tolerations": [
                        {
                            "key": GPU_TAINT_KEY,
                            "operator": "Equal",
                            "value": "true",
                            "effect": "NoSchedule",
                        }
                    ],
                    "securityContext": restricted_pod_security(USER_ID),
                    "containers": [
                        {
                            "name": "placeholder",
                            "image": image,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["sleep", "infinity"],
                            "resources": {
                                "requests": {"cpu": "10m", "memory": "16Mi", "nvidia.com/gpu": "1"},
                                "limits": {"memory": "16Mi", "nvidia.com/gpu": "1"},
                            },
                            "securityContext": restricted_container_security(),
                        }
                    ],
                },
            },
        },
    }
