"""ingressSourceRanges: who may reach the ingress NLB (policy rule ingress-restricted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.config import ConfigError
from components.ingress_access import IngressAccess, parse_ingress_access
from components.manifests.platform import ingress_gateway_values
from tests.plan_support import Plan, PlanFailure, run_plan

RELEASE = "kubernetes:helm.sh/v3:Release"


def test_unset_keeps_the_chart_default() -> None:
    assert parse_ingress_access(None) == IngressAccess()
    assert "loadBalancerSourceRanges" not in ingress_gateway_values()["service"]


def test_ranges_reach_the_gateway_service() -> None:
    access = parse_ingress_access(["203.0.113.0/24", "2001:db8::/32"])
    assert access.source_ranges == ("203.0.113.0/24", "2001:db8::/32")
    service = ingress_gateway_values(access.source_ranges)["service"]
    assert service["loadBalancerSourceRanges"] == ["203.0.113.0/24", "2001:db8::/32"]
    assert service["type"] == "LoadBalancer"


@pytest.mark.parametrize(
    ("raw", "problems"),
    [
        (
            "203.0.113.0/24",
            [
                "ingressSourceRanges: '203.0.113.0/24' must be a list of CIDR blocks like "
                "203.0.113.0/24"
            ],
        ),
        (
            ["203.0.113.0/33", "office"],
            [
                "ingressSourceRanges: '203.0.113.0/33' is not a CIDR block like 203.0.113.0/24",
                "ingressSourceRanges: 'office' is not a CIDR block like 203.0.113.0/24",
            ],
        ),
        (
            ["10.0.0.1/8"],
            ["ingressSourceRanges: '10.0.0.1/8' is not a CIDR block like 203.0.113.0/24"],
        ),
    ],
)
def test_bad_ranges_are_refused(raw: object, problems: list[str]) -> None:
    with pytest.raises(ConfigError) as error:
        parse_ingress_access(raw)
    assert error.value.problems == problems


def test_prod_plan_limits_the_nlb(prod_plan: Plan, dev_plan: Plan) -> None:
    prod_gateway = prod_plan.one(RELEASE, "istio-ingressgateway")["inputs"]["values"]["service"]
    assert prod_gateway["loadBalancerSourceRanges"] == ["203.0.113.0/24", "198.51.100.10/32"]
    dev_gateway = dev_plan.one(RELEASE, "istio-ingressgateway")["inputs"]["values"]["service"]
    assert "loadBalancerSourceRanges" not in dev_gateway


def test_bad_ranges_stop_the_program_before_any_resource(scratch: Path) -> None:
    result = run_plan(scratch, sets={"ingressSourceRanges": ["everyone"]})
    assert isinstance(result, PlanFailure)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "invalid stack configuration (1 problems):"
    assert "ingressSourceRanges: 'everyone' is not a CIDR block like 203.0.113.0/24" in lines
    assert not (scratch / "resources.json").exists()
