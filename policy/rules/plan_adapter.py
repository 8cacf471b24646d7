"""The offline plan's records as the objects pulumi-policy hands validators online.

`build/plan/<stack>/resources.json` (tools/plan/render.py) holds each registration's type, camelCase
inputs, URN, parent, dependencies, `protect`, `retainOnDelete` and `secretPaths`. Online, a
resource validator gets `ResourceValidationArgs(resource_type, props, urn, name, opts,
provider, config)` and a stack validator a list of `PolicyResource` whose `parent` and
`dependencies` are the other `PolicyResource` objects
(pulumi/pulumi-policy:sdk/python/lib/pulumi_policy/policy.py@v1.21.0, `AnalyzeStack`).
Differences kept visible instead of papered over:
- `PlanResource.secret_paths`, `plaintext_secrets` and `retain_on_delete` exist offline only
  (pulumi-policy's options have no `retainOnDelete`, and its analyzer unwraps secrets); online
  they are absent. `plaintext_secrets` lists the input paths holding one of the plan's known
  secret values (the value tools/plan/render.py gives secret config and secret outputs) outside a
  secret-wrapped path: the plan shows wrapped values as "[secret]", so any other appearance is
  a secret that reached an input in plain text.
- the plan has no per-property dependencies, so `property_dependencies` is empty;
- resource references, recorded as {"$resource": urn}, become the URN string.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
)


class PlanResource(PolicyResource):
    """A `PolicyResource` with what only the offline plan knows."""

    secret_paths: list[str] | None
    plaintext_secrets: list[str] | None
    retain_on_delete: bool | None

    def __init__(self, record: Mapping[str, Any], secret_values: Sequence[str] = ()) -> None:
        options = PolicyResourceOptions(
            protect=bool(record.get("protect")),
            ignore_changes=[],
            delete_before_replace=None,
            aliases=[],
            custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
            additional_secret_outputs=[],
            parent=record.get("parent") or None,
        )
        super().__init__(
            resource_type=record["type"],
            props=_props(record.get("inputs") or {}),
            urn=record["urn"],
            name=record["name"],
            opts=options,
            provider=None,
            parent=None,
            dependencies=[],
            property_dependencies={},
        )
        self.secret_paths = list(record.get("secretPaths") or [])
        self.plaintext_secrets = sorted(
            _paths_holding(record.get("inputs") or {}, "$", [v for v in secret_values if v])
        )
        self.retain_on_delete = bool(record.get("retainOnDelete"))


def _paths_holding(value: Any, path: str, secrets: list[str]) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths_holding(item, f"{path}.{key}", secrets)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths_holding(item, f"{path}[{index}]", secrets)
    elif isinstance(value, str) and any(secret in value for secret in secrets):
        yield path


def _props(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$resource"}:
            return value["$resource"]
        return {k: _props(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_props(v) for v in value]
    return value


def stack_resources(
    document: Mapping[str, Any], secret_values: Sequence[str] = ()
) -> list[PlanResource]:
    """Every registration of a plan document, linked to its parent and dependencies.

    `secret_values`: the plaintext the plan was rendered with for secrets (tools/plan/render.py
    `--secret-value` and `--secret KEY=VALUE`), to find where one leaked.
    """
    resources = [PlanResource(record, secret_values) for record in document["resources"]]
    by_urn = {r.urn: r for r in resources}
    for resource, record in zip(resources, document["resources"], strict=True):
        resource.parent = by_urn.get(record.get("parent") or "")
        resource.dependencies = [by_urn[u] for u in record.get("dependencies", []) if u in by_urn]
    return resources


def load_plan(folder: Path) -> list[PlanResource]:
    return stack_resources(json.loads((folder / "resources.json").read_text()))


def resource_args(
    resource: PolicyResource, config: Mapping[str, Any] | None = None
) -> ResourceValidationArgs:
    """What a resource validator receives for `resource`; offline also `retain_on_delete`."""
    args = ResourceValidationArgs(
        resource.resource_type,
        resource.props,
        resource.urn,
        resource.name,
        resource.opts,
        None,
        dict(config or {}),
    )
    args.retain_on_delete = getattr(resource, "retain_on_delete", None)  # type: ignore[attr-defined]
    return args
