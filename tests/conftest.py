"""Shared fixtures: one offline plan per scenario, rendered once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.plan_support import Plan, render


@pytest.fixture(scope="session")
def dev_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return render(tmp_path_factory.mktemp("plan-dev"), stack="dev")


@pytest.fixture(scope="session")
def prod_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return render(tmp_path_factory.mktemp("plan-prod"), stack="prod")


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
