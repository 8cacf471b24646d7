"""Secrets: a credential the stack creates reaches Kubernetes only through a Secret, and stays
a Pulumi secret on the way.

What a policy can see differs by where it runs:
- offline, the plan records which input paths arrive secret-wrapped (`secretPaths`), so a
  Secret whose `data`/`stringData` is not wrapped is caught, and the plan's known secret
  plaintext found anywhere else is a secret config value or output that reached an input
  unwrapped (`plaintext_secrets`);
- online, pulumi-policy 1.21.0's Python analyzer unwraps secret values before a validator sees
  them (`deserialize_properties(..., proxy_secrets=False)` in `Analyze`/`AnalyzeStack`,
  pulumi/pulumi-policy:sdk/python/lib/pulumi_policy/policy.py@v1.21.0 and deserialize.py), so
  only the dependency part of this rule runs there.

A stack rule (dependencies and property dependencies reach only `AnalyzeStack`). It reports at
the end of `pulumi preview` and of `pulumi up` (pulumi/pulumi:pkg/resource/deploy/
step_generator.go@1b59498 `AnalyzeResources`); it reads no property online, so no unknown value
defers it and `up`'s own preview refuses before anything is created.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyResource

from .base import MANDATORY, StackRule, display

SECRET = "kubernetes:core/v1:Secret"
SECRET_FIELDS = ("data", "stringData")

SOURCES = {
    "secretSourceTypes": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["aws:iam/accessKey:AccessKey"],
        "description": "Resource types whose outputs are credentials.",
    },
    "secretSinkTypes": {
        "type": "array",
        "items": {"type": "string"},
        "default": [SECRET],
        "description": "Resource types that may consume those outputs.",
    },
}


def _covered(path: str, secret_paths: list[str]) -> bool:
    return any(path == p or path.startswith((p + ".", p + "[")) for p in secret_paths)


def _consumers(resource: PolicyResource, sources: set[str]) -> list[tuple[str, PolicyResource]]:
    """(property, source) pairs: per property where the engine says, else the whole resource."""
    if resource.property_dependencies:
        return [
            (prop, dependency)
            for prop, dependencies in resource.property_dependencies.items()
            for dependency in dependencies
            if dependency.resource_type in sources
        ]
    return [("", d) for d in resource.dependencies if d.resource_type in sources]


def check_secrets(
    resources: list[PolicyResource], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    sources = set(config.get("secretSourceTypes") or [])
    sinks = set(config.get("secretSinkTypes") or [])
    found = []
    for resource in resources:
        for prop, source in _consumers(resource, sources):
            allowed = resource.resource_type in sinks and (not prop or prop in SECRET_FIELDS)
            if not allowed:
                where = f".{prop}" if prop else ""
                found.append(
                    (
                        f"{display(resource)}{where}: takes a value from {display(source)}; "
                        "credentials reach the cluster only through a Kubernetes Secret",
                        resource.urn,
                    )
                )
        for path in getattr(resource, "plaintext_secrets", None) or []:
            found.append(
                (
                    f"{display(resource)}: {path} holds a secret value in plain text "
                    "(keep it an Output from require_secret or a secret output)",
                    resource.urn,
                )
            )
        secret_paths = getattr(resource, "secret_paths", None)
        if resource.resource_type == SECRET and secret_paths is not None:
            for name in SECRET_FIELDS:
                values = resource.props.get(name)
                if not values:
                    continue
                # The plan shows a wholly secret field as "[secret]", a partly secret one
                # key by key.
                paths = (
                    [f"$.{name}.{key}" for key in values]
                    if isinstance(values, Mapping)
                    else [f"$.{name}"]
                )
                if any(not _covered(path, secret_paths) for path in paths):
                    found.append(
                        (
                            f"{display(resource)}: {name} is not a Pulumi secret "
                            "(read it with require_secret or from a secret output)",
                            resource.urn,
                        )
                    )
    return found


RULES = [
    StackRule(
        "secrets-stay-secret",
        "Credentials reach Kubernetes only through a Secret whose data is a Pulumi secret.",
        MANDATORY,
        check_secrets,
        SOURCES,
    ),
]
