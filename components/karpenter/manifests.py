"""Pure builders for Karpenter: the `gpu` EC2NodeClass and NodePool, and the chart's values.

Field meanings are from aws/karpenter-provider-aws at v1.14.1: website/content/en/docs/concepts/
nodeclasses.md (EC2NodeClass), nodepools.md and disruption.md (NodePool); every object is checked
against the real CRDs in vendor/crds by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components import versions
from components.config.model import GpuNodesConfig
from components.image_mirror import UPSTREAM, ImageMirror
from components.karpenter.builder_script import CONTAINERD_ROOT, FILESYSTEM_LABEL, SOCI_ROOT
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


IMAGE_DEVICE = "/dev/xvdb"
"""Device name of the restored image volume (AL2023's udev rules link the NVMe device to it)."""
IMAGE_MOUNT = "/mnt/gpu-images"
IMAGE_VOLUME_IOPS = 6000
IMAGE_VOLUME_THROUGHPUT_MIBPS = 500
"""gp3 performance of the restored volume: above the 300 MiB/s initialization rate, so the
volume, not its throughput, is what an initializing read waits for (gp3 allows 0.25 MiB/s per
IOPS, so 500 MiB/s needs at least 2000 IOPS)."""
ZONE_LABEL = "topology.kubernetes.io/zone"


@dataclass(frozen=True)
class ImageVolume:
    """The data volume every GPU node restores from the stack's image snapshot."""

    snapshot_id: Any
    """The snapshot's id; in the program the Output of the snapshot resource, so only this field
    of the EC2NodeClass's spec is unknown during a preview."""
    size_gib: int
    initialization_rate_mibps: int | None
    """EBS Provisioned Rate for Volume Initialization; None where Fast Snapshot Restore is on
    (a rate would override FSR: EC2 API Reference, EbsBlockDevice VolumeInitializationRate)."""


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


def image_volume_node_config() -> str:
    """nodeadm NodeConfig: SOCI parallel pull as before, and RAID0 no longer bound over
    containerd's root and SOCI's store, which come from the restored volume instead.

    Karpenter appends its own NodeConfig (only `localStorage.strategy: RAID0`) after ours
    (aws/karpenter-provider-aws:pkg/providers/amifamily/bootstrap/nodeadm.go@v1.14.1 `Script`);
    nodeadm merges with mergo WithOverride, where an empty field does not override, so our
    `disabledMounts` stay (awslabs/amazon-eks-ami:nodeadm/internal/api/merge.go@v20260724) and
    `setup-local-disks raid0 --no-bind-containerd --no-bind-soci` keeps kubelet and pod logs on
    the NVMe (nodeadm/internal/system/local_disk.go, templates/al2023/runtime/bin/
    setup-local-disks). aws-samples/karpenter-blueprints:blueprints/soci-snapshotter/README.md
    @529b88c documents the same merge for `disabledMounts: [SOCI]`.
    """
    return """apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  featureGates:
    FastImagePull: true
  instance:
    localStorage:
      strategy: RAID0
      disabledMounts:
        - Containerd
        - SOCI
"""


def image_volume_script() -> str:
    """Mount the restored volume's containerd root and SOCI store before containerd starts.

    Order on AL2023 (awslabs/amazon-eks-ami@v20260724 templates/al2023/runtime/rootfs/etc/
    systemd/system/): nodeadm-config runs before cloud-init (writes the containerd and SOCI
    configs), this script runs in cloud-final, nodeadm-run starts after cloud-final and only
    then sets up the local disks and starts containerd (nodeadm/cmd/nodeadm/init/init.go: the
    local-disk aspect and the daemons are the run phase). nodeadm then imports the pause image
    into SOCI's store from /etc/eks/pause.tar (nodeadm/internal/containerd/sandbox_image.go), so
    hiding the AMI's own /var/lib/containerd loses nothing. fstab keeps the mounts across a
    reboot; `nofail` is absent on purpose: a node without its images must not start.
    """
    after = f"x-systemd.requires-mounts-for={IMAGE_MOUNT}"
    return f"""#!/bin/bash
set -euo pipefail
for _ in $(seq 1 120); do [ -b {IMAGE_DEVICE} ] && break; sleep 1; done
[ -b {IMAGE_DEVICE} ] || {{ echo "image volume {IMAGE_DEVICE} not attached" >&2; exit 1; }}
mkdir -p {IMAGE_MOUNT} {CONTAINERD_ROOT} {SOCI_ROOT}
grep -q 'LABEL={FILESYSTEM_LABEL}' /etc/fstab || cat >> /etc/fstab <<'FSTAB'
LABEL={FILESYSTEM_LABEL} {IMAGE_MOUNT} xfs defaults,noatime 0 2
{IMAGE_MOUNT}/containerd {CONTAINERD_ROOT} none bind,{after} 0 0
{IMAGE_MOUNT}/soci-snapshotter-grpc {SOCI_ROOT} none bind,{after} 0 0
FSTAB
systemctl stop containerd.service soci-snapshotter.service 2>/dev/null || true
for path in {IMAGE_MOUNT} {CONTAINERD_ROOT} {SOCI_ROOT}; do
  mountpoint -q "$path" || mount "$path"
done
xfs_growfs {IMAGE_MOUNT}
"""


def mime_document(parts: list[tuple[str, str]]) -> str:
    """A MIME multi-part user data document, as Karpenter parses it for AL2023 (it starts with
    `MIME-Version:`; nodeadm.go `parseUserData`)."""
    lines = ["MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="//"', ""]
    for content_type, body in parts:
        lines += ["--//", f"Content-Type: {content_type}", "", body.rstrip("\n"), ""]
    lines.append("--//--")
    return "\n".join(lines) + "\n"


def image_volume_mapping(volume: ImageVolume) -> dict[str, Any]:
    """The restored volume's block device mapping (nodeclasses.md@v1.14.1 blockDeviceMappings).

    No `encrypted`: a volume from a snapshot takes the snapshot's encryption, which the builder's
    encrypted volume gives it (the CRD: "If you are creating a volume from a snapshot, you can't
    specify an encryption value")."""
    ebs: dict[str, Any] = {
        "snapshotID": volume.snapshot_id,
        "volumeSize": f"{volume.size_gib}Gi",
        "volumeType": "gp3",
        "iops": IMAGE_VOLUME_IOPS,
        "throughput": IMAGE_VOLUME_THROUGHPUT_MIBPS,
        "deleteOnTermination": True,
    }
    if volume.initialization_rate_mibps is not None:
        ebs["volumeInitializationRate"] = volume.initialization_rate_mibps
    return {"deviceName": IMAGE_DEVICE, "ebs": ebs}


def ec2_node_class(
    settings: GpuNodesConfig,
    cluster_name: str,
    node_role_name: str,
    tags: dict[str, str],
    *,
    imds_hop_limit: int,
    image_volume: ImageVolume | None = None,
) -> dict[str, Any]:
    """How a GPU node is launched: AMI, subnets, security groups, disks, IMDS, user data.

    `imds_hop_limit` is the stack's `imdsHopLimit`, the same value the managed node groups'
    launch templates get, so the key means the same on every node whichever provisioner runs
    the GPUs (aws/karpenter-provider-aws:website/content/en/docs/concepts/nodeclasses.md@v1.14.1
    `spec.metadataOptions.httpPutResponseHopLimit`).
    """
    discovery = [{"tags": {DISCOVERY_TAG: cluster_name}}]
    mappings: list[dict[str, Any]] = [
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
    ]
    user_data = node_user_data()
    if image_volume is not None:
        mappings.append(image_volume_mapping(image_volume))
        user_data = mime_document(
            [
                ('text/x-shellscript; charset="us-ascii"', image_volume_script()),
                ("application/node.eks.aws", image_volume_node_config()),
            ]
        )
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
            "blockDeviceMappings": mappings,
            "userData": user_data,
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
                        *_fast_restore_zones(settings),
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


def _fast_restore_zones(settings: GpuNodesConfig) -> list[dict[str, Any]]:
    """With Fast Snapshot Restore, nodes launch only in its zones: elsewhere the volume would
    initialize lazily, with no rate either (ImageVolume.initialization_rate_mibps)."""
    zones = settings.cold_start.fast_snapshot_restore_zones
    if not zones:
        return []
    return [{"key": ZONE_LABEL, "operator": "In", "values": list(zones)}]


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
