"""The VPC as plain resources: S3 without the NAT, optional interface endpoints, and orderings.

The cluster waits for subnets, not NAT gateways (a faster `pulumi up`); nodes wait for their
egress; everything that places a load balancer or an ENI in the VPC is deleted before the
subnets, the internet gateway and the NAT gateways it uses.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from components.network.component import INTERFACE_ENDPOINT_SERVICES, subnet_cidrs
from tests.plan_support import Plan, render

ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
RELEASE = "kubernetes:helm.sh/v3:Release"


def _private_tables(plan: Plan) -> list[dict]:
    return [t for t in plan.of_type(ROUTE_TABLE) if "-private-" in t["name"]]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_s3_goes_through_a_gateway_endpoint_on_every_private_route_table(
    stack: str, request: pytest.FixtureRequest
) -> None:
    plan: Plan = request.getfixturevalue(f"{stack}_plan")
    (endpoint,) = [e["inputs"] for e in plan.of_type(ENDPOINT)]
    assert endpoint["serviceName"] == "com.amazonaws.eu-central-1.s3"
    assert endpoint["vpcEndpointType"] == "Gateway"
    tables = _private_tables(plan)
    assert len(tables) == 3
    # tools/plan.py's mocks echo inputs, so a table's id is its name plus "-id".
    assert sorted(endpoint["routeTableIds"]) == sorted(f"{t['name']}-id" for t in tables)
    assert plan.outputs["vpcEndpoints"] == {
        "gateway": ["s3"],
        "interface": [],
        "interfaceUsdPerHour": 0.0,
    }


def test_interface_endpoints_are_a_choice_with_their_hourly_cost(tmp_path: Path) -> None:
    plan = render(tmp_path, stack="dev", sets={"vpcInterfaceEndpoints": True})
    interface = [e["inputs"] for e in plan.of_type(ENDPOINT) if e["inputs"]["vpcEndpointType"]
                 == "Interface"]  # fmt: skip
    assert sorted(e["serviceName"] for e in interface) == [
        "com.amazonaws.eu-central-1.ecr.api",
        "com.amazonaws.eu-central-1.ecr.dkr",
        "com.amazonaws.eu-central-1.sts",
    ]
    private_subnets = sorted(f"{s['name']}-id" for s in plan.of_type(SUBNET) if "-private-" in
                             s["name"])  # fmt: skip
    for endpoint in interface:
        assert endpoint["privateDnsEnabled"] is True
        assert sorted(endpoint["subnetIds"]) == private_subnets
    # The image snapshot's builder has a group of its own (issue 23).
    (group,) = [
        g
        for g in plan.of_type("aws:ec2/securityGroup:SecurityGroup")
        if g["name"] != "gpu-images-builder-sg"
    ]
    (rule,) = group["inputs"]["ingress"]
    assert (rule["fromPort"], rule["toPort"], rule["cidrBlocks"]) == (443, 443, ["10.0.0.0/16"])
    # 3 services x 3 zones x $0.01 per endpoint-hour per zone.
    assert plan.outputs["vpcEndpoints"]["interfaceUsdPerHour"] == 0.09
    assert plan.outputs["vpcEndpoints"]["interface"] == list(INTERFACE_ENDPOINT_SERVICES)


def test_the_control_plane_waits_for_subnets_not_nat_gateways(dev_plan: Plan) -> None:
    cluster = dev_plan.one("eks:index:Cluster")
    nats = dev_plan.of_type(NAT)
    assert nats and not any(dev_plan.depends_on(cluster, nat) for nat in nats)
    assert all(
        dev_plan.depends_on(cluster, s)
        for s in dev_plan.of_type(SUBNET)
        if "-private-" in s["name"]
    )


@pytest.mark.parametrize("stack", ["dev", "prod", "node_group"])
def test_nodes_and_the_load_balancer_go_before_the_network_they_use(
    stack: str, request: pytest.FixtureRequest
) -> None:
    """Destroy deletes dependents first: the gateway's NLB (public subnets, IGW) and the nodes
    (private subnets, NAT routes, S3 endpoint) before any of them."""
    plan: Plan = request.getfixturevalue(f"{stack}_plan")
    network = [
        *plan.of_type(SUBNET),
        *plan.of_type(NAT),
        *plan.of_type(ENDPOINT),
        *plan.of_type("aws:ec2/internetGateway:InternetGateway"),
        *plan.of_type("aws:ec2/route:Route"),
        *plan.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation"),
    ]
    load_balancers = [r for r in plan.of_type(RELEASE) if r["name"] == "istio-ingressgateway"]
    nodes = plan.of_type("eks:index:ManagedNodeGroup")
    assert load_balancers and nodes
    for dependent in [*load_balancers, *nodes]:
        missing = [n["name"] for n in network if not plan.depends_on(dependent, n)]
        assert missing == [], dependent["name"]


def test_nat_gateways_follow_the_config(dev_plan: Plan, prod_plan: Plan) -> None:
    assert len(dev_plan.of_type(NAT)) == 1  # natGateways: single
    assert len(prod_plan.of_type(NAT)) == 3  # onePerAz
    routes = {r["name"]: r["inputs"] for r in prod_plan.of_type("aws:ec2/route:Route")}
    assert sorted(r["natGatewayId"] for n, r in routes.items() if n.endswith("-nat")) == sorted(
        f"{nat['name']}-id" for nat in prod_plan.of_type(NAT)
    )


@pytest.mark.parametrize(("cidr", "zones"), [("10.0.0.0/16", 3), ("10.8.0.0/20", 4)])
def test_subnets_fit_the_vpc_and_do_not_overlap(cidr: str, zones: int) -> None:
    private, public = subnet_cidrs(cidr, zones)
    blocks = [ipaddress.IPv4Network(c) for c in private + public]
    vpc = ipaddress.IPv4Network(cidr)
    assert len(private) == len(public) == zones
    assert all(block.subnet_of(vpc) for block in blocks)
    assert not any(a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])
