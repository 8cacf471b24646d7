"""Plan documents of the committed stacks (and of dev with `staging: job`) for the rules."""

from __future__ import annotations

from typing import Any

import pytest

from tests.plan_support import Plan, render
from tests.policy.support import STAGING_TOKEN


@pytest.fixture(scope="session")
def dev(dev_plan: Plan) -> dict[str, Any]:
    return dev_plan.document


@pytest.fixture(scope="session")
def prod(prod_plan: Plan) -> dict[str, Any]:
    return prod_plan.document


@pytest.fixture(scope="session")
def dev_staging(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """dev with the staging Job, the other workload the program creates."""
    return render(
        tmp_path_factory.mktemp("plan-policy-staging"),
        sets={"staging": "job"},
        secrets={"hfToken": STAGING_TOKEN},
    ).document


@pytest.fixture(scope="session")
def prod_kourier(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """prod with Kourier: its load balancer comes from the KnativeServing object."""
    return render(
        tmp_path_factory.mktemp("plan-policy-kourier"), stack="prod", sets={"networking": "kourier"}
    ).document


@pytest.fixture(scope="session")
def dev_node_group(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """dev with a managed GPU node group instead of Karpenter (its launch template, taint)."""
    return render(
        tmp_path_factory.mktemp("plan-policy-node-group"),
        sets={"gpuNodes": {"provisioner": "nodeGroup"}},
    ).document


@pytest.fixture(scope="session")
def dev_preview(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """dev as a first `pulumi preview` sees it: IDs and computed outputs unknown."""
    return render(tmp_path_factory.mktemp("plan-dev-preview"), preview=True).document


@pytest.fixture(scope="session")
def prod_preview(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return render(tmp_path_factory.mktemp("plan-prod-preview"), stack="prod", preview=True).document
