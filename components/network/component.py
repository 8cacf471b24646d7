"""Layer 1a: the VPC the cluster lives in, as plain resources, and its S3 path without the NAT.

Plain `aws.ec2` resources instead of awsx's `Vpc`: a remote component's outputs resolve only once
every child exists, so with awsx the EKS control plane (10 minutes) waited for the NAT gateways
(about 2 minutes) it does not need. Here the cluster gets the VPC and its subnets; the node
groups, which need egress, wait for `egress_ready` (routes through the NAT gateways, the S3
endpoint). Destroy runs the other way round, so everything that puts a load balancer or an ENI
in the VPC is deleted first: the ingress gateway depends on the data nodes, which depend on
`egress_ready`, which covers every subnet and the internet gateway (tools/plan/critical_path.py
models the create order).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config.model import StackConfig
from components.naming import tags

# Interface endpoints that take a cold GPU node's image pulls and the pods' IRSA token exchange
# off the NAT: ECR's API and registry (the layers themselves come from S3, through the gateway
# endpoint) and STS (docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html).
INTERFACE_ENDPOINT_SERVICES = ("ecr.api", "ecr.dkr", "sts")
# "You will be billed for each hour that your VPC endpoint remains provisioned in each
# Availability Zone": $0.01 per endpoint-hour per AZ (us-east-1 list price; most regions
# $0.010-0.013) plus $0.01 per GB processed (aws.amazon.com/privatelink/pricing). Gateway
# endpoints (S3) cost nothing.
INTERFACE_ENDPOINT_USD_PER_AZ_HOUR = 0.01


def subnet_cidrs(vpc_cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """(private, public) CIDRs per zone: private 1/8 of the VPC each (nodes and pods), public
    1/64 each (load balancers and NAT gateways), packed after the private ones."""
    vpc = ipaddress.IPv4Network(vpc_cidr)
    eighths = list(vpc.subnets(prefixlen_diff=3))
    private = [str(block) for block in eighths[:zones]]
    public = [str(block) for block in list(eighths[zones].subnets(prefixlen_diff=3))[:zones]]
    return private, public


def interface_endpoint_hourly_usd(config: StackConfig) -> float:
    """What the optional interface endpoints cost per hour before data processing."""
    if not config.vpc_interface_endpoints:
        return 0.0
    count = len(INTERFACE_ENDPOINT_SERVICES) * config.availability_zone_count
    return round(count * INTERFACE_ENDPOINT_USD_PER_AZ_HOUR, 4)


def vpc_endpoints_report(config: StackConfig) -> dict[str, object]:
    """The `vpcEndpoints` stack output: endpoints by kind and the interface ones' hourly cost."""
    interface = list(INTERFACE_ENDPOINT_SERVICES) if config.vpc_interface_endpoints else []
    return {
        "gateway": ["s3"],
        "interface": interface,
        "interfaceUsdPerHour": interface_endpoint_hourly_usd(config),
    }


@dataclass(frozen=True)
class NetworkArgs:
    config: StackConfig


class Network(pulumi.ComponentResource):
    """Private subnets for nodes, public subnets for load balancers, tagged for ELB discovery."""

    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[Sequence[str]]
    public_subnet_ids: pulumi.Output[Sequence[str]]
    egress_ready: list[pulumi.Resource]
    """What a node needs before it boots (and outlives it on destroy): every subnet, the
    internet gateway, the NAT routes and the S3 gateway endpoint."""

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kserve-fluid:network:Network", name, None, opts)
        config = args.config
        child = pulumi.ResourceOptions(parent=self)
        cluster_tag = {f"kubernetes.io/cluster/{config.name}": "shared"}
        zones = aws.get_availability_zones(state="available").names[
            : config.availability_zone_count
        ]
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=config.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=tags(config, Name=f"{config.name}-vpc"),
            opts=child,
        )
        gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags=tags(config, Name=f"{config.name}"), opts=child
        )
        public_table = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            tags=tags(config, Name=f"{config.name}-public"),
            opts=child,
        )
        public_route = aws.ec2.Route(
            f"{name}-public-internet",
            route_table_id=public_table.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=gateway.id,
            opts=child,
        )
        private_cidrs, public_cidrs = subnet_cidrs(config.vpc_cidr, len(zones))
        public_subnets: list[aws.ec2.Subnet] = []
        private_subnets: list[aws.ec2.Subnet] = []
        public_links: list[aws.ec2.RouteTableAssociation] = []
        for index, zone in enumerate(zones):
            public = aws.ec2.Subnet(
                f"{name}-public-{index + 1}",
                vpc_id=vpc.id,
                cidr_block=public_cidrs[index],
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags=tags(
                    config,
                    Name=f"{config.name}-public-{zone}",
                    **{"kubernetes.io/role/elb": "1", **cluster_tag},
                ),
                opts=child,
            )
            public_links.append(
                aws.ec2.RouteTableAssociation(
                    f"{name}-public-{index + 1}",
                    subnet_id=public.id,
                    route_table_id=public_table.id,
                    opts=child,
                )
            )
            public_subnets.append(public)
            private_subnets.append(
                aws.ec2.Subnet(
                    f"{name}-private-{index + 1}",
                    vpc_id=vpc.id,
                    cidr_block=private_cidrs[index],
                    availability_zone=zone,
                    # karpenter.sh/discovery: where Karpenter may launch GPU nodes (the
                    # EC2NodeClass's subnetSelectorTerms); inert under a node group.
                    tags=tags(
                        config,
                        Name=f"{config.name}-private-{zone}",
                        **{
                            "kubernetes.io/role/internal-elb": "1",
                            "karpenter.sh/discovery": config.name,
                            **cluster_tag,
                        },
                    ),
                    opts=child,
                )
            )
        nat_count = 1 if config.nat_gateways == "single" else len(zones)
        nats = []
        for index in range(nat_count):
            address = aws.ec2.Eip(
                f"{name}-nat-{index + 1}",
                domain="vpc",
                tags=tags(config, Name=f"{config.name}-nat-{index + 1}"),
                opts=child,
            )
            nats.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{index + 1}",
                    allocation_id=address.id,
                    subnet_id=public_subnets[index].id,
                    tags=tags(config, Name=f"{config.name}-nat-{index + 1}"),
                    # A public NAT gateway needs the internet gateway attached first.
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway, public_route]),
                )
            )
        private_tables: list[aws.ec2.RouteTable] = []
        egress: list[pulumi.Resource] = [gateway, public_route, *public_links]
        for index, subnet in enumerate(private_subnets):
            table = aws.ec2.RouteTable(
                f"{name}-private-{index + 1}",
                vpc_id=vpc.id,
                tags=tags(config, Name=f"{config.name}-private-{zones[index]}"),
                opts=child,
            )
            route = aws.ec2.Route(
                f"{name}-private-{index + 1}-nat",
                route_table_id=table.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nats[index % nat_count].id,
                opts=child,
            )
            link = aws.ec2.RouteTableAssociation(
                f"{name}-private-{index + 1}",
                subnet_id=subnet.id,
                route_table_id=table.id,
                opts=child,
            )
            private_tables.append(table)
            egress += [route, link]
        # Every model download (baseline storage initializer, staging Jobs, DataLoads, the stream
        # loader) and every ECR layer (served from S3) goes to S3 without NAT processing or a
        # cross-zone hop: a gateway endpoint is a route in the private route tables, free of
        # charge (docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-s3.html).
        s3_endpoint = aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{config.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[table.id for table in private_tables],
            tags=tags(config, Name=f"{config.name}-s3"),
            opts=child,
        )
        egress.append(s3_endpoint)
        if config.vpc_interface_endpoints:
            self._interface_endpoints(name, config, vpc, private_subnets)
        self.vpc_id = vpc.id
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private_subnets])
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public_subnets])
        self.egress_ready = [*public_subnets, *private_subnets, *egress]
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "privateSubnetIds": self.private_subnet_ids,
                "publicSubnetIds": self.public_subnet_ids,
            }
        )

    def _interface_endpoints(
        self,
        name: str,
        config: StackConfig,
        vpc: aws.ec2.Vpc,
        private_subnets: Sequence[aws.ec2.Subnet],
    ) -> None:
        """ECR and STS interface endpoints with private DNS, reachable on 443 from the VPC."""
        group = aws.ec2.SecurityGroup(
            f"{name}-endpoints",
            description=f"{config.name}: HTTPS from the VPC to the interface endpoints",
            vpc_id=vpc.id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp", from_port=443, to_port=443, cidr_blocks=[config.vpc_cidr]
                )
            ],
            tags=tags(config, Name=f"{config.name}-endpoints"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        for service in INTERFACE_ENDPOINT_SERVICES:
            aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{config.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[subnet.id for subnet in private_subnets],
                security_group_ids=[group.id],
                tags=tags(config, Name=f"{config.name}-{service}"),
                opts=pulumi.ResourceOptions(parent=self),
            )
