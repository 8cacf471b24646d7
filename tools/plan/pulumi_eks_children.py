"""The resources pulumi-eks registers inside its own process for a component of this program.

`eks:index:Cluster` and `eks:index:ManagedNodeGroup` are remote components: the engine sends
them to the eks provider's `Construct`, and the provider's Node code registers the component
and its children itself (pulumi/pulumi:pkg/resource/deploy/source_eval.go). The offline plan
records only the program's registration of the component, so a policy pack fed what the engine
feeds it needs the children too. This module derives the ones the pack's rules read from the
component's inputs, the way pulumi-eks builds them at the version pinned in requirements.txt
(pulumi-eks 4.4.0; source read at pulumi/pulumi-eks@7bf0c1b, 2026-08-12, the newest commit
after v4.3.0, since the mirror holds no v4.4.0 tag):
- `aws:eks/cluster:Cluster` `<name>-eksCluster` (nodejs/eks/cluster/cluster.ts, `createCore`,
  `new aws.eks.Cluster(`${name}-eksCluster`, {... vpcConfig: {securityGroupIds, subnetIds,
  endpointPrivateAccess, endpointPublicAccess, publicAccessCidrs}, ... deletionProtection})`);
- `aws:eks/nodeGroup:NodeGroup` `<name>` (nodejs/eks/nodes/nodegroup.ts,
  `createManagedNodeGroup`: `new aws.eks.NodeGroup(name, {...nodeGroupArgs, amiType,
  clusterName, nodeRoleArn, scalingConfig, subnetIds, launchTemplate})`, the component's args
  without `cluster`; a given `launchTemplate` passes through unchanged when no argument of
  `customLaunchTemplateArgs` is set, and `version` stays when a launch template is given).
Children inherit the component's `protect` (pulumi/pulumi:sdk/nodejs/resource.ts@1b59498:
`if (opts.protect === undefined) opts.protect = parent.__protect`), and the provider passes the
program's `protect` to the component (sdk/nodejs/provider/server.ts@1b59498, `construct`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

CLUSTER = "eks:index:Cluster"
MANAGED_NODE_GROUP = "eks:index:ManagedNodeGroup"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"

# aws.eks.NodeGroup's input properties that the component's args can carry (pulumi-aws
# sdk/nodejs/eks/nodeGroup.ts NodeGroupArgs); the Node constructor copies only these.
NODE_GROUP_INPUTS = (
    "amiType",
    "capacityType",
    "diskSize",
    "forceUpdateVersion",
    "instanceTypes",
    "labels",
    "launchTemplate",
    "nodeGroupName",
    "nodeGroupNamePrefix",
    "releaseVersion",
    "remoteAccess",
    "scalingConfig",
    "subnetIds",
    "tags",
    "taints",
    "updateConfig",
    "version",
)


@dataclass
class Child:
    """One registration pulumi-eks makes under a component."""

    type: str
    name: str
    inputs: dict[str, Any]
    custom: bool = True
    dependencies: list[str] = field(default_factory=list)


def child_urn(parent_urn: str, typ: str, name: str) -> str:
    """A child's URN: its parent's type chain, `$`, its own type (pkg/resource/deploy
    deployment.go generateURN; the root stack's type is left out)."""
    prefix, _, rest = parent_urn.rpartition("::")
    head, _, parent_type = prefix.rpartition("::")
    del rest
    return f"{head}::{parent_type}${typ}::{name}"


def _cluster_children(inputs: Mapping[str, Any], name: str, lookup: Lookup) -> list[Child]:
    public = list(inputs.get("publicSubnetIds") or [])
    private = list(inputs.get("privateSubnetIds") or [])
    subnets = inputs.get("subnetIds") or public + private
    vpc_config: dict[str, Any] = {
        "securityGroupIds": [lookup("clusterSecurityGroupId")],
        "subnetIds": subnets,
    }
    for key in ("endpointPrivateAccess", "endpointPublicAccess", "publicAccessCidrs"):
        if key in inputs:
            vpc_config[key] = inputs[key]
    cluster: dict[str, Any] = {
        "name": inputs.get("name"),
        "roleArn": lookup("serviceRoleArn"),
        "bootstrapSelfManagedAddons": True,
        "vpcConfig": vpc_config,
        "tags": {"Name": f"{name}-eksCluster", **dict(inputs.get("tags") or {})},
    }
    for key in ("version", "enabledClusterLogTypes", "deletionProtection"):
        if key in inputs:
            cluster[key] = inputs[key]
    if inputs.get("encryptionConfigKeyArn"):
        cluster["encryptionConfig"] = {
            "provider": {"keyArn": inputs["encryptionConfigKeyArn"]},
            "resources": ["secrets"],
        }
    if inputs.get("authenticationMode"):
        cluster["accessConfig"] = {
            "authenticationMode": inputs["authenticationMode"],
            "bootstrapClusterCreatorAdminPermissions": True,
        }
    return [Child(EKS_CLUSTER, f"{name}-eksCluster", cluster)]


def _node_group_children(inputs: Mapping[str, Any], name: str, lookup: Lookup) -> list[Child]:
    group = {key: inputs[key] for key in NODE_GROUP_INPUTS if key in inputs}
    group["clusterName"] = lookup("clusterName")
    group["nodeRoleArn"] = lookup("nodeRoleArn")
    scaling = dict(inputs.get("scalingConfig") or {})
    group["scalingConfig"] = {
        "desiredSize": scaling.get("desiredSize", 2),
        "minSize": scaling.get("minSize", 1),
        "maxSize": scaling.get("maxSize", 2),
    }
    return [Child(NODE_GROUP, name, group)]


Lookup = Callable[[str], Any]
"""Values pulumi-eks reads from other resources (ARNs, names, IDs), by what they are."""

BUILDERS: dict[str, Callable[[Mapping[str, Any], str, Lookup], list[Child]]] = {
    CLUSTER: _cluster_children,
    MANAGED_NODE_GROUP: _node_group_children,
}


def children(typ: str, name: str, inputs: Mapping[str, Any], lookup: Lookup) -> list[Child]:
    """The children pulumi-eks registers for component `typ` named `name` with `inputs`."""
    builder = BUILDERS.get(typ)
    return builder(inputs, name, lookup) if builder else []
