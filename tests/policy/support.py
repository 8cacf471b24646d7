"""Run the policy pack's rules on plan documents, the way the CLI would run them online.

Each rule goes through the same `resource_validation`/`stack_validation` callback that
policy/__main__.py hands pulumi-policy, with resources adapted from the offline plan by
policy/rules/plan_adapter.py.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import StackValidationArgs

from policy.rules.base import ResourceRule, StackRule, resource_validation, stack_validation
from policy.rules.catalogue import RESOURCE_RULES, STACK_RULES
from policy.rules.plan_adapter import resource_args, stack_resources
from tools.plan.stack_config import SECRET_PLACEHOLDER

# The plaintext the plans are rendered with: secret outputs and secret config
# (tools/plan/render.py), and the hfToken the staging scenario sets (tests/policy/conftest.py).
STAGING_TOKEN = "hf_not_a_real_token"
SECRET_VALUES = (SECRET_PLACEHOLDER, STAGING_TOKEN)

ALL_RULES: list[ResourceRule | StackRule] = [*RESOURCE_RULES, *STACK_RULES]


def rule(name: str) -> ResourceRule | StackRule:
    return next(r for r in ALL_RULES if r.name == name)


def violations(
    name: str, document: Mapping[str, Any], config: Mapping[str, Any] | None = None
) -> list[str]:
    """Every message `name` reports on the plan `document` (policy config `config`)."""
    found: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(message)

    resources = stack_resources(document, SECRET_VALUES)
    selected = rule(name)
    if isinstance(selected, ResourceRule):
        validate = resource_validation(selected)
        for resource in resources:
            validate(resource_args(resource, config), report)
    else:
        stack_validation(selected)(StackValidationArgs(list(resources), dict(config or {})), report)
    return found


def mutate(document: Mapping[str, Any], change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    copied = copy.deepcopy(dict(document))
    change(copied)
    return copied


def record(document: Mapping[str, Any], typ: str, name: str | None = None) -> dict[str, Any]:
    found = [
        r for r in document["resources"] if r["type"] == typ and (name is None or r["name"] == name)
    ]
    assert len(found) == 1, f"expected one {typ} {name or ''}, found {len(found)}"
    return found[0]


def urn_of(document: Mapping[str, Any], typ: str, name: str | None = None) -> str:
    return str(record(document, typ, name)["urn"])


def add_record(
    document: dict[str, Any], typ: str, name: str, inputs: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """Append a registration shaped like the plan's (for shapes only seen online)."""
    stack, project = document["stack"], document["project"]
    entry = {
        "urn": f"urn:pulumi:{stack}::{project}::{typ}::{name}",
        "type": typ,
        "name": name,
        "parent": "",
        "provider": "",
        "dependencies": [],
        "custom": True,
        "protect": False,
        "retainOnDelete": False,
        "inputs": inputs,
        "secretPaths": [],
    }
    entry.update(extra)
    document["resources"].append(entry)
    return entry


def policy_json(record_: Mapping[str, Any], prop: str) -> dict[str, Any]:
    return dict(json.loads(record_["inputs"][prop]))
