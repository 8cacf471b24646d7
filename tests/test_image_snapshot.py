"""The GPU image snapshot's builder and dynamic provider, against a moto server on 127.0.0.1.

The test plays the builder instance's part through the EC2 API (it tags itself with the result
and stops), as the real instance does from its user data; everything else is the code under test
talking to moto over HTTP.
"""

from __future__ import annotations

import base64
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from components.karpenter.builder_script import BUILDER_TAG, DATA_DEVICE, RESULT_TAG
from components.karpenter.image_snapshot import _SnapshotProvider
from components.karpenter.snapshot_builder import BuildError, BuildRequest, SnapshotBuilder
from tests.local_aws import moto_server

REGION = "eu-central-1"
STACK = "kserve-fluid-dev"
PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
"""A public AMI parameter moto serves (it has no EKS ones); the builder reads any name."""


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server(30) as url:
        yield url


@pytest.fixture()
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    reset = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=10).close()
    return moto_url


def clients(url: str) -> tuple[Any, Any, Any]:
    make = lambda service: boto3.client(service, region_name=REGION, endpoint_url=url)  # noqa: E731
    return make("ec2"), make("ssm"), make("iam")


def request_props(url: str) -> dict[str, Any]:
    """A VPC, subnet, security group, instance profile and AMI parameter in moto; the props."""
    ec2, _, iam = clients(url)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="builder", Description="b", VpcId=vpc)["GroupId"]
    iam.create_role(RoleName="builder", AssumeRolePolicyDocument="{}")
    profile = iam.create_instance_profile(InstanceProfileName="builder")["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName="builder", RoleName="builder")
    return {
        "region": REGION,
        "awsProfile": "",
        "amiParameter": PARAMETER,
        "instanceType": "m6i.2xlarge",
        "subnetId": subnet,
        "securityGroupId": group,
        "instanceProfileArn": profile["Arn"],
        "userData": "#!/bin/bash\necho build\n",
        "volumeGiB": 100,
        "stack": STACK,
        "images": ["registry/serving@sha256:aa"],
        "tags": {"stack": "dev", "project": "kserve-fluid"},
    }


def builder_instance(ec2: Any, timeout: float = 20) -> dict[str, Any]:
    """Wait for the instance the builder launched (tagged as the stack's builder)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reservations = ec2.describe_instances(
            Filters=[{"Name": f"tag:{BUILDER_TAG}", "Values": [STACK]}]
        )["Reservations"]
        # moto makes the instance visible before it attaches the volumes: wait for them.
        instances = [i for r in reservations for i in r["Instances"]]
        devices = {m["DeviceName"] for i in instances for m in i.get("BlockDeviceMappings", [])}
        if instances and DATA_DEVICE in devices:
            return dict(instances[0])
        time.sleep(0.05)
    raise AssertionError("no builder instance was launched")


def profiles_of(ec2: Any, instance_id: str, timeout: float = 5) -> list[str]:
    """The instance profile associated with the instance (moto associates it right after the
    instance becomes visible, so wait for it)."""
    deadline = time.monotonic() + timeout
    while True:
        associations = ec2.describe_iam_instance_profile_associations()
        found = [
            a["IamInstanceProfile"]["Arn"]
            for a in associations["IamInstanceProfileAssociations"]
            if a["InstanceId"] == instance_id
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def play_instance(url: str, result: str | None, seen: dict[str, Any]) -> threading.Thread:
    """The builder instance: record how it was launched, tag the result, power off."""

    def run() -> None:
        ec2 = clients(url)[0]
        instance = builder_instance(ec2)
        instance_id = instance["InstanceId"]
        seen["instance"] = instance
        seen["profiles"] = profiles_of(ec2, instance_id)
        seen["user_data"] = ec2.describe_instance_attribute(
            InstanceId=instance_id, Attribute="userData"
        )["UserData"]["Value"]
        seen["shutdown"] = ec2.describe_instance_attribute(
            InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior"
        )["InstanceInitiatedShutdownBehavior"]["Value"]
        if result is None:
            return
        ec2.create_tags(Resources=[instance_id], Tags=[{"Key": RESULT_TAG, "Value": result}])
        ec2.stop_instances(InstanceIds=[instance_id])

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def fast_builder(url: str, **overrides: Any) -> SnapshotBuilder:
    ec2, ssm, _ = clients(url)
    return SnapshotBuilder(ec2, ssm, poll_seconds=0.05, **overrides)


def state_of(ec2: Any, instance_id: str) -> str:
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return str(reservations[0]["Instances"][0]["State"]["Name"])


def own_snapshots(ec2: Any) -> list[dict[str, Any]]:
    """Snapshots the stack made (moto's own AMIs come with snapshots of their own)."""
    found = ec2.describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag:project", "Values": ["kserve-fluid"]}]
    )
    return list(found["Snapshots"])


def test_build_snapshots_the_data_volume_and_terminates_the_builder(aws: str) -> None:
    props = request_props(aws)
    seen: dict[str, Any] = {}
    actor = play_instance(aws, "ok", seen)
    snapshot_id = fast_builder(aws).create(BuildRequest.of(props))
    actor.join(5)
    ec2 = clients(aws)[0]
    instance = seen["instance"]
    # Launched as promised: private subnet, the instance profile, no key pair, IMDSv2 only,
    # stops (not terminates) on poweroff, the user data as given.
    assert instance["SubnetId"] == props["subnetId"]
    assert seen["profiles"] == [props["instanceProfileArn"]]
    assert "KeyName" not in instance
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    assert seen["shutdown"] == "stop"
    assert base64.b64decode(seen["user_data"]).decode() == props["userData"]
    # The snapshot is of the data volume, tagged; the builder is gone.
    [snapshot] = [s for s in own_snapshots(ec2) if s["SnapshotId"] == snapshot_id]
    mappings = {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]}
    data_volume = mappings[DATA_DEVICE]
    assert snapshot["VolumeId"] == data_volume
    assert snapshot["State"] == "completed"
    assert {t["Key"]: t["Value"] for t in snapshot["Tags"]} == props["tags"]
    assert state_of(ec2, instance["InstanceId"]) == "terminated"


@pytest.mark.parametrize(
    ("result", "shown"),
    [("failed: pull registry/serving@sha256:aa", "failed: pull registry/serving@sha256:aa"),
     ("", "(not set)")],
    ids=["failed-pull", "no-result"],
)  # fmt: skip
def test_a_failed_build_leaves_no_snapshot_and_no_instance(
    aws: str, result: str, shown: str
) -> None:
    props = request_props(aws)
    seen: dict[str, Any] = {}
    actor = play_instance(aws, result, seen)
    with pytest.raises(BuildError) as error:
        fast_builder(aws).create(BuildRequest.of(props))
    actor.join(5)
    instance_id = seen["instance"]["InstanceId"]
    assert str(error.value) == (
        f"image builder {instance_id} stopped with {RESULT_TAG}={shown}; see its system log "
        f"(aws ec2 get-console-output --instance-id {instance_id})"
    )
    ec2 = clients(aws)[0]
    assert own_snapshots(ec2) == []
    assert state_of(ec2, instance_id) == "terminated"


def test_a_builder_that_never_stops_times_out_and_is_terminated(aws: str) -> None:
    props = request_props(aws)
    seen: dict[str, Any] = {}
    actor = play_instance(aws, None, seen)
    with pytest.raises(BuildError, match=r"did not stop within 1 s \(state running\)"):
        fast_builder(aws, build_timeout_seconds=1).create(BuildRequest.of(props))
    actor.join(5)
    ec2 = clients(aws)[0]
    assert state_of(ec2, seen["instance"]["InstanceId"]) == "terminated"
    assert own_snapshots(ec2) == []


def test_delete_removes_the_snapshot_and_tolerates_a_missing_one(aws: str) -> None:
    ec2 = clients(aws)[0]
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=10)["VolumeId"]
    snapshot_id = ec2.create_snapshot(
        VolumeId=volume,
        TagSpecifications=[
            {"ResourceType": "snapshot", "Tags": [{"Key": "project", "Value": "kserve-fluid"}]}
        ],
    )["SnapshotId"]
    assert [s["SnapshotId"] for s in own_snapshots(ec2)] == [snapshot_id]
    builder = fast_builder(aws)
    builder.delete(snapshot_id)
    assert own_snapshots(ec2) == []
    builder.delete(snapshot_id)  # already gone: no error


def test_provider_builds_with_the_environment_credentials_and_deletes(aws: str) -> None:
    """The dynamic provider end to end over real boto3 clients (endpoint from the environment,
    as the provider process gets its credentials); it polls every 15 s, so this test waits."""
    props = request_props(aws)
    seen: dict[str, Any] = {}
    actor = play_instance(aws, "ok", seen)
    created = _SnapshotProvider().create(props)
    actor.join(5)
    ec2 = clients(aws)[0]
    assert created.outs is not None
    assert created.outs["snapshotId"] == created.id
    assert [s["SnapshotId"] for s in own_snapshots(ec2)] == [created.id]
    _SnapshotProvider().delete(str(created.id), created.outs)
    assert own_snapshots(ec2) == []


Change = Callable[[dict[str, Any]], None]


@pytest.mark.parametrize(
    ("change", "replaced"),
    [
        (lambda p: p.update(images=["registry/serving@sha256:bb"]), ["images"]),
        (lambda p: p.update(userData="#!/bin/bash\n"), ["userData"]),
        (lambda p: p.update(volumeGiB=200), ["volumeGiB"]),
        (lambda p: None, []),
    ],
    ids=["new-digest", "new-script", "bigger-volume", "unchanged"],
)
def test_a_changed_input_replaces_the_snapshot(change: Change, replaced: list[str]) -> None:
    olds = {"images": ["registry/serving@sha256:aa"], "userData": "#!/bin/bash\necho\n",
            "volumeGiB": 100, "snapshotId": "snap-1", "__provider": "x"}  # fmt: skip
    news = {k: v for k, v in olds.items() if k != "snapshotId"}
    change(news)
    diff = _SnapshotProvider().diff("snap-1", olds, news)
    assert diff.replaces == replaced
    assert diff.changes is bool(replaced)
    assert diff.delete_before_replace is False
