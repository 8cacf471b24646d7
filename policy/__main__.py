"""The kserve-fluid policy pack: turns the rules in `rules/` into CrossGuard policies.

Run by the Pulumi CLI (`pulumi preview --policy-pack policy`); never imported by tests, since
constructing `PolicyPack` starts the analyzer's gRPC server and blocks
(pulumi/pulumi-policy:sdk/python/lib/pulumi_policy/policy.py@v1.21.0).
"""

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyPack,
    ResourceValidationPolicy,
    StackValidationPolicy,
)
from rules.base import resource_validation, stack_validation
from rules.catalogue import RESOURCE_RULES, STACK_RULES


def _schema(properties: dict) -> PolicyConfigSchema | None:
    return PolicyConfigSchema(properties=properties) if properties else None


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

PolicyPack(name="kserve-fluid-policy", policies=policies)
