"""The pack's policies, built from the rule catalogue without starting the analyzer server.

policy/__main__.py hands these to `PolicyPack`; the tests hand them to pulumi-policy's own
analyzer servicer, the object the CLI talks to.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from .base import resource_validation, stack_validation
from .catalogue import RESOURCE_RULES, STACK_RULES

PACK_NAME = "kserve-fluid-policy"
PACK_VERSION = "0.1.0"
"""As in PulumiPolicy.yaml (`version`)."""


def _schema(properties: dict[str, dict[str, Any]]) -> PolicyConfigSchema | None:
    return PolicyConfigSchema(properties=properties) if properties else None


def build_policies() -> list[Policy]:
    policies: list[Policy] = [
        ResourceValidationPolicy(
            name=rule.name,
            description=rule.description,
            validate=resource_validation(rule),
            enforcement_level=EnforcementLevel(rule.level),
            config_schema=_schema(rule.config),
        )
        for rule in RESOURCE_RULES
    ]
    policies += [
        StackValidationPolicy(
            name=rule.name,
            description=rule.description,
            validate=stack_validation(rule),
            enforcement_level=EnforcementLevel(rule.level),
            config_schema=_schema(rule.config),
        )
        for rule in STACK_RULES
    ]
    return policies
