"""Build and delete the GPU image snapshot with boto3: what the dynamic provider runs.

create: launch the builder (private subnet, instance profile that pulls from the stack's ECR, no
key pair, IMDSv2, shutdown behaviour `stop`) with the user data of
components/karpenter/builder_script.py; wait until it has stopped itself; read the result tag it set
on itself; snapshot its data volume; wait until the snapshot is `completed`; terminate the
instance (its volumes go with it). Whatever fails after the launch, the instance is terminated.
delete: delete the snapshot.

No Pulumi here, so the tests drive it against a moto server on 127.0.0.1 (tests/
test_image_snapshot.py), playing the builder's part (the tag, the stop) through the same API.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from components.karpenter.builder_script import BUILDER_TAG, DATA_DEVICE, RESULT_TAG

ROOT_DEVICE = "/dev/xvda"
BUILD_VOLUME_IOPS = 6000
BUILD_VOLUME_THROUGHPUT_MIBPS = 500
PROFILE_RETRY_SECONDS = 90
"""A new instance profile takes a few seconds before RunInstances accepts it (IAM is
eventually consistent); RunInstances answers InvalidParameterValue until then."""


class BuildError(RuntimeError):
    """The builder did not produce a snapshot; the message says why and what was cleaned up."""


@dataclass(frozen=True)
class BuildRequest:
    """Everything the build needs: the dynamic resource's inputs, typed."""

    region: str
    ami_parameter: str
    instance_type: str
    subnet_id: str
    security_group_id: str
    instance_profile_arn: str
    user_data: str
    volume_gib: int
    stack: str
    tags: dict[str, str]

    @classmethod
    def of(cls, props: dict[str, Any]) -> BuildRequest:
        return cls(
            region=str(props["region"]),
            ami_parameter=str(props["amiParameter"]),
            instance_type=str(props["instanceType"]),
            subnet_id=str(props["subnetId"]),
            security_group_id=str(props["securityGroupId"]),
            instance_profile_arn=str(props["instanceProfileArn"]),
            user_data=str(props["userData"]),
            volume_gib=int(props["volumeGiB"]),
            stack=str(props["stack"]),
            tags={str(k): str(v) for k, v in dict(props.get("tags") or {}).items()},
        )


@dataclass
class SnapshotBuilder:
    """The create and delete steps over an EC2 and an SSM client."""

    ec2: Any
    ssm: Any
    poll_seconds: float = 15.0
    build_timeout_seconds: float = 3600.0
    snapshot_timeout_seconds: float = 3600.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def create(self, request: BuildRequest) -> str:
        """Build the snapshot; return its id."""
        image_id = self.ssm.get_parameter(Name=request.ami_parameter)["Parameter"]["Value"]
        instance_id = self._launch(request, image_id)
        try:
            self._wait_stopped(instance_id)
            instance = self._describe(instance_id)
            result = _tag(instance, RESULT_TAG)
            if result != "ok":
                raise BuildError(
                    f"image builder {instance_id} stopped with {RESULT_TAG}="
                    f"{result or '(not set)'}; see its system log "
                    f"(aws ec2 get-console-output --instance-id {instance_id})"
                )
            volume_id = _volume_at(instance, DATA_DEVICE)
            snapshot_id = self.ec2.create_snapshot(
                VolumeId=volume_id,
                Description=f"{request.stack}: GPU node images (containerd + SOCI store)",
                TagSpecifications=[{"ResourceType": "snapshot", "Tags": _tag_list(request.tags)}],
            )["SnapshotId"]
            self._wait_completed(snapshot_id)
            return str(snapshot_id)
        finally:
            self.ec2.terminate_instances(InstanceIds=[instance_id])

    def delete(self, snapshot_id: str) -> None:
        """Delete the snapshot; one that is already gone is fine."""
        try:
            self.ec2.delete_snapshot(SnapshotId=snapshot_id)
        except self.ec2.exceptions.ClientError as error:
            if error.response["Error"]["Code"] != "InvalidSnapshot.NotFound":
                raise

    def _launch(self, request: BuildRequest, image_id: str) -> str:
        tags = _tag_list({**request.tags, BUILDER_TAG: request.stack})
        arguments: dict[str, Any] = {
            "ImageId": image_id,
            "InstanceType": request.instance_type,
            "MinCount": 1,
            "MaxCount": 1,
            "SubnetId": request.subnet_id,
            "SecurityGroupIds": [request.security_group_id],
            "IamInstanceProfile": {"Arn": request.instance_profile_arn},
            # boto3 base64-encodes RunInstances' UserData itself.
            "UserData": request.user_data,
            "InstanceInitiatedShutdownBehavior": "stop",
            "MetadataOptions": {
                "HttpTokens": "required",
                "HttpPutResponseHopLimit": 1,
                "HttpEndpoint": "enabled",
            },
            "BlockDeviceMappings": [
                {
                    "DeviceName": DATA_DEVICE,
                    "Ebs": {
                        "VolumeSize": request.volume_gib,
                        "VolumeType": "gp3",
                        "Iops": BUILD_VOLUME_IOPS,
                        "Throughput": BUILD_VOLUME_THROUGHPUT_MIBPS,
                        "Encrypted": True,
                        "DeleteOnTermination": True,
                    },
                },
            ],
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": tags},
                {"ResourceType": "volume", "Tags": tags},
            ],
        }
        deadline = self.clock() + PROFILE_RETRY_SECONDS
        while True:
            try:
                response = self.ec2.run_instances(**arguments)
                return str(response["Instances"][0]["InstanceId"])
            except self.ec2.exceptions.ClientError as error:
                message = str(error.response["Error"].get("Message", ""))
                if "instance profile" not in message.lower() or self.clock() > deadline:
                    raise
                self.sleep(min(self.poll_seconds, 5.0))

    def _describe(self, instance_id: str) -> dict[str, Any]:
        reservations = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return dict(reservations[0]["Instances"][0])

    def _wait_stopped(self, instance_id: str) -> None:
        deadline = self.clock() + self.build_timeout_seconds
        while True:
            state = self._describe(instance_id)["State"]["Name"]
            if state == "stopped":
                return
            if state in ("shutting-down", "terminated"):
                raise BuildError(f"image builder {instance_id} is {state}, not stopped")
            if self.clock() > deadline:
                raise BuildError(
                    f"image builder {instance_id} did not stop within "
                    f"{self.build_timeout_seconds:.0f} s (state {state}); terminated"
                )
            self.sleep(self.poll_seconds)

    def _wait_completed(self, snapshot_id: str) -> None:
        deadline = self.clock() + self.snapshot_timeout_seconds
        while True:
            snapshot = self.ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
            state = snapshot["State"]
            if state == "completed":
                return
            if state == "error":
                self.delete(snapshot_id)
                raise BuildError(f"snapshot {snapshot_id} failed: {snapshot.get('StateMessage')}")
            if self.clock() > deadline:
                self.delete(snapshot_id)
                raise BuildError(
                    f"snapshot {snapshot_id} not completed within "
                    f"{self.snapshot_timeout_seconds:.0f} s; deleted"
                )
            self.sleep(self.poll_seconds)


def _tag(resource: dict[str, Any], key: str) -> str | None:
    for tag in resource.get("Tags", []):
        if tag["Key"] == key:
            return str(tag["Value"])
    return None


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def _volume_at(instance: dict[str, Any], device: str) -> str:
    for mapping in instance.get("BlockDeviceMappings", []):
        if mapping["DeviceName"] == device:
            return str(mapping["Ebs"]["VolumeId"])
    raise BuildError(f"image builder {instance['InstanceId']} has no volume at {device}")


def builder_for(region: str, profile: str = "") -> SnapshotBuilder:
    """A builder over real clients (the dynamic provider's credentials: the environment, or the
    stack's `aws:profile`)."""
    import boto3

    session = boto3.Session(profile_name=profile or None, region_name=region)
    return SnapshotBuilder(session.client("ec2"), session.client("ssm"))
