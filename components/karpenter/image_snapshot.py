"""Karpenter layer: the EBS snapshot of the GPU path's images every Karpenter GPU node restores.

A builder instance in a private subnet pulls the images from the stack's ECR by digest with the
SOCI snapshotter, pins them and stops itself; its data volume becomes the snapshot; the instance
is terminated (components/karpenter/snapshot_builder.py). No plain resource waits for a process
on an instance to finish, so a Pulumi dynamic provider runs those boto3 steps; its inputs (the
images' digests and names in the user data, the AMI release, the volume size) replace it when
they change, which gives the EC2NodeClass a new snapshot id, and Karpenter's drift the nodes.
`pulumi destroy` deletes the snapshot; nothing else of the builder outlives `pulumi up`.

With `gpuNodes.coldStart.fastSnapshotRestoreZones`, one `aws.ebs.FastSnapshotRestore` per zone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider

from components import versions
from components.context import LayerArgs, image_waits
from components.image_mirror import GPU_PATH_IMAGES, ImageMirror
from components.karpenter.builder_script import BUILDER_TAG, RESULT_TAG, builder_script
from components.karpenter.manifests import ImageVolume
from components.karpenter.snapshot_builder import BuildRequest, builder_for
from components.karpenter.snapshot_images import snapshot_images
from components.naming import tags

BUILDER_INSTANCE_TYPE = "m6i.2xlarge"
"""8 vCPUs for SOCI's parallel unpack, up to 12.5 Gbit/s from ECR; the build takes minutes, so
its cost is cents."""
PULL_ACTIONS = (
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchCheckLayerAvailability",
)


def builder_ami_parameter(kubernetes_version: str) -> str:
    """The SSM parameter of the standard AL2023 EKS AMI of the GPU nodes' release: same
    containerd and soci-snapshotter as the NVIDIA variant, on a CPU instance (the path Karpenter
    resolves for the alias: aws/karpenter-provider-aws:pkg/providers/amifamily/al2023.go@v1.14.1
    `resolvePath`)."""
    release = versions.GPU_NODE_AMI_ALIAS.split("@", 1)[1]
    name = f"amazon-eks-node-al2023-x86_64-standard-{kubernetes_version}-{release}"
    return (
        f"/aws/service/eks/optimized-ami/{kubernetes_version}/amazon-linux-2023/x86_64/"
        f"standard/{name}/image_id"
    )


def builder_policy(mirror: ImageMirror, stack: str) -> dict[str, Any]:
    """Pull from the stack's ECR repositories only and set the build result tag on instances
    tagged as this stack's builder (first pulls through the cache rules: the images layer's
    policy, attached to the builder's role as to the nodes')."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "EcrLogin",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*",
        },
        {
            "Sid": "PullStackImages",
            "Effect": "Allow",
            "Action": list(PULL_ACTIONS),
            "Resource": mirror.repository_arn(f"{mirror.namespace}/*"),
        },
    ]
    statements.append(
        {
            "Sid": "BuildResultOnItself",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": f"arn:aws:ec2:{mirror.region}:{mirror.account_id}:instance/*",
            "Condition": {
                "StringEquals": {f"aws:ResourceTag/{BUILDER_TAG}": stack},
                "ForAllValues:StringEquals": {"aws:TagKeys": [RESULT_TAG]},
            },
        }
    )
    return {"Version": "2012-10-17", "Statement": statements}


class _SnapshotProvider(ResourceProvider):
    """create builds the snapshot, delete deletes it; any changed input replaces it."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        builder = builder_for(str(props["region"]), str(props.get("awsProfile") or ""))
        snapshot_id = builder.create(BuildRequest.of(props))
        return CreateResult(id_=snapshot_id, outs={**props, "snapshotId": snapshot_id})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = sorted(k for k in {*olds, *news} if k != "snapshotId" and not k.startswith("__"))
        changed = [k for k in keys if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=False)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        builder_for(str(props["region"]), str(props.get("awsProfile") or "")).delete(id_)


class _ImageSnapshotResource(pulumi.dynamic.Resource, module="kserve-fluid", name="ImageSnapshot"):
    snapshotId: pulumi.Output[str]  # dynamic outputs are named as the props

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
        super().__init__(_SnapshotProvider(), name, {**props, "snapshotId": None}, opts)


@dataclass(frozen=True)
class ImageSnapshotArgs(LayerArgs):
    vpc_id: pulumi.Input[str]
    private_subnet_ids: pulumi.Input[Sequence[str]]
    pull_through_policy_arn: pulumi.Input[str] | None
    """The images layer's node policy for first pulls through the stack's cache rules."""


class GpuImageSnapshot(pulumi.ComponentResource):
    """The snapshot, the builder's role and security group, and Fast Snapshot Restore."""

    image_volume: ImageVolume
    ready: list[pulumi.Resource]

    def __init__(
        self, name: str, args: ImageSnapshotArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kserve-fluid:images:GpuImageSnapshot", name, None, opts)
        config, mirror, cold = args.config, args.mirror, args.config.gpu_nodes.cold_start
        images_ready = image_waits(args.image_ready, *(i.upstream for i in GPU_PATH_IMAGES))
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-builder-role",
            description=f"{config.name}: GPU image snapshot builder (pulls from the stack's ECR)",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ec2.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            tags=tags(config),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-builder-policy",
            role=role.name,
            policy=json.dumps(builder_policy(mirror, config.name)),
            opts=pulumi.ResourceOptions(parent=role),
        )
        grants: list[pulumi.Resource] = [policy]
        if args.pull_through_policy_arn is not None:
            grants.append(
                aws.iam.RolePolicyAttachment(
                    f"{name}-builder-pull-through",
                    role=role.name,
                    policy_arn=args.pull_through_policy_arn,
                    opts=pulumi.ResourceOptions(parent=role),
                )
            )
        profile = aws.iam.InstanceProfile(
            f"{name}-builder-profile", role=role.name, tags=tags(config), opts=child
        )
        security_group = aws.ec2.SecurityGroup(
            f"{name}-builder-sg",
            description=f"{config.name}: image builder, no inbound, HTTPS out (ECR, S3)",
            vpc_id=args.vpc_id,
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    description="ECR API and registry, S3 layers",
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    cidr_blocks=["0.0.0.0/0"],
                )
            ],
            tags=tags(config),
            opts=child,
        )
        images = snapshot_images(mirror)
        subnet = pulumi.Output.from_input(args.private_subnet_ids).apply(lambda ids: ids[0])
        snapshot = _ImageSnapshotResource(
            f"{name}-snapshot",
            {
                "region": config.region,
                "awsProfile": pulumi.Config("aws").get("profile") or "",
                "amiParameter": builder_ami_parameter(config.kubernetes_version),
                "instanceType": BUILDER_INSTANCE_TYPE,
                "subnetId": subnet,
                "securityGroupId": security_group.id,
                "instanceProfileArn": profile.arn,
                "userData": builder_script(images, mirror.registry, config.region),
                "volumeGiB": cold.snapshot_volume_gib,
                "stack": config.name,
                "images": [image.pull for image in images],
                "tags": tags(config, **{"kserve-fluid/purpose": "gpu-node-images"}),
            },
            pulumi.ResourceOptions(
                parent=self,
                depends_on=[*grants, profile, *images_ready],
                custom_timeouts=pulumi.CustomTimeouts(create="90m", delete="10m"),
            ),
        )
        self.ready = [snapshot]
        for zone in cold.fast_snapshot_restore_zones:
            self.ready.append(
                aws.ebs.FastSnapshotRestore(
                    f"{name}-fast-restore-{zone}",
                    availability_zone=zone,
                    snapshot_id=snapshot.snapshotId,
                    opts=pulumi.ResourceOptions(parent=snapshot),
                )
            )
        rate = None if cold.fast_snapshot_restore else cold.volume_initialization_rate_mibps
        self.image_volume = ImageVolume(snapshot.snapshotId, cold.snapshot_volume_gib, rate)
        self.register_outputs({"snapshotId": snapshot.snapshotId})
