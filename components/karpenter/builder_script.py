"""User data of the snapshot builder: pull the GPU path's images onto a data volume, then stop.

The builder boots the standard EKS AL2023 AMI of the release the GPU nodes run (same containerd,
same soci-snapshotter), formats its data volume, puts containerd's root and SOCI's store on it,
pulls every image with the SOCI snapshotter (the one nodeadm enables with FastImagePull, so the
unpacked layers are where a GPU node's containerd looks for them), tags each image with the
names pods use, pins it, records the result as a tag on its own instance and powers off (the
instance's shutdown behaviour is `stop`, so the volume stays for the snapshot).

Sources (awslabs/amazon-eks-ami@v20260724 unless named):
- containerd and SOCI configuration: nodeadm/internal/containerd/config2.template.toml (root
  /var/lib/containerd, CRI `snapshotter = "soci"`, `discard_unpacked_layers`, proxy plugin `soci`
  with root /var/lib/soci-snapshotter-grpc) and nodeadm/internal/containerd/snapshotter/
  soci-snapshotter.config.toml (copied below as is);
- ECR login for nerdctl with the `https://` prefix: templates/al2023/provisioners/
  install-nodeadm.sh; SOCI reads the Docker config nerdctl writes (awslabs/soci-snapshotter:
  docs/registry-authentication.md@77fb426, "Docker Config (default)");
- pinning: templates/al2023/runtime/bin/cache-pause-container labels the pause image
  `io.cri-containerd.pinned=pinned` "to keep the image from being GC'd"; kubelet's image garbage
  collection skips pinned images.
"""

from __future__ import annotations

import shlex

from components.karpenter.snapshot_images import SnapshotImage

DATA_DEVICE = "/dev/xvdb"
"""Block device name of the builder's data volume (AL2023's udev rules link the NVMe device)."""
FILESYSTEM_LABEL = "gpu-images"
MOUNT_POINT = "/mnt/gpu-images"
CONTAINERD_ROOT = "/var/lib/containerd"
SOCI_ROOT = "/var/lib/soci-snapshotter-grpc"
RESULT_TAG = "kserve-fluid/image-build"
"""Tag the builder sets on its own instance: `ok`, or `failed: <step>`."""
BUILDER_TAG = "kserve-fluid/image-builder"
"""Tag on the builder instance (value: the stack name); the only instances it may tag."""

CONTAINERD_CONFIG = f"""version = 3
root = "{CONTAINERD_ROOT}"
state = "/run/containerd"

[grpc]
address = "/run/containerd/containerd.sock"

[plugins.'io.containerd.cri.v1.images']
discard_unpacked_layers = true
snapshotter = "soci"
disable_snapshot_annotations = false

[proxy_plugins.soci]
type = "snapshot"
address = "/run/soci-snapshotter-grpc/soci-snapshotter-grpc.sock"

[proxy_plugins.soci.exports]
root = "{SOCI_ROOT}"
"""
"""The parts of nodeadm's containerd config (config2.template.toml, UseSOCISnapshotter) that
decide where and how images are stored; the runtime parts do not matter to a pull."""

SOCI_CONFIG = """debug = false

[content_store]
type = 'containerd'

[cri_keychain]
enable_keychain = true
image_service_path = '/run/containerd/containerd.sock'

[pull_modes.parallel_pull_unpack]
enable = true
concurrent_download_chunk_size = "16mb"
discard_unpacked_layers = true
max_concurrent_downloads = -1
max_concurrent_downloads_per_image = 20
max_concurrent_unpacks = -1
max_concurrent_unpacks_per_image = 12

[pull_modes.parallel_pull_unpack.decompress_streams."gzip"]
path = '/usr/bin/unpigz'
args = ['-d', '-c']
"""
"""nodeadm/internal/containerd/snapshotter/soci-snapshotter.config.toml@v20260724, as is."""


def builder_script(images: tuple[SnapshotImage, ...], registry: str, region: str) -> str:
    """The builder's shell user data for `images` from `registry` (the stack's ECR)."""
    q = shlex.quote
    pulls = []
    for image in images:
        pulls.append(f"pull {q(image.pull)}")
        for name in image.names:
            pulls.append(f"name {q(image.pull)} {q(name)}")
        pulls.append(f"pin {q(image.pull)}")
    steps = "\n".join(pulls)
    return f"""#!/bin/bash
set -euo pipefail
STEP=start
TOKEN=$(curl -sf -X PUT http://169.254.169.254/latest/api/token \\
  -H 'X-aws-ec2-metadata-token-ttl-seconds: 3600')
INSTANCE=$(curl -sf -H "X-aws-ec2-metadata-token: $TOKEN" \\
  http://169.254.169.254/latest/meta-data/instance-id)
result() {{
  aws ec2 create-tags --region {q(region)} --resources "$INSTANCE" \\
    --tags "Key={RESULT_TAG},Value=$1" || true
}}
finish() {{
  code=$?
  if [ "$code" -ne 0 ]; then result "failed: $STEP"; fi
  sync
  poweroff
}}
trap finish EXIT

STEP=volume
for _ in $(seq 1 120); do [ -b {DATA_DEVICE} ] && break; sleep 1; done
mkfs.xfs -f -L {FILESYSTEM_LABEL} {DATA_DEVICE}
mkdir -p {MOUNT_POINT}
mount -o noatime LABEL={FILESYSTEM_LABEL} {MOUNT_POINT}
systemctl stop containerd.service soci-snapshotter.service soci-snapshotter.socket || true
for dir in containerd soci-snapshotter-grpc; do
  mkdir -p {MOUNT_POINT}/$dir /var/lib/$dir
  mount --bind {MOUNT_POINT}/$dir /var/lib/$dir
done

STEP=runtime
mkdir -p /etc/containerd /etc/soci-snapshotter-grpc
cat > /etc/containerd/config.toml <<'CONTAINERD'
{CONTAINERD_CONFIG}CONTAINERD
cat > /etc/soci-snapshotter-grpc/config.toml <<'SOCI'
{SOCI_CONFIG}SOCI
systemctl start soci-snapshotter.socket soci-snapshotter.service
systemctl start containerd.service

STEP=login
aws ecr get-login-password --region {q(region)} | \\
  nerdctl login --username AWS --password-stdin {q("https://" + registry)}

pull() {{
  STEP="pull $1"
  for attempt in 1 2 3; do
    nerdctl --namespace k8s.io pull --snapshotter soci --unpack true --quiet "$1" && return 0
    sleep $((attempt * 10))
  done
  return 1
}}
name() {{
  STEP="tag $2"
  ctr --namespace k8s.io images tag --force "$1" "$2"
  ctr --namespace k8s.io images label "$2" io.cri-containerd.pinned=pinned \\
    io.cri-containerd.image=managed
}}
pin() {{
  STEP="pin $1"
  ctr --namespace k8s.io images label "$1" io.cri-containerd.pinned=pinned \\
    io.cri-containerd.image=managed
}}
{steps}

STEP=record
ctr --namespace k8s.io images list > {MOUNT_POINT}/images.txt
systemctl stop containerd.service soci-snapshotter.service soci-snapshotter.socket
umount /var/lib/containerd /var/lib/soci-snapshotter-grpc
umount {MOUNT_POINT}
result ok
"""
