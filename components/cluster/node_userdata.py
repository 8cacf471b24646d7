"""User data for the node launch templates (AL2023, merged by EKS with its own NodeConfig).

EKS managed node groups accept MIME multi-part user data in a launch template that names no AMI:
EKS appends the part that joins the cluster, so ours only adds what the nodes need on top.
"""

from __future__ import annotations

import base64
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

CACHE_DEVICE = "/dev/xvdb"
CACHE_LABEL = "modelcache"


def cache_volume_script(cache_path: str, device: str = CACHE_DEVICE) -> str:
    """Format (first boot only) and mount the data node's cache volume at the JindoFS path.

    AL2023's udev rules link the NVMe device of an EBS volume to the block device name of the
    launch template mapping, so `device` appears once the volume is attached.
    """
    return f"""#!/bin/bash
set -euo pipefail
for _ in $(seq 1 120); do [ -b {device} ] && break; sleep 1; done
[ -b {device} ] || {{ echo "cache volume {device} not attached" >&2; exit 1; }}
blkid {device} >/dev/null 2>&1 || mkfs.xfs -L {CACHE_LABEL} {device}
mkdir -p {cache_path}
grep -q 'LABEL={CACHE_LABEL}' /etc/fstab || \\
  echo 'LABEL={CACHE_LABEL} {cache_path} xfs defaults,noatime,nofail 0 2' >> /etc/fstab
mount -a
"""


def instance_store_node_config() -> str:
    """nodeadm NodeConfig putting kubelet and containerd on the instance's NVMe store (RAID0)."""
    return """apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  instance:
    localStorage:
      strategy: RAID0
"""


def mime_user_data(parts: list[tuple[str, str]]) -> str:
    """Base64 MIME multi-part document of (content type, body) parts, as launch templates take."""
    message = MIMEMultipart(boundary="//")
    for content_type, body in parts:
        subtype = content_type.split("/", 1)[1]
        part = MIMEText(body, _subtype=subtype)
        part.replace_header("Content-Type", f'{content_type}; charset="us-ascii"')
        message.attach(part)
    return base64.b64encode(message.as_string().encode()).decode()
