"""What a rule is, and the one adapter from a rule to the callbacks pulumi-policy calls.

A rule's `check` returns its violation messages instead of calling `report_violation`, so a
test can assert the exact text; `resource_validation`/`stack_validation` wrap it in the
signatures of pulumi-policy 1.21.0 (`ResourceValidation = Callable[[ResourceValidationArgs,
ReportViolation], ...]`, pulumi/pulumi-policy:sdk/python/lib/pulumi_policy/policy.py@v1.21.0).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)

MANDATORY = "mandatory"
ADVISORY = "advisory"

ResourceCheck = Callable[[ResourceValidationArgs, Mapping[str, Any]], list[str]]
# A stack check returns (message, urn of the offending resource).
StackCheck = Callable[[list[PolicyResource], Mapping[str, Any]], list[tuple[str, str]]]


@dataclass(frozen=True)
class ResourceRule:
    """One resource validation policy: name, level, and the check run on every resource."""

    name: str
    description: str
    level: str
    check: ResourceCheck
    # JSON-schema properties of the rule's policy config, each with a default.
    config: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class StackRule:
    """One stack validation policy: it sees every resource with its parent and dependencies."""

    name: str
    description: str
    level: str
    check: StackCheck
    config: dict[str, dict[str, Any]] = field(default_factory=dict)


def with_defaults(
    schema: Mapping[str, Mapping[str, Any]], config: Mapping[str, Any]
) -> dict[str, Any]:
    """The rule's config with schema defaults filled in.

    The CLI applies schema defaults before calling the pack; a direct call (tests) does not.
    """
    merged = {key: spec.get("default") for key, spec in schema.items()}
    merged.update({k: v for k, v in config.items() if k in schema})
    return merged


def resource_validation(
    rule: ResourceRule,
) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    """The `validate` callback pulumi-policy calls with each resource."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule.check(args, with_defaults(rule.config, args.get_config())):
            report_violation(message, None)

    return validate


def stack_validation(rule: StackRule) -> Callable[[StackValidationArgs, ReportViolation], None]:
    """The `validate` callback pulumi-policy calls once with every resource of the stack."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        config = with_defaults(rule.config, args.get_config())
        for message, urn in rule.check(list(args.resources), config):
            report_violation(message, urn)

    return validate


# ---------------------------------------------------------------------------------------------
# Small helpers every module uses
# ---------------------------------------------------------------------------------------------


def stack_of(urn: str) -> str:
    """The stack name inside a URN: urn:pulumi:<stack>::<project>::<type>::<name>."""
    parts = urn.split(":")
    return parts[2] if len(parts) > 2 and urn.startswith("urn:pulumi:") else ""


def is_production(urn: str, config: Mapping[str, Any]) -> bool:
    return stack_of(urn) in set(config.get("productionStacks") or [])


PRODUCTION_STACKS = {
    "productionStacks": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["prod"],
        "description": "Stacks held to the production rules (names as in Pulumi.<stack>.yaml).",
    }
}


def truthy(value: Any) -> bool:
    """True for True and "true": pulumi-aws types some booleans as strings (ebs.encrypted)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def number(value: Any) -> Any:
    """2.0 -> 2: online, every number arrives as a protobuf double."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def policy_document(value: Any) -> dict[str, Any]:
    """An IAM policy document given as a JSON string or an object; {} when unreadable."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return dict(value) if isinstance(value, Mapping) else {}


def statements(document: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for statement in as_list(document.get("Statement")):
        if isinstance(statement, Mapping):
            yield statement


def as_list(value: Any) -> list[Any]:
    """A list for a list, one value, or None. Online, lists arrive as pulumi-policy's
    `_ListProxy` (a `Sequence`, not a `list`: pulumi_policy/proxy.py@v1.21.0)."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return [value]


def depends_on(resource: PolicyResource, target: PolicyResource) -> bool:
    """Whether `resource` reaches `target` through dependencies, its parents' included.

    The engine destroys a resource before anything it depends on; a parent's dependencies hold
    for its children too (a child is deleted before its parent).
    """
    seen: set[str] = set()
    todo = [resource]
    while todo:
        current = todo.pop()
        if current.urn in seen:
            continue
        seen.add(current.urn)
        for dependency in current.dependencies:
            if dependency.urn == target.urn:
                return True
            todo.append(dependency)
        if current.parent is not None:
            todo.append(current.parent)
    return False


def display(resource: PolicyResource | ResourceValidationArgs) -> str:
    """`<type> <name>`, the way a violation names a resource."""
    return f"{resource.resource_type} {resource.name}"
