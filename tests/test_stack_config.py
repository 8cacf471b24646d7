"""The Pulumi CLI's own config checks, mirrored by tools/plan/stack_config.py with the CLI's
wording.

Each message below is the format string of pulumi/pulumi at v3.259.0 (pkg/workspace/config.go
and sdk/go/common/workspace/project.go), so a stack the CLI refuses is refused by `make plan`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config.model import ConfigError
from tools.plan.stack_config import (
    ROOT,
    cli_rule_problems,
    load_stack_settings,
    load_typed_config,
    project_rule_problems,
    read_project,
)

STACK_FILES = sorted(ROOT.glob("Pulumi.*.yaml"))


def project_with(**declarations: Any) -> dict[str, Any]:
    return {"name": "kserve-fluid", "config": declarations}


@pytest.mark.parametrize("path", STACK_FILES, ids=[p.name for p in STACK_FILES])
def test_every_committed_stack_passes_the_cli_rules(path: Path) -> None:
    stack = path.name.split(".")[1]
    project = read_project()
    assert project_rule_problems(project) == []
    assert cli_rule_problems(stack, project, yaml.safe_load(path.read_text())["config"]) == []


def test_committed_stacks_are_found() -> None:
    assert {p.name for p in STACK_FILES} >= {"Pulumi.dev.yaml", "Pulumi.prod.yaml"}


def test_declared_key_without_default_must_be_set() -> None:
    project = project_with(hfToken={"type": "string", "secret": True})
    assert cli_rule_problems("dev", project, {}) == [
        "Stack 'dev' is missing configuration value 'hfToken'"
    ]


def test_several_missing_keys_are_listed_sorted_in_one_line() -> None:
    project = project_with(
        world={"type": "string"}, hello={"type": "string"}, values={"type": "string"}
    )
    assert cli_rule_problems("dev", project, {}) == [
        "Stack 'dev' is missing configuration values 'hello', 'values' and 'world'"
    ]


def test_key_of_another_namespace_is_not_required() -> None:
    project = project_with(**{"aws:region": {"value": "eu-central-1"}, "other:key": {}})
    assert cli_rule_problems("dev", project, {}) == []


def test_secret_key_must_be_secure() -> None:
    project = project_with(token={"type": "string", "secret": True})
    assert cli_rule_problems("dev", project, {"kserve-fluid:token": "plain"}) == [
        "Stack 'dev' with configuration key 'token' must be encrypted as it's secret"
    ]
    assert cli_rule_problems("dev", project, {"kserve-fluid:token": {"secure": "v1:abc"}}) == []


def test_secret_key_with_a_default_is_refused_when_the_stack_does_not_set_it() -> None:
    # mergeConfig writes the default as a plain value before validateStackConfigValue runs.
    project = project_with(token={"type": "string", "secret": True, "default": ""})
    assert cli_rule_problems("prod", project, {}) == [
        "Stack 'prod' with configuration key 'token' must be encrypted as it's secret"
    ]


@pytest.mark.parametrize(
    ("declaration", "value", "type_name"),
    [
        ({"type": "integer"}, "three", "integer"),
        ({"type": "integer"}, 2.5, "integer"),
        ({"type": "boolean"}, "yes", "boolean"),
        ({"type": "string"}, {"a": 1}, "string"),
        ({"type": "object"}, [1], "object"),
        ({"type": "array", "items": {"type": "string"}}, [1, "a"], "array<string>"),
        ({"type": "array", "items": {"type": "object"}}, [{}, "x"], "array<object>"),
        (
            {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
            [[1], ["a"]],
            "array<array<integer>>",
        ),
    ],
)
def test_value_must_match_the_declared_type(
    declaration: dict[str, Any], value: Any, type_name: str
) -> None:
    project = project_with(key=declaration)
    assert cli_rule_problems("dev", project, {"kserve-fluid:key": value}) == [
        f"Stack 'dev' with configuration key 'key' must be of type '{type_name}'"
    ]


@pytest.mark.parametrize(
    ("declaration", "value"),
    [
        ({"type": "integer"}, 3),
        ({"type": "integer"}, "-3"),
        ({"type": "boolean"}, True),
        ({"type": "boolean"}, "false"),
        ({"type": "string"}, 1.34),  # a YAML number is kept as its text
        ({"type": "array", "items": {"type": "integer"}}, [1, 2.0]),
    ],
)
def test_values_the_cli_accepts(declaration: dict[str, Any], value: Any) -> None:
    project = project_with(key=declaration)
    assert cli_rule_problems("dev", project, {"kserve-fluid:key": value}) == []


def test_a_wrongly_typed_default_is_checked_after_the_merge() -> None:
    project = project_with(count={"type": "integer", "default": "many"})
    assert project_rule_problems(project) == [
        "The default value specified for configuration key 'count' is not of the expected "
        "type 'integer'"
    ]


def test_array_without_items_is_refused() -> None:
    project = project_with(cidrs={"type": "array", "default": []})
    assert project_rule_problems(project) == [
        "The configuration key 'cidrs' declares an array but does not specify the underlying "
        "type via the 'items' attribute"
    ]


def test_default_and_value_together_are_refused() -> None:
    project = project_with(key={"default": 1, "value": 2})
    assert project_rule_problems(project) == [
        "project config 'key' cannot have both a 'default' and 'value' attribute"
    ]


def test_stack_key_without_namespace_is_refused() -> None:
    assert cli_rule_problems("dev", project_with(), {"models": []}) == [
        "could not parse models as a configuration key "
        "(configuration keys should be of the form `<namespace>:<name>`)"
    ]


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    path = tmp_path / "Pulumi.t.yaml"
    path.write_text(text)
    return path


def test_yaml_syntax_error_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "config:\n  aws:region: [eu-central-1\n")
    with pytest.raises(ConfigError) as caught:
        load_stack_settings("t", root=tmp_path, stack_file=path)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("Pulumi.t.yaml: line 3 column 1: YAML syntax error:")


def test_missing_stack_file_is_one_line(tmp_path: Path) -> None:
    write(tmp_path, "")
    with pytest.raises(ConfigError) as caught:
        load_stack_settings("staging", root=tmp_path)
    assert caught.value.problems == [
        "no stack file Pulumi.staging.yaml; create it with `pulumi stack init staging`"
    ]


def test_plan_applies_the_rules_to_its_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, yaml.safe_dump({"config": {"aws:region": "eu-central-1"}}))
    with pytest.raises(ConfigError) as caught:
        load_stack_settings("t", root=tmp_path, stack_file=path, overrides={"imdsHopLimit": "x"})
    assert caught.value.problems == [
        "Stack 't' with configuration key 'imdsHopLimit' must be of type 'integer'"
    ]


def test_current_project_declares_no_required_key() -> None:
    # Every declared key has a default, so a fresh `pulumi stack init` runs every command.
    project = copy.deepcopy(read_project())
    assert cli_rule_problems("fresh", project, {}) == []


def test_a_stack_written_by_config_set_path_passes_both_checks(tmp_path: Path) -> None:
    # `pulumi config set --path knative.domain llm.example.org` and
    # `pulumi config set --path 'models[0].resources.cpu' 16` on a fresh stack: partial objects,
    # a number where Kubernetes takes a quantity string.
    models = copy.deepcopy(read_project()["config"]["models"]["default"])
    models[0]["resources"]["cpu"] = 16
    path = write(
        tmp_path,
        yaml.safe_dump(
            {
                "config": {
                    "aws:region": "eu-central-1",
                    "kserve-fluid:knative": {"domain": "llm.example.org"},
                    "kserve-fluid:models": models,
                    "kserve-fluid:dockerHubCredentialArn": (
                        "arn:aws:secretsmanager:eu-central-1:123456789012:secret:"
                        "ecr-pullthroughcache/docker-hub-AbCdEf"
                    ),
                }
            }
        ),
    )
    config = load_typed_config("t", root=tmp_path, stack_file=path)
    assert config.knative.domain == "llm.example.org"
    assert config.knative.progress_deadline_seconds == 1800
    assert config.models[0].resources.cpu == "16"


def test_a_typo_in_the_stack_file_names_the_closest_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        yaml.safe_dump(
            {
                "config": {
                    "aws:region": "eu-central-1",
                    "kserve-fluid:modelBuckett": {"protect": True},
                }
            }
        ),
    )
    with pytest.raises(ConfigError) as caught:
        load_typed_config("t", root=tmp_path, stack_file=path)
    assert caught.value.problems == [
        'modelBuckett: is not a known key; did you mean "modelBucket"?'
    ]
