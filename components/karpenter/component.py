"""Layer 1c: GPU nodes from zero with Karpenter (its AWS side, its releases, NodePool `gpu`).

Each AWS piece of aws/karpenter-provider-aws:website/content/en/docs/getting-started/
getting-started-with-karpenter/cloudformation.yaml@v1.14.1 is a resource of its own here: the
node role and its EC2_LINUX access entry, the controller role and its six policies, the
interruption queue and its EventBridge rules, plus the discovery tag on the nodes' security
group (the private subnets carry theirs from the network).

Identity: EKS Pod Identity, not IRSA. It is what the guide's cluster config uses
(scripts/step02-create-cluster.sh@v1.14.1: `podIdentityAssociations` + the `eks-pod-identity-agent`
add-on), the role trusts one service principal instead of this cluster's OIDC issuer, and the
chart needs no role annotation, so the release's values carry no account-specific ARN.

Destroy order (edges are `depends_on`; destroy runs them backwards): {NodePool, EC2NodeClass ->
image snapshot} -> Karpenter release -> {CRD release, pod identity, queue, node role access
entry, data nodes}. The NodePool goes while the controller still runs, so Karpenter drains and
terminates its own instances; see docs/operate.md ("GPU nodes under Karpenter") for a finalizer
that cannot finish.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import versions
from components.config.model import StackConfig
from components.context import LayerArgs, image_waits
from components.karpenter import manifests
from components.karpenter.iam import (
    INTERRUPTION_EVENT_PATTERNS,
    INTERRUPTION_MESSAGE_RETENTION_SECONDS,
    NODE_ROLE_POLICIES,
    controller_policies,
    interruption_queue_policy,
    pod_identity_trust,
)
from components.kube import custom_resource, pinned_release
from components.naming import tags
from components.trust_policies import node_role_trust

NODE_POOL_DELETE_TIMEOUT = "20m"
"""Draining (terminationGracePeriod 15m) plus EC2 termination; then destroy fails, not hangs."""


@dataclass(frozen=True)
class KarpenterArgs(LayerArgs):
    cluster: pulumi.Resource
    """The EKS cluster; the security group lookup waits for it."""
    pull_through_policy_arn: pulumi.Input[str] | None = None
    """The image mirror's node policy for first pulls through its cache rules: the GPU nodes'
    role gets it too (None with the mirror off)."""
    image_volume: manifests.ImageVolume | None = None
    """The volume every GPU node restores from the image snapshot (None: no snapshot)."""
    node_class_waits: Sequence[pulumi.Resource] = ()
    """What the EC2NodeClass waits for: the snapshot and its Fast Snapshot Restores."""


class KarpenterGpuNodes(pulumi.ComponentResource):
    """Karpenter on the data nodes, launching GPU nodes for pending model pods only."""

    node_pool: k8s.apiextensions.CustomResource
    """The GPU capacity handle: what needs GPU nodes depends on it, and is deleted before it."""
    interruption_queue: aws.sqs.Queue
    node_role: aws.iam.Role

    def __init__(
        self, name: str, args: KarpenterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kserve-fluid:karpenter:KarpenterGpuNodes", name, None, opts)
        config = args.config
        child = pulumi.ResourceOptions(parent=self)
        on_data_nodes = list(args.system_ready)

        self.node_role = aws.iam.Role(
            f"{name}-node-role",
            description=f"GPU nodes Karpenter launches for EKS cluster {config.name}",
            assume_role_policy=json.dumps(node_role_trust()),
            tags=tags(config),
            opts=child,
        )
        # The EC2NodeClass depends on these: created before it (a node launched from it gets a
        # working role) and deleted after it (its nodes drain and terminate with the role's
        # permissions intact), as the managed node groups depend on their role's attachments.
        node_role_policies = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}",
                role=self.node_role.name,
                policy_arn=f"arn:aws:iam::aws:policy/{policy}",
                opts=pulumi.ResourceOptions(parent=self.node_role),
            )
            for policy in NODE_ROLE_POLICIES
        ]
        if args.pull_through_policy_arn is not None:
            # GPU nodes pull the storage initializer and the daemon images through the cache.
            node_role_policies.append(
                aws.iam.RolePolicyAttachment(
                    f"{name}-node-pull-through",
                    role=self.node_role.name,
                    policy_arn=args.pull_through_policy_arn,
                    opts=pulumi.ResourceOptions(parent=self.node_role),
                )
            )
        # Managed node groups get their access entry from EKS; Karpenter's nodes need this one.
        node_access = aws.eks.AccessEntry(
            f"{name}-node-access",
            cluster_name=config.name,
            principal_arn=self.node_role.arn,
            type="EC2_LINUX",
            tags=tags(config),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.cluster]),
        )

        self.interruption_queue = aws.sqs.Queue(
            f"{name}-interruption-queue",
            name=f"{config.name}-karpenter",
            message_retention_seconds=INTERRUPTION_MESSAGE_RETENTION_SECONDS,
            sqs_managed_sse_enabled=True,
            tags=tags(config),
            opts=child,
        )
        queue_policy = aws.sqs.QueuePolicy(
            f"{name}-interruption-queue-policy",
            queue_url=self.interruption_queue.url,
            policy=self.interruption_queue.arn.apply(
                lambda arn: json.dumps(interruption_queue_policy(arn))
            ),
            opts=pulumi.ResourceOptions(parent=self.interruption_queue),
        )
        rules: list[pulumi.Resource] = []
        for rule_name, pattern in INTERRUPTION_EVENT_PATTERNS.items():
            rule = aws.cloudwatch.EventRule(
                f"{name}-{rule_name}",
                description=f"{config.name}: {pattern['detail-type'][0]} -> Karpenter",
                event_pattern=json.dumps(pattern),
                tags=tags(config),
                opts=child,
            )
            rules.append(
                aws.cloudwatch.EventTarget(
                    f"{name}-{rule_name}-target",
                    rule=rule.name,
                    target_id="KarpenterInterruptionQueueTarget",
                    arn=self.interruption_queue.arn,
                    opts=pulumi.ResourceOptions(parent=rule),
                )
            )

        controller_role, controller_grants = self._controller_role(name, config)
        pod_identity_agent = aws.eks.Addon(
            f"{name}-pod-identity-agent",
            cluster_name=config.name,
            addon_name="eks-pod-identity-agent",
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=tags(config),
            opts=pulumi.ResourceOptions(parent=self, depends_on=on_data_nodes),
        )
        pod_identity = aws.eks.PodIdentityAssociation(
            f"{name}-pod-identity",
            cluster_name=config.name,
            namespace=manifests.NAMESPACE,
            service_account=manifests.SERVICE_ACCOUNT,
            role_arn=controller_role.arn,
            tags=tags(config),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.cluster]),
        )

        # Managed node groups with a launch template that names no security group run in the
        # cluster security group EKS creates; the GPU nodes join them there (migrating-from-cas
        # scripts/step06-tag-security-groups.sh@v1.14.1 tags that group).
        eks_cluster = aws.eks.get_cluster_output(
            name=config.name, opts=pulumi.InvokeOutputOptions(depends_on=[args.cluster])
        )
        security_group_tag = aws.ec2.Tag(
            f"{name}-security-group-discovery",
            resource_id=eks_cluster.vpc_config.cluster_security_group_id,
            key=manifests.DISCOVERY_TAG,
            value=config.name,
            opts=child,
        )

        crd_release = pinned_release(
            "karpenter-crd",
            versions.KARPENTER_CRD,
            manifests.NAMESPACE,
            {},
            parent=self,
            provider=args.provider,
            depends_on=on_data_nodes,
            timeout=300,
        )
        controller = pinned_release(
            "karpenter",
            versions.KARPENTER,
            manifests.NAMESPACE,
            manifests.controller_values(
                config.name, f"{config.name}-karpenter", config.region, args.mirror
            ),
            parent=self,
            provider=args.provider,
            depends_on=[
                *on_data_nodes,
                *image_waits(args.image_ready, versions.KARPENTER_CONTROLLER_IMAGE),
                crd_release,
                pod_identity_agent,
                pod_identity,
                *controller_grants,
                queue_policy,
                *rules,
                node_access,
                security_group_tag,
            ],
            timeout=600,
            skip_crds=True,
        )

        node_class = manifests.ec2_node_class(
            config.gpu_nodes,
            config.name,
            "NODE_ROLE",
            tags(config),
            imds_hop_limit=config.imds_hop_limit,
            image_volume=args.image_volume,
        )
        custom_resource(
            "gpu-node-class",
            node_class,
            pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                depends_on=[
                    controller,
                    crd_release,
                    *node_role_policies,
                    *on_data_nodes,
                    *args.node_class_waits,
                ],
                custom_timeouts=pulumi.CustomTimeouts(delete=NODE_POOL_DELETE_TIMEOUT),
            ),
            # Only `spec.role` is an Output (the role's generated name): the rest of the spec
            # stays known during a preview, so the policy pack's IMDS and volume rules read it
            # there instead of skipping an all-unknown spec.
            spec={**node_class["spec"], "role": self.node_role.name},
        )
        # The NodePool does not wait for the EC2NodeClass: that waits for the image snapshot,
        # and everything placed on GPU nodes (device plugin, the services) waits for the
        # NodePool. Destroy stays safe: the EC2NodeClass's finalizer holds it until no NodeClaim
        # uses it, and Karpenter re-runs it on each NodeClaim deletion
        # (pkg/controllers/nodeclass/controller.go@v1.14.1 `finalize`, `Register`). Until the
        # EC2NodeClass exists, a pending pod waits (the NodePool is not ready).
        self.node_pool = custom_resource(
            "gpu-node-pool",
            manifests.node_pool(config.gpu_nodes),
            pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                depends_on=[controller, crd_release, *on_data_nodes],
                custom_timeouts=pulumi.CustomTimeouts(delete=NODE_POOL_DELETE_TIMEOUT),
            ),
        )
        self.register_outputs(
            {
                "nodePool": manifests.NODE_POOL,
                "interruptionQueue": self.interruption_queue.name,
                "nodeRoleArn": self.node_role.arn,
            }
        )

    def _controller_role(
        self, name: str, config: StackConfig
    ) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
        """The role the `karpenter` service account gets, with the template's six policies."""
        role = aws.iam.Role(
            f"{name}-controller-role",
            description=f"Karpenter controller of EKS cluster {config.name} (EKS Pod Identity)",
            assume_role_policy=json.dumps(pod_identity_trust()),
            tags=tags(config),
            opts=pulumi.ResourceOptions(parent=self),
        )
        caller = aws.get_caller_identity_output()
        documents = pulumi.Output.all(
            caller.account_id, caller.arn, self.node_role.arn, self.interruption_queue.arn
        ).apply(
            lambda values: controller_policies(
                partition=str(values[1]).split(":")[1],
                region=config.region,
                account_id=str(values[0]),
                cluster=config.name,
                node_role_arn=str(values[2]),
                queue_arn=str(values[3]),
            )
        )
        grants: list[pulumi.Resource] = []
        for policy_name in (
            "NodeLifecyclePolicy",
            "IAMIntegrationPolicy",
            "EKSIntegrationPolicy",
            "InterruptionPolicy",
            "ZonalShiftPolicy",
            "ResourceDiscoveryPolicy",
        ):
            policy = aws.iam.Policy(
                f"{name}-{policy_name}",
                description=f"Karpenter controller of {config.name}: {policy_name}",
                policy=documents.apply(functools.partial(_policy_json, policy_name)),
                tags=tags(config),
                opts=pulumi.ResourceOptions(parent=role),
            )
            grants.append(
                aws.iam.RolePolicyAttachment(
                    f"{name}-{policy_name}-attachment",
                    role=role.name,
                    policy_arn=policy.arn,
                    opts=pulumi.ResourceOptions(parent=role),
                )
            )
        return role, grants


def _policy_json(name: str, documents: dict[str, Any]) -> str:
    return json.dumps(documents[name])
