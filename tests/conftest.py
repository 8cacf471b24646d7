"""Shared fixtures: one offline plan per scenario, rendered once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import charts, plan_support
from tests.plan_support import Plan, render


@pytest.fixture(scope="session", autouse=True)
def share_renders_between_workers(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> None:
    """pytest-xdist workers share rendered plans (tests/plan_support.py) and chart renders
    (tests/charts.py) through folders of this test session."""
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent
    plan_support.SHARED_PLANS = shared / "shared-plans"
    charts.SHARED_RENDERS = shared / "shared-chart-renders"


@pytest.fixture(scope="session")
def dev_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return render(tmp_path_factory.mktemp("plan-dev"), stack="dev")


@pytest.fixture(scope="session")
def prod_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return render(tmp_path_factory.mktemp("plan-prod"), stack="prod")


@pytest.fixture(scope="session")
def kourier_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    """The dev stack with Kourier instead of Istio: the other networking variant."""
    folder = tmp_path_factory.mktemp("plan-kourier")
    return render(folder, stack="dev", sets={"networking": "kourier"})


@pytest.fixture()
def scratch(tmp_path: Path) -> Path:
    return tmp_path / "plan"


@pytest.fixture(scope="session")
def node_group_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    """dev with the managed GPU node group instead of Karpenter (gpuNodes.provisioner)."""
    return render(
        tmp_path_factory.mktemp("plan-node-group"),
        stack="dev",
        sets={"gpuNodes": {"provisioner": "nodeGroup"}},
    )
