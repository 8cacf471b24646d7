"""ingressSourceRanges: who may reach the ingress NLB (policy rule ingress-restricted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.manifests.platform import ingress_gateway_values
from tests.plan_support import Plan, PlanFailure, run_plan
from tests.test_config import dev_raw, parse, problems, with_change

RELEASE = "kubernetes:helm.sh/v3:Release"


def test_unset_keeps_the_chart_default() -> None:
    assert parse(dev_raw()).ingress_source_ranges == ()
    assert "loadBalancerSourceRanges" not in ingress_gateway_values()["service"]


def test_ranges_reach_the_gateway_service() -> None:
    config = parse(with_change("ingressSourceRanges", ["203.0.113.0/24", "2001:db8::/32"]))
    assert config.ingress_source_ranges == ("203.0.113.0/24", "2001:db8::/32")
    service = ingress_gateway_values(config.ingress_source_ranges)["service"]
    assert service["loadBalancerSourceRanges"] == ["203.0.113.0/24", "2001:db8::/32"]
    assert service["type"] == "LoadBalancer"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("203.0.113.0/24", ['ingressSourceRanges: must be a list, got "203.0.113.0/24"']),
        (
            ["203.0.113.0/33", "office"],
            [
                'ingressSourceRanges[0]: "203.0.113.0/33" is not a CIDR block',
                'ingressSourceRanges[1]: "office" is not a CIDR block',
            ],
        ),
        (["10.0.0.1/8"], ['ingressSourceRanges[0]: "10.0.0.1/8" is not a CIDR block']),
        ([5], ["ingressSourceRanges[0]: must be a string, got 5"]),
    ],
)
def test_bad_ranges_are_refused(value: Any, expected: list[str]) -> None:
    assert problems(with_change("ingressSourceRanges", value)) == expected


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
    assert lines[0].startswith("invalid stack configuration (")
    assert 'ingressSourceRanges[0]: "everyone" is not a CIDR block' in lines
    assert not (scratch / "resources.json").exists()
