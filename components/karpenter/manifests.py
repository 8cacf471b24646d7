"""Pure builders for Karpenter: the `gpu` EC2NodeClass and NodePool, and the chart's values.

Field meanings are from aws/karpenter-provider-aws at v1.14.1: website/content/en/docs/concepts/
nodeclasses.md (EC2NodeClass), nodepools.md and disruption.md (NodePool); every object is checked
against the real CRDs in vendor/crds by the tests.
"""

from __future__ import annotations

from typing import Any

from components import versions
from components.config.model import GpuNodesConfig
from components.image_mirror import UPSTREAM, ImageMirror
from components.naming import GPU_TAINT_KEY, data_node_labels, gpu_node_labels
from components.versions import GPU_NODE_AMI_ALIAS

NAMESPACE = "kube-system"
"""The guide installs Karpenter in kube-system (KARPENTER_NAMESPACE in step01-config.sh)."""
SERVICE_ACCOUNT = "karpenter"
"""The chart's service account name (`karpenter.serviceAccountName` with no override)."""
NODE_POOL = "gpu"
NODE_CLASS = "gpu"
DISCOVERY_TAG = "karpenter.sh/discovery"
DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"
ROOT_DEVICE = "/dev/xvda"
"""AL2023's root device name (nodeclasses.md, blockDeviceMappings, AL2023)."""
TERMINATION_GRACE_PERIOD = "15m"
"""How long a deleted GPU node may drain before Karpenter forces it (nodepools.md
terminationGracePeriod): bounds a destroy or a manual node delete behind a do-not-disrupt pod."""
CONTROLLER_RESOURCES = {
    "requests": {"cpu": "1", "memory": "1Gi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}
"""The getting-started guide's controller resources (scripts/step08-apply-helm-chart.sh)."""


def consolidate_after(keep_warm_minutes: int) -> str:
    """The keep-warm window as a NodePool duration (0 = remove an empty node at once)."""
    return f"{keep_warm_minutes}m" if keep_warm_minutes else "0s"


def node_user_data() -> str:
    """nodeadm NodeConfig merged by Karpenter after its own (nodeclasses.md, userData AL2023).

    FastImagePull turns on containerd's SOCI snapshotter for parallel pull and unpack; nodeadm
    ignores it below 4 vCPU / 7 GiB (awslabs/amazon-eks-ami:nodeadm/internal/containerd/
    config.go@v20260724 `UseSOCISnapshotter`), which no GPU type in the catalogue is. Its root
    volume advice (600 MiB/s, nodeadm/doc/examples.md) does not apply: instanceStorePolicy RAID0
    puts containerd on the instance's NVMe.
    """
    return """apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  featureGates:
    FastImagePull: true
"""


def ec2_node_class(
    settings: GpuNodesConfig,
    cluster_name: str,
    node_role_name: str,
    tags: dict[str, str],
    *,
    imds_hop_limit: int,
) -> dict[str, Any]:
    """How a GPU node is launched: AMI, subnets, security groups, disks, IMDS, user data.

    `imds_hop_limit` is the stack's `imdsHopLimit`, the same value the managed node groups'
    launch templates get, so the key means the same on every node whichever provisioner runs
    the GPUs (aws/karpenter-provider-aws:website/content/en/docs/concepts/nodeclasses.md@v1.14.1
    `spec.metadataOptions.httpPutResponseHopLimit`).
    """
    discovery = [{"tags": {DISCOVERY_TAG: cluster_name}}]
    return {
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": NODE_CLASS},
        "spec": {
            # Karpenter creates and deletes the instance profile for this role itself.
            "role": node_role_name,
            "amiSelectorTerms": [{"alias": GPU_NODE_AMI_ALIAS}],
            "subnetSelectorTerms": discovery,
            "securityGroupSelectorTerms": discovery,
            # kubelet and containerd on the NVMe instance store: images pull to local SSD.
            "instanceStorePolicy": "RAID0",
            "metadataOptions": {
                "httpEndpoint": "enabled",
                "httpProtocolIPv6": "disabled",
                # 1 (the default): pods cannot reach the node role's credentials through IMDS.
                "httpPutResponseHopLimit": imds_hop_limit,
                "httpTokens": "required",
            },
            "blockDeviceMappings": [
                {
                    "deviceName": ROOT_DEVICE,
                    "rootVolume": True,
                    "ebs": {
                        "volumeSize": f"{settings.root_disk_gib}Gi",
                        "volumeType": "gp3",
                        "encrypted": True,
                        "deleteOnTermination": True,
                    },
                }
            ],
            "userData": node_user_data(),
            # Karpenter adds its own ownership tags; these make GPU hours show up per stack in
            # cost reports (the karpenter.sh and kubernetes.io/cluster domains are reserved).
            "tags": {**tags, "kserve-fluid/node-role": "gpu"},
        },
    }


def node_pool(settings: GpuNodesConfig) -> dict[str, Any]:
    """Which GPU nodes Karpenter may start, how many GPUs at most, and when it removes them."""
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": NODE_POOL},
        "spec": {
            "template": {
                # The labels and taint the GPU managed node group sets: the InferenceServices'
                # selector, the device plugin's affinity and Fluid's FUSE placement rely on them.
                "metadata": {"labels": gpu_node_labels()},
                "spec": {
                    "nodeClassRef": {
                        "group": "karpenter.k8s.aws",
                        "kind": "EC2NodeClass",
                        "name": NODE_CLASS,
                    },
                    "taints": [{"key": GPU_TAINT_KEY, "value": "true", "effect": "NoSchedule"}],
                    "requirements": [
                        {
                            "key": "node.kubernetes.io/instance-type",
                            "operator": "In",
                            "values": list(settings.instance_types),
                        },
                        {
                            "key": "karpenter.sh/capacity-type",
                            "operator": "In",
                            "values": [settings.karpenter_capacity_type],
                        },
                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
                    ],
                    # A GPU node lives only while models are called; expiry would be the one
                    # forced disruption of a node in the middle of a request (disruption.md).
                    "expireAfter": "Never",
                    "terminationGracePeriod": TERMINATION_GRACE_PERIOD,
                },
            },
            # gpuNodes.gpuLimit: at most this many GPUs at once.
            "limits": {"nvidia.com/gpu": str(settings.gpu_limit)},
            "disruption": {
                # Only empty nodes go, after the keep-warm window; Knative's scale to zero
                # empties them.
                "consolidationPolicy": "WhenEmpty",
                "consolidateAfter": consolidate_after(settings.keep_warm_minutes),
                # Never replace a drifted node that still runs a model (drift would evict a
                # predictor after terminationGracePeriod even with do-not-disrupt,
                # disruption.md); a drifted node is replaced when it next starts from zero.
                "budgets": [{"nodes": "0", "reasons": ["Drifted"]}, {"nodes": "100%"}],
            },
        },
    }


def predictor_annotations() -> dict[str, str]:
    """Pod annotation that keeps Karpenter from voluntarily disrupting a serving predictor's node.

    Nodes with such pods are excluded from consolidation and drift (disruption.md, pod-level
    controls); the pod leaves when Knative scales it to zero, and the node follows after the
    keep-warm window.
    """
    return {DO_NOT_DISRUPT: "true"}


def controller_values(
    cluster_name: str, interruption_queue: str, region: str, mirror: ImageMirror = UPSTREAM
) -> dict[str, Any]:
    """Chart values: 2 replicas on the data nodes, the guide's resources, this cluster's queue.

    The chart's default affinity (`karpenter.sh/nodepool DoesNotExist`, one replica per host)
    stays, so the controller never runs on a node it manages (charts/karpenter/values.yaml
    @v1.14.1). AWS_REGION is set because without it the controller asks IMDS for the region
    (pkg/operator/operator.go@v1.14.1 `NewOperator`), which a pod cannot reach on nodes with
    IMDS hop limit 1 (imdsHopLimit), and Pod Identity injects credentials, not the region.
    """
    return {
        "replicas": 2,
        "nodeSelector": {"kubernetes.io/os": "linux", **data_node_labels()},
        "controller": {
            # charts/karpenter/templates/_helpers.tpl@v1.14.1 `karpenter.controller.image`:
            # repository:tag@digest; the digest is the chart's own (components/versions.py).
            "image": {
                "repository": mirror.repository(versions.KARPENTER_CONTROLLER_IMAGE),
                "tag": versions.KARPENTER.version,
                "digest": versions.digest_of(versions.KARPENTER_CONTROLLER_IMAGE),
            },
            "resources": CONTROLLER_RESOURCES,
            "env": [{"name": "AWS_REGION", "value": region}],
        },
        "settings": {"clusterName": cluster_name, "interruptionQueue": interruption_queue},
    }
