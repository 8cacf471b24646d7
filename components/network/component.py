"""Layer 1a: the VPC the cluster lives in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_awsx as awsx

from components.config.model import StackConfig
from components.naming import tags


@dataclass(frozen=True)
class NetworkArgs:
    config: StackConfig


class Network(pulumi.ComponentResource):
    """Private subnets for nodes, public subnets for load balancers, tagged for ELB discovery."""

    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[Sequence[str]]
    public_subnet_ids: pulumi.Output[Sequence[str]]

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kserve-fluid:network:Network", name, None, opts)
        config = args.config
        strategy = (
            awsx.ec2.NatGatewayStrategy.SINGLE
            if config.nat_gateways == "single"
            else awsx.ec2.NatGatewayStrategy.ONE_PER_AZ
        )
        cluster_tag = {f"kubernetes.io/cluster/{config.name}": "shared"}
        # Private subnets get 1/8 of the VPC per zone (nodes and pods), public ones 1/64 (LBs).
        vpc_prefix = int(config.vpc_cidr.split("/")[1])
        vpc = awsx.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=config.vpc_cidr,
            number_of_availability_zones=config.availability_zone_count,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            nat_gateways=awsx.ec2.NatGatewayConfigurationArgs(strategy=strategy),
            subnet_strategy=awsx.ec2.SubnetAllocationStrategy.AUTO,
            subnet_specs=[
                awsx.ec2.SubnetSpecArgs(
                    type=awsx.ec2.SubnetType.PRIVATE,
                    cidr_mask=vpc_prefix + 3,
                    # karpenter.sh/discovery: where Karpenter may launch GPU nodes (the
                    # EC2NodeClass's subnetSelectorTerms); inert under a node group.
                    tags={
                        "kubernetes.io/role/internal-elb": "1",
                        "karpenter.sh/discovery": config.name,
                        **cluster_tag,
                    },
                ),
                awsx.ec2.SubnetSpecArgs(
                    type=awsx.ec2.SubnetType.PUBLIC,
                    cidr_mask=vpc_prefix + 6,
                    tags={"kubernetes.io/role/elb": "1", **cluster_tag},
                ),
            ],
            tags=tags(config, Name=f"{config.name}-vpc"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.vpc_id = vpc.vpc_id
        self.private_subnet_ids = vpc.private_subnet_ids
        self.public_subnet_ids = vpc.public_subnet_ids
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "privateSubnetIds": self.private_subnet_ids,
                "publicSubnetIds": self.public_subnet_ids,
            }
        )
