"""The pack as the CLI sees it: policies built from the rules, per-stack config files, the
README table, and the preview/deploy paths (workflows, Makefile) that run it.

policy/__main__.py is never imported here: constructing `PolicyPack` starts a gRPC server and
blocks. The policies are built the same way without the pack.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

from policy.rules.base import ResourceRule
from policy.rules.pack import build_policies
from tests.policy.support import ALL_RULES

ROOT = Path(__file__).resolve().parents[2]
LEVELS = {"advisory", "mandatory", "disabled", "remediate"}


def test_every_rule_builds_a_policy() -> None:
    policies = build_policies()
    assert [p.name for p in policies] == [r.name for r in ALL_RULES]
    assert len({p.name for p in policies}) == 17
    for policy, each in zip(policies, ALL_RULES, strict=True):
        kind = ResourceValidationPolicy if isinstance(each, ResourceRule) else StackValidationPolicy
        assert isinstance(policy, kind)
        assert policy.enforcement_level == EnforcementLevel(each.level)
        assert (policy.config_schema is None) == (not each.config)
        for key, spec in each.config.items():
            assert "default" in spec, f"{each.name}.{key} has no default"


def test_main_builds_the_pack_from_the_catalogue() -> None:
    source = (ROOT / "policy" / "__main__.py").read_text()
    assert "PolicyPack(name=PACK_NAME, policies=build_policies())" in source


def _readme_table() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Policy pack", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `([a-z0-9-]+)` \| (mandatory|advisory) \|", section, re.M))


def test_readme_lists_every_rule_with_its_level() -> None:
    assert _readme_table() == {r.name: r.level for r in ALL_RULES}


def config_problems(config: dict[str, Any]) -> list[str]:
    """What the CLI would refuse in a policy config file (pulumi/pulumi
    pkg/resource/analyzer/config.go: rule -> level, or {enforcementLevel, <settings>})."""
    problems = []
    known = {r.name: r for r in ALL_RULES}
    for name, value in config.items():
        if name == "all":
            if value not in LEVELS:
                problems.append(f"all: {value!r} is not a level")
            continue
        if name not in known:
            problems.append(f"{name}: no such rule")
            continue
        if isinstance(value, str):
            if value not in LEVELS:
                problems.append(f"{name}: {value!r} is not a level")
            continue
        settings = dict(value)
        level = settings.pop("enforcementLevel", "mandatory")
        if level not in LEVELS:
            problems.append(f"{name}: {level!r} is not a level")
        schema = {"type": "object", "properties": known[name].config, "additionalProperties": False}
        for error in jsonschema.Draft7Validator(schema).iter_errors(settings):
            problems.append(f"{name}: {error.message}")
    return problems


@pytest.mark.parametrize("path", sorted((ROOT / "policy" / "config").glob("*.json")))
def test_stack_policy_configs_are_valid(path: Path) -> None:
    assert path.stem in {p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml")}
    assert config_problems(json.loads(path.read_text())) == []


def test_readme_example_config_is_valid_and_takes_effect() -> None:
    text = (ROOT / "README.md").read_text().split("## Policy pack", 1)[1]
    example = json.loads(text.split("```json", 1)[1].split("```", 1)[0])
    assert config_problems(example) == []
    assert example["nodes-imdsv2-hop-limit"]["maxHopLimit"] == 2


def test_config_checker_refuses_bad_files() -> None:
    assert config_problems({"no-such-rule": "advisory"}) == ["no-such-rule: no such rule"]
    assert config_problems({"s3-versioned": "off"}) == ["s3-versioned: 'off' is not a level"]
    assert config_problems({"nodes-imdsv2-hop-limit": {"maxHops": 2}}) == [
        "nodes-imdsv2-hop-limit: Additional properties are not allowed ('maxHops' was unexpected)"
    ]
    assert config_problems({"production-retention": {"productionStacks": "prod"}}) == [
        "production-retention: 'prod' is not of type 'array'"
    ]


# --- the paths that run the pack ------------------------------------------------------------


def _workflow(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text()))


def policy_run_problems(workflow: dict[str, Any]) -> list[str]:
    problems = []
    for job_id, job in workflow["jobs"].items():
        steps = job.get("steps", [])
        for index, step in enumerate(steps):
            inputs = step.get("with") or {}
            if not str(step.get("uses", "")).startswith("pulumi/actions@"):
                continue
            if inputs.get("command") not in ("preview", "up"):
                continue
            if inputs.get("policyPacks") != "policy":
                problems.append(f"job {job_id}: pulumi {inputs.get('command')} without the pack")
            config = inputs.get("policyPackConfigs")
            if not config or not (ROOT / str(config)).is_file():
                problems.append(f"job {job_id}: policyPackConfigs {config!r} is not a file")
            installs = " ".join(str(s.get("run", "")) for s in steps[:index])
            if ".venv/bin/python -m pip install" not in installs or (
                "-r policy/requirements.txt" not in installs
            ):
                problems.append(f"job {job_id}: policy/requirements.txt not installed into .venv")
    return problems


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml"])
def test_workflows_run_the_pack(name: str) -> None:
    assert policy_run_problems(_workflow(name)) == []


def test_workflow_rule_rejects_mutants() -> None:
    no_pack = _workflow("preview.yml")
    steps = next(iter(no_pack["jobs"].values()))["steps"]
    next(s for s in steps if str(s.get("uses", "")).startswith("pulumi/actions@"))["with"].pop(
        "policyPacks"
    )
    assert policy_run_problems(no_pack) == ["job preview: pulumi preview without the pack"]

    no_install = _workflow("deploy.yml")
    steps = next(iter(no_install["jobs"].values()))["steps"]
    steps[:] = [s for s in steps if "policy/requirements.txt" not in str(s.get("run", ""))]
    assert policy_run_problems(no_install) == [
        "job deploy: policy/requirements.txt not installed into .venv"
    ]


def test_make_preview_and_up_run_the_pack() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^POLICY := --policy-pack policy ", makefile, re.M)
    assert "--policy-pack-config policy/config/$(STACK).json" in makefile
    for target in ("preview", "up"):
        recipe = re.search(rf"^{target}: install[^\n]*\n\t(.+)$", makefile, re.M)
        assert recipe and recipe.group(1).rstrip().endswith("$(POLICY)"), target


def test_pack_dependencies_are_pinned_alike() -> None:
    pack = (ROOT / "policy" / "requirements.txt").read_text()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dev = pyproject["dependency-groups"]["policy"]
    runtime = pyproject["project"]["dependencies"]
    policy_pin = re.search(r"^pulumi-policy==(\S+)$", pack, re.M)
    assert policy_pin and f"pulumi-policy=={policy_pin.group(1)}" in dev
    pulumi_pin = re.search(r"^pulumi==(\S+)$", pack, re.M)
    assert pulumi_pin and f"pulumi=={pulumi_pin.group(1)}" in runtime
    project = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    assert (ROOT / "policy" / project["runtime"]["options"]["virtualenv"]).resolve() == (
        ROOT / ".venv"
    ).resolve()
