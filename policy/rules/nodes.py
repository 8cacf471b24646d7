"""Nodes: IMDSv2 with hop limit 1 (pods cannot borrow the node role) and encrypted volumes.

Covers every shape a node can take here: the launch templates the program creates, the
managed node groups (online: pulumi-eks's `aws:eks/nodeGroup:NodeGroup` child, the component
arriving with props {}; offline: the component's own inputs), Karpenter `EC2NodeClass`
objects, and plain instances. Resource rules: a preview refuses before anything is created.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs

from .base import MANDATORY, ResourceRule, as_list, display, number, truthy

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
COMPONENT_NODE_GROUP = "eks:index:ManagedNodeGroup"
NODE_GROUPS = (COMPONENT_NODE_GROUP, "aws:eks/nodeGroup:NodeGroup")
EC2_NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"

# Karpenter's EC2NodeClass defaults metadataOptions to httpTokens required, hop limit 1
# (aws/karpenter-provider-aws:pkg/apis/crds/karpenter.k8s.aws_ec2nodeclasses.yaml@v1.14.1).
NODE_CLASS_METADATA_DEFAULTS = {"httpTokens": "required", "httpPutResponseHopLimit": 1}

HOP_LIMIT = {
    "maxHopLimit": {
        "type": "integer",
        "default": 1,
        "description": "Highest httpPutResponseHopLimit allowed (2 lets pods reach IMDS).",
    }
}


def _metadata_problems(options: Mapping[str, Any] | None, max_hop: int) -> list[str]:
    if not options:
        return ["no metadataOptions (the AMI default allows hop limit 2)"]
    problems = []
    if options.get("httpTokens") != "required":
        tokens = options.get("httpTokens")
        problems.append(f'metadataOptions.httpTokens is {tokens!r}, not "required"')
    hop = number(options.get("httpPutResponseHopLimit"))
    if not isinstance(hop, int | float) or hop > max_hop:
        problems.append(f"metadataOptions.httpPutResponseHopLimit is {hop!r}, above {max_hop}")
    return problems


def check_imds(args: ResourceValidationArgs, config: Mapping[str, Any]) -> list[str]:
    max_hop = int(config.get("maxHopLimit") or 1)
    props = args.props
    if args.resource_type in (LAUNCH_TEMPLATE, INSTANCE):
        problems = _metadata_problems(props.get("metadataOptions"), max_hop)
    elif args.resource_type == EC2_NODE_CLASS:
        given = (props.get("spec") or {}).get("metadataOptions") or {}
        problems = _metadata_problems({**NODE_CLASS_METADATA_DEFAULTS, **given}, max_hop)
    elif args.resource_type in NODE_GROUPS:
        if args.resource_type == COMPONENT_NODE_GROUP and not props:
            # What the engine sends for the pulumi-eks component: props {} (its Node SDK
            # registers a non-remote component without inputs, tools/plan/policy_feed.py); the rule
            # reads its `aws:eks/nodeGroup:NodeGroup` child instead.
            return []
        # Without a launch template of ours the nodes get the AMI's IMDS settings (AL2023:
        # ImdsSupport v2.0, hop limit 2) or pulumi-eks's template, whose enableIMDSv2 sets hop
        # limit 2 (pulumi/pulumi-eks:nodejs/eks/nodes/nodegroup.ts, reference/
        # security-reliability.md §0.3). The template itself is checked as a LaunchTemplate.
        problems = [] if props.get("launchTemplate") else ["no launchTemplate of ours (IMDSv2)"]
    else:
        return []
    return [f"{display(args)}: {p}" for p in problems]


def _volume_problems(mappings: Any, where: str) -> list[str]:
    devices = as_list(mappings)
    if not devices:
        return [f"no {where}: the AMI's root volume is encrypted only if the account says so"]
    problems = []
    for index, device in enumerate(devices):
        ebs = (device or {}).get("ebs")
        # A volume from a snapshot takes the snapshot's encryption; a launch template may not
        # name one ("If you are creating a volume from a snapshot, you can't specify an
        # encryption value": LaunchTemplateEbsBlockDeviceRequest.Encrypted, botocore
        # data/ec2/2016-11-15/service-2.json@1.44.8). The stack's image snapshot comes from an
        # encrypted volume (components/karpenter/snapshot_builder.py). The key is enough: during a
        # preview of the first deploy the id is not known yet.
        if ebs is not None and "snapshotID" in ebs and "encrypted" not in ebs:
            continue
        if ebs is not None and not truthy(ebs.get("encrypted")):
            name = (device or {}).get("deviceName", index)
            problems.append(f"{where}[{name}].ebs.encrypted is not true")
    return problems


def check_volumes(args: ResourceValidationArgs, config: Mapping[str, Any]) -> list[str]:
    props = args.props
    if args.resource_type == LAUNCH_TEMPLATE:
        problems = _volume_problems(props.get("blockDeviceMappings"), "blockDeviceMappings")
    elif args.resource_type == EC2_NODE_CLASS:
        spec = props.get("spec") or {}
        problems = _volume_problems(spec.get("blockDeviceMappings"), "spec.blockDeviceMappings")
    elif args.resource_type == INSTANCE:
        problems = []
        if not truthy((props.get("rootBlockDevice") or {}).get("encrypted")):
            problems.append("rootBlockDevice.encrypted is not true")
        for device in as_list(props.get("ebsBlockDevices")):
            if not truthy((device or {}).get("encrypted")):
                name = (device or {}).get("deviceName")
                problems.append(f"ebsBlockDevices[{name}].encrypted is not true")
    else:
        return []
    return [f"{display(args)}: {p}" for p in problems]


RULES = [
    ResourceRule(
        "nodes-imdsv2-hop-limit",
        "Launch templates, node groups and Karpenter node classes require IMDSv2 with hop limit 1.",
        MANDATORY,
        check_imds,
        HOP_LIMIT,
    ),
    ResourceRule(
        "nodes-encrypted-volumes",
        "Every EBS volume of a launch template, node class or instance is encrypted.",
        MANDATORY,
        check_volumes,
    ),
]
