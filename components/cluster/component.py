"""Layer 1b: the EKS cluster, its data and GPU node groups, and the Kubernetes provider."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from components.cluster.node_userdata import (
    CACHE_DEVICE,
    cache_volume_script,
    instance_store_node_config,
    mime_user_data,
)
from components.config.model import StackConfig
from components.naming import GPU_TAINT_KEY, data_node_labels, gpu_node_labels, tags
from components.trust_policies import node_role_trust

CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
NODE_MANAGED_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    # Shell access through Session Manager instead of SSH keys and open ports.
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
)
CONTROL_PLANE_LOG_TYPES = ["api", "audit", "authenticator"]


@dataclass(frozen=True)
class ClusterArgs:
    config: StackConfig
    vpc_id: pulumi.Input[str]
    private_subnet_ids: pulumi.Input[Sequence[str]]
    public_subnet_ids: pulumi.Input[Sequence[str]]
    with_gpu_node_group: bool = True
    """False when Karpenter provides the GPU nodes (gpuNodes.provisioner: karpenter)."""
    egress_ready: Sequence[pulumi.Resource] = ()
    """What nodes need before they boot (components/network/component.py): subnets, NAT routes,
    the S3 endpoint. The control plane needs only the subnets, so it does not wait for these."""


class Cluster(pulumi.ComponentResource):
    """EKS with API access entries, OIDC for IRSA, KMS-encrypted secrets and two node groups."""

    name: str
    eks_cluster: eks.Cluster
    data_node_group: eks.ManagedNodeGroup
    system_ready: list[pulumi.Resource]
    """The data nodes and cluster DNS: what every in-cluster object waits for (and outlives)."""
    gpu_node_group: eks.ManagedNodeGroup | None
    """The managed GPU node group (gpuNodes.provisioner: nodeGroup); None under Karpenter."""
    node_role: aws.iam.Role
    provider: k8s.Provider
    kubeconfig: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_provider_url: pulumi.Output[str]

    def __init__(
        self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kserve-fluid:cluster:Cluster", name, None, opts)
        config = args.config
        self.name = config.name
        child = pulumi.ResourceOptions(parent=self)

        secrets_key = aws.kms.Key(
            f"{name}-secrets-key",
            description=f"Envelope encryption of Kubernetes secrets in EKS cluster {config.name}",
            enable_key_rotation=True,
            deletion_window_in_days=30 if config.cluster_deletion_protection else 7,
            tags=tags(config),
            opts=child,
        )
        aws.kms.Alias(
            f"{name}-secrets-key-alias",
            name=f"alias/{config.name}-eks-secrets",
            target_key_id=secrets_key.key_id,
            opts=child,
        )
        # EKS would create this group itself and leave it behind, breaking a later re-create
        # (terraform-aws-eks #920); owning it gives a retention period and a clean destroy.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=f"/aws/eks/{config.name}/cluster",
            retention_in_days=30,
            tags=tags(config),
            opts=child,
        )
        access_entries = {
            f"admin-{index}": eks.AccessEntryArgs(
                principal_arn=arn,
                access_policies={
                    "cluster-admin": eks.AccessPolicyAssociationArgs(
                        policy_arn=CLUSTER_ADMIN_POLICY,
                        access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                    )
                },
            )
            for index, arn in enumerate(config.cluster_admin_arns)
        }
        self.eks_cluster = eks.Cluster(
            f"{name}-eks",
            name=config.name,
            version=config.kubernetes_version,
            vpc_id=args.vpc_id,
            private_subnet_ids=args.private_subnet_ids,
            public_subnet_ids=args.public_subnet_ids,
            node_associate_public_ip_address=False,
            skip_default_node_group=True,
            # The authentication mode only moves towards API (pulumi-eks #1493): start there.
            authentication_mode=eks.AuthenticationMode.API,
            access_entries=access_entries,
            create_oidc_provider=True,
            encryption_config_key_arn=secrets_key.arn,
            enabled_cluster_log_types=CONTROL_PLANE_LOG_TYPES,
            endpoint_private_access=True,
            endpoint_public_access=True,
            public_access_cidrs=list(config.endpoint_public_access_cidrs),
            deletion_protection=config.cluster_deletion_protection,
            # CoreDNS is added once the data nodes exist: with no node it stays DEGRADED and
            # the add-on times out after 20 minutes (pulumi-eks #1819).
            coredns_addon_options=eks.CoreDnsAddonOptionsArgs(enabled=False),
            # The VPC CNI enforces NetworkPolicies only with its policy agent on; otherwise they
            # are accepted and ignored (pulumi-eks VpcCniOptions.enableNetworkPolicy, the
            # vpc-cni add-on's `enableNetworkPolicy` configuration value).
            vpc_cni_options=eks.VpcCniOptionsArgs(enable_network_policy=True),
            tags=tags(config),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[log_group],
                protect=config.cluster_deletion_protection,
            ),
        )
        self.oidc_provider_arn = self.eks_cluster.oidc_provider_arn
        self.oidc_provider_url = self.eks_cluster.oidc_provider_url

        node_role, role_policies = self._node_role(name, config)
        self.data_node_group = self._data_node_group(name, config, node_role, role_policies, args)
        self.node_role = node_role
        self.gpu_node_group = (
            self._gpu_node_group(name, config, node_role, role_policies, args)
            if args.with_gpu_node_group
            else None
        )
        core_dns = aws.eks.Addon(
            f"{name}-coredns",
            cluster_name=config.name,
            addon_name="coredns",
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=tags(config),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.data_node_group]),
        )
        self.system_ready = [self.data_node_group, core_dns]

        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.eks_cluster.kubeconfig_json,
            # The InferenceService CRD is too large for client-side apply (kserve #3487).
            enable_server_side_apply=True,
            # Replace the provider (and so every object) only if the cluster itself changes.
            cluster_identifier=config.name,
            opts=child,
        )
        # pulumi-eks does not mark the kubeconfig secret (pulumi-eks #725): it holds no token,
        # but it names the endpoint and the CA, which stay out of plain state outputs.
        self.kubeconfig = pulumi.Output.secret(self.eks_cluster.kubeconfig_json)
        self.register_outputs(
            {
                "clusterName": config.name,
                "kubeconfig": self.kubeconfig,
                "dataNodeGroupName": f"{config.name}-data",
                "gpuNodeGroupName": f"{config.name}-gpu" if args.with_gpu_node_group else None,
            }
        )

    def _node_role(
        self, name: str, config: StackConfig
    ) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
        role = aws.iam.Role(
            f"{name}-node-role",
            assume_role_policy=json.dumps(node_role_trust()),
            tags=tags(config),
            opts=pulumi.ResourceOptions(parent=self),
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-role-policy-{index}",
                role=role.name,
                policy_arn=policy_arn,
                opts=pulumi.ResourceOptions(parent=role),
            )
            for index, policy_arn in enumerate(NODE_MANAGED_POLICIES)
        ]
        return role, attachments

    def _launch_template(
        self,
        name: str,
        config: StackConfig,
        root_disk_gib: int,
        extra_volumes: list[aws.ec2.LaunchTemplateBlockDeviceMappingArgs],
        user_data: str | None,
    ) -> aws.ec2.LaunchTemplate:
        """IMDSv2-only template with encrypted gp3 disks; EKS picks the AMI from amiType."""
        root = aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
            device_name="/dev/xvda",
            ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                volume_size=root_disk_gib,
                volume_type="gp3",
                encrypted="true",
                delete_on_termination="true",
            ),
        )
        return aws.ec2.LaunchTemplate(
            name,
            description=f"{config.name} nodes: IMDSv2 required, encrypted gp3",
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=config.imds_hop_limit,
                instance_metadata_tags="disabled",
            ),
            block_device_mappings=[root, *extra_volumes],
            user_data=user_data,
            update_default_version=True,
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags(config))
                for kind in ("instance", "volume")
            ],
            tags=tags(config),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _data_node_group(
        self,
        name: str,
        config: StackConfig,
        node_role: aws.iam.Role,
        role_policies: list[aws.iam.RolePolicyAttachment],
        args: ClusterArgs,
    ) -> eks.ManagedNodeGroup:
        group = config.data_node_group
        cache_volume = aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
            device_name=CACHE_DEVICE,
            ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                volume_size=group.cache_volume_gib,
                volume_type="gp3",
                iops=group.cache_volume_iops,
                throughput=group.cache_volume_throughput_mibps,
                encrypted="true",
                delete_on_termination="true",
            ),
        )
        template = self._launch_template(
            f"{name}-data-lt",
            config,
            group.root_disk_gib,
            [cache_volume],
            mime_user_data([("text/x-shellscript", cache_volume_script(config.model_cache.path))]),
        )
        return self._managed_node_group(
            name,
            "data",
            config,
            node_role,
            role_policies,
            args,
            template,
            instance_type=group.instance_type,
            ami_type="AL2023_x86_64_STANDARD",
            capacity_type="ON_DEMAND",
            sizes=(group.min_size, group.desired_size, group.max_size),
            labels=data_node_labels(),
        )

    def _gpu_node_group(
        self,
        name: str,
        config: StackConfig,
        node_role: aws.iam.Role,
        role_policies: list[aws.iam.RolePolicyAttachment],
        args: ClusterArgs,
    ) -> eks.ManagedNodeGroup:
        group = config.gpu_nodes
        parts = []
        if group.instance_store_raid0:
            parts.append(("application/node.eks.aws", instance_store_node_config()))
        template = self._launch_template(
            f"{name}-gpu-lt",
            config,
            group.root_disk_gib,
            [],
            mime_user_data(parts) if parts else None,
        )
        return self._managed_node_group(
            name,
            "gpu",
            config,
            node_role,
            role_policies,
            args,
            template,
            instance_type=group.node_group_instance_type,
            # Driver and container toolkit baked in; an implicit AMI type picks a non-GPU AMI.
            ami_type="AL2023_x86_64_NVIDIA",
            capacity_type=group.capacity_type,
            sizes=(group.min_size, group.desired_size, group.max_size),
            labels=gpu_node_labels(),
            taints=[
                aws.eks.NodeGroupTaintArgs(key=GPU_TAINT_KEY, value="true", effect="NO_SCHEDULE")
            ],
        )

    def _managed_node_group(
        self,
        name: str,
        role: str,
        config: StackConfig,
        node_role: aws.iam.Role,
        role_policies: list[aws.iam.RolePolicyAttachment],
        args: ClusterArgs,
        template: aws.ec2.LaunchTemplate,
        *,
        instance_type: str,
        ami_type: str,
        capacity_type: str,
        sizes: tuple[int, int, int],
        labels: dict[str, str],
        taints: list[aws.eks.NodeGroupTaintArgs] | None = None,
    ) -> eks.ManagedNodeGroup:
        """The `role` (data, gpu) managed node group, named `<stack>-<role>` in EKS, on the
        private subnets from `template`; `sizes` is (min, desired, max)."""
        min_size, desired_size, max_size = sizes
        return eks.ManagedNodeGroup(
            f"{name}-{role}",
            cluster=self.eks_cluster,
            node_group_name=f"{config.name}-{role}",
            node_role=node_role,
            # pulumi-eks only defaults the version when no launch template is given.
            version=config.kubernetes_version,
            subnet_ids=args.private_subnet_ids,
            instance_types=[instance_type],
            ami_type=ami_type,
            capacity_type=capacity_type,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=min_size, desired_size=desired_size, max_size=max_size
            ),
            labels=labels,
            taints=taints,
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            tags=tags(config),
            opts=pulumi.ResourceOptions(
                parent=self,
                # "Ensure that IAM Role permissions are created before and deleted after EKS Node
                # Group handling. Otherwise, EKS will not be able to properly delete EC2 Instances
                # and Elastic Network Interfaces." (the aws_eks_node_group example of
                # hashicorp/terraform-provider-aws, the resource pulumi-aws wraps). Nodes need
                # egress to join (and on destroy go before the NAT and the subnets).
                depends_on=[*role_policies, *args.egress_ready],
                # Node group names are fixed: a replacement must delete the old one first.
                delete_before_replace=True,
                custom_timeouts=pulumi.CustomTimeouts(create="30m", update="60m", delete="30m"),
            ),
        )
