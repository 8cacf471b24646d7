"""Node rules on the plan's shapes and on the shapes only seen online or from other layers:
`aws:eks/nodeGroup:NodeGroup` (a pulumi-eks ManagedNodeGroup's child) and Karpenter's
`EC2NodeClass`."""

from __future__ import annotations

from typing import Any

from tests.policy.support import add_record, mutate, record, violations

LT = "aws:ec2/launchTemplate:LaunchTemplate"
MNG = "eks:index:ManagedNodeGroup"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"


def _node_class(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": "gpu"},
        "spec": {"amiSelectorTerms": [{"alias": "al2023@latest"}], **spec},
    }


ENCRYPTED_ROOT = [{"deviceName": "/dev/xvda", "ebs": {"volumeSize": "200Gi", "encrypted": True}}]


def test_launch_template_hop_limit_2_fails(dev_node_group: dict[str, Any]) -> None:
    broken = mutate(
        dev_node_group,
        lambda d: record(d, LT, "cluster-gpu-lt")["inputs"]["metadataOptions"].update(
            httpPutResponseHopLimit=2
        ),
    )
    assert violations("nodes-imdsv2-hop-limit", broken) == [
        f"{LT} cluster-gpu-lt: metadataOptions.httpPutResponseHopLimit is 2, above 1"
    ]
    # A stack that needs hop limit 2 raises the bound in its policy config.
    assert violations("nodes-imdsv2-hop-limit", broken, {"maxHopLimit": 2}) == []


def test_launch_template_without_imdsv2_fails(dev: dict[str, Any]) -> None:
    optional = mutate(
        dev,
        lambda d: record(d, LT, "cluster-data-lt")["inputs"]["metadataOptions"].update(
            httpTokens="optional"
        ),
    )
    missing = mutate(
        dev, lambda d: record(d, LT, "cluster-data-lt")["inputs"].pop("metadataOptions")
    )
    assert violations("nodes-imdsv2-hop-limit", optional) == [
        f"{LT} cluster-data-lt: metadataOptions.httpTokens is 'optional', not \"required\""
    ]
    assert violations("nodes-imdsv2-hop-limit", missing) == [
        f"{LT} cluster-data-lt: no metadataOptions (the AMI default allows hop limit 2)"
    ]


def test_node_group_without_our_launch_template_fails(dev_node_group: dict[str, Any]) -> None:
    broken = mutate(
        dev_node_group, lambda d: record(d, MNG, "cluster-gpu")["inputs"].pop("launchTemplate")
    )
    assert violations("nodes-imdsv2-hop-limit", broken) == [
        f"{MNG} cluster-gpu: no launchTemplate of ours (IMDSv2)"
    ]


def test_online_node_group_child_shape(dev: dict[str, Any]) -> None:
    """Online, pulumi-eks registers aws:eks/nodeGroup:NodeGroup with launchTemplate {id, version}
    (pulumi-aws schema `aws:eks/nodeGroup:NodeGroup` input `launchTemplate`)."""
    fine = mutate(
        dev,
        lambda d: add_record(
            d, NODE_GROUP, "cluster-gpu", {"launchTemplate": {"id": "lt-1", "version": "1"}}
        ),
    )
    bare = mutate(dev, lambda d: add_record(d, NODE_GROUP, "cluster-gpu", {"diskSize": 20}))
    assert violations("nodes-imdsv2-hop-limit", fine) == []
    assert violations("nodes-imdsv2-hop-limit", bare) == [
        f"{NODE_GROUP} cluster-gpu: no launchTemplate of ours (IMDSv2)"
    ]


def test_node_class_defaults_pass_and_hop_limit_2_fails(dev: dict[str, Any]) -> None:
    defaults = mutate(
        dev,
        lambda d: add_record(
            d, NODE_CLASS, "gpu", _node_class({"blockDeviceMappings": ENCRYPTED_ROOT})
        ),
    )
    hop_2 = mutate(
        dev,
        lambda d: add_record(
            d,
            NODE_CLASS,
            "gpu",
            _node_class(
                {
                    "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 2},
                    "blockDeviceMappings": ENCRYPTED_ROOT,
                }
            ),
        ),
    )
    assert violations("nodes-imdsv2-hop-limit", defaults) == []
    assert violations("nodes-encrypted-volumes", defaults) == []
    assert violations("nodes-imdsv2-hop-limit", hop_2) == [
        f"{NODE_CLASS} gpu: metadataOptions.httpPutResponseHopLimit is 2, above 1"
    ]


def test_unencrypted_launch_template_volume_fails(dev: dict[str, Any]) -> None:
    broken = mutate(
        dev,
        lambda d: record(d, LT, "cluster-data-lt")["inputs"]["blockDeviceMappings"][1][
            "ebs"
        ].update(encrypted="false"),
    )
    assert violations("nodes-encrypted-volumes", broken) == [
        f"{LT} cluster-data-lt: blockDeviceMappings[/dev/xvdb].ebs.encrypted is not true"
    ]


def test_launch_template_without_volumes_fails(dev_node_group: dict[str, Any]) -> None:
    broken = mutate(
        dev_node_group,
        lambda d: record(d, LT, "cluster-gpu-lt")["inputs"].pop("blockDeviceMappings"),
    )
    assert violations("nodes-encrypted-volumes", broken) == [
        f"{LT} cluster-gpu-lt: no blockDeviceMappings: the AMI's root volume is encrypted only "
        "if the account says so"
    ]


def test_unencrypted_node_class_volume_fails(dev: dict[str, Any]) -> None:
    unencrypted = [{"deviceName": "/dev/xvda", "ebs": {"volumeSize": "200Gi", "encrypted": False}}]
    broken = mutate(
        dev,
        lambda d: add_record(
            d, NODE_CLASS, "gpu", _node_class({"blockDeviceMappings": unencrypted})
        ),
    )
    assert violations("nodes-encrypted-volumes", broken) == [
        f"{NODE_CLASS} gpu: spec.blockDeviceMappings[/dev/xvda].ebs.encrypted is not true"
    ]


def test_node_class_snapshot_volume_takes_the_snapshots_encryption(dev: dict[str, Any]) -> None:
    """A launch template may not set `encrypted` on a volume from a snapshot (EC2 API,
    LaunchTemplateEbsBlockDeviceRequest); an explicit false is still refused."""
    volume: dict[str, Any] = {"snapshotID": "snap-1", "volumeSize": "100Gi"}
    restored = {"deviceName": "/dev/xvdb", "ebs": volume}
    ok = mutate(
        dev,
        lambda d: add_record(
            d, NODE_CLASS, "gpu", _node_class({"blockDeviceMappings": [*ENCRYPTED_ROOT, restored]})
        ),
    )
    assert violations("nodes-encrypted-volumes", ok) == []
    decrypted = {**restored, "ebs": {**volume, "encrypted": False}}
    broken = mutate(
        dev,
        lambda d: add_record(
            d, NODE_CLASS, "gpu", _node_class({"blockDeviceMappings": [*ENCRYPTED_ROOT, decrypted]})
        ),
    )
    assert violations("nodes-encrypted-volumes", broken) == [
        f"{NODE_CLASS} gpu: spec.blockDeviceMappings[/dev/xvdb].ebs.encrypted is not true"
    ]
