"""The offline plan is a function of the program and the config, so it can be reviewed as a diff."""

from __future__ import annotations

import random
from pathlib import Path

import yaml

from tests.plan_support import Plan, render
from tools.plan.render import Registration, canonical, creation_order


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_two_plans_are_byte_identical(dev_plan: Plan, tmp_path: Path) -> None:
    """Also the check on tests/plan_server.py: a plan from a fresh interpreter equals the ones
    its forked children render, before and after it preloads modules (dev_plan warmed it)."""
    fresh = render(tmp_path / "fresh", stack="dev", fresh=True)
    warm = render(tmp_path / "warm", stack="dev", shared=False)
    for plan in (dev_plan, warm):
        first, second = files(fresh.folder), files(plan.folder)
        assert sorted(first) == sorted(second)
        changed = [name for name in first if first[name] != second[name]]
        assert changed == []
        assert plan.output.replace(str(plan.folder), "OUT") == fresh.output.replace(
            str(fresh.folder), "OUT"
        )


def test_manifests_lead_with_api_version_kind_metadata_spec(dev_plan: Plan) -> None:
    for path in sorted((dev_plan.folder / "manifests").glob("*.yaml")):
        text = path.read_text()
        if text.startswith("helmRelease:"):
            continue
        keys = [line.split(":")[0] for line in text.splitlines() if line[:1].isalpha()]
        leading = [k for k in ("apiVersion", "kind", "metadata", "spec") if k in keys]
        assert keys[: len(leading)] == leading, path.name
        assert yaml.safe_load(text)["kind"]


def registration(urn: str, *dependencies: str, parent: str = "") -> Registration:
    return Registration(
        urn=urn,
        type="t",
        name=urn,
        parent=parent,
        provider="",
        dependencies=list(dependencies),
        custom=True,
        protect=False,
        retain_on_delete=False,
        inputs={},
    )


def test_creation_order_is_dependencies_first_then_urn_whatever_the_input_order() -> None:
    graph = [
        registration("d", "b", "c"),
        registration("c", parent="a"),
        registration("b", "a"),
        registration("a"),
        registration("e"),
    ]
    expected = ["a", "b", "c", "d", "e"]
    for seed in range(5):
        shuffled = graph[:]
        random.Random(seed).shuffle(shuffled)
        assert [r.urn for r in creation_order(shuffled)] == expected


def test_canonical_key_order_at_every_level() -> None:
    document = {
        "spec": {"b": 1, "a": [{"z": 1, "kind": "x"}]},
        "zeta": 1,
        "kind": "K",
        "apiVersion": "v1",
    }
    result = canonical(document)
    assert list(result) == ["apiVersion", "kind", "spec", "zeta"]
    assert list(result["spec"]) == ["a", "b"]
    assert list(result["spec"]["a"][0]) == ["kind", "z"]
