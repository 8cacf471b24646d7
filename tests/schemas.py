"""Validate custom objects against the real CRDs in vendor/crds, refusing unknown fields."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils
import yaml
from referencing import Registry, Resource

from tools.maintain.vendor import CRD_DIR

_SCHEMA_ROOT = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"


def _strict(schema: Any) -> Any:
    """Apply Kubernetes structural-schema rules as JSON Schema: unknown fields are errors."""
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if schema.pop("x-kubernetes-int-or-string", False):
            schema.pop("type", None)
            schema.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
        preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
        if schema.get("type") == "object" and "properties" in schema and not preserve:
            schema.setdefault("additionalProperties", False)
        return schema
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def _shared_crds() -> dict[tuple[str, str], dict[str, Any]]:
    """{(apiVersion, kind): openAPIV3Schema} of every CRD file, parsed once (libyaml)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for crd in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for served in spec["versions"]:
                key = (f"{spec['group']}/{served['name']}", spec["names"]["kind"])
                found[key] = served["schema"]["openAPIV3Schema"]
    return found


@cache
def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    found = _shared_crds().get((api_version, kind))
    if found is None:
        raise LookupError(f"no CRD for {kind} {api_version} in {CRD_DIR}")
    schema = copy.deepcopy(found)
    schema.setdefault("properties", {})["metadata"] = {"type": "object"}
    return _strict(schema)


@cache
def _crd_validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    # Built once per kind: jsonschema.validate() re-checks the (megabyte) schema on every call.
    return jsonschema.Draft7Validator(crd_schema(api_version, kind))


def validate_custom_object(document: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when the object does not fit its CRD."""
    _crd_validator(document["apiVersion"], document["kind"]).validate(document)


# --------------------------------------------------------------------------------------------
# CRDs that a chart of the plan installs (cert-manager's, KServe's ClusterStorageContainer)
# --------------------------------------------------------------------------------------------


CrdValidators = dict[tuple[str, str], jsonschema.Draft7Validator]


def crd_validators(crds: list[dict[str, Any]]) -> CrdValidators:
    """{(apiVersion, kind): strict validator} of CustomResourceDefinition objects, every version."""
    found: CrdValidators = {}
    for crd in crds:
        if crd.get("kind") != "CustomResourceDefinition":
            continue
        spec = crd["spec"]
        for served in spec["versions"]:
            schema = copy.deepcopy((served.get("schema") or {}).get("openAPIV3Schema") or {})
            schema.setdefault("properties", {})["metadata"] = {"type": "object"}
            key = (f"{spec['group']}/{served['name']}", spec["names"]["kind"])
            found[key] = jsonschema.Draft7Validator(_strict(schema))
    return found


def validate_against_crds(document: dict[str, Any], extra: CrdValidators) -> None:
    """The shared CRD first (as today), else a CRD one of the plan's charts installs."""
    try:
        validator = _crd_validator(document["apiVersion"], document["kind"])
    except LookupError:
        key = (document["apiVersion"], document["kind"])
        if key not in extra:
            raise LookupError(
                f"no CRD for {document['kind']} {document['apiVersion']} in {CRD_DIR} "
                "or in any chart of the plan"
            ) from None
        validator = extra[key]
    validator.validate(document)


# --------------------------------------------------------------------------------------------
# Kubernetes built-in kinds: kubernetes-validate's OpenAPI-derived JSON schemas
# --------------------------------------------------------------------------------------------


def kubernetes_schema_versions() -> list[str]:
    """The Kubernetes versions kubernetes-validate ships schemas for, oldest first."""
    return list(dict.fromkeys(kubernetes_validate.utils.all_versions()))


def kubernetes_schema_version(cluster_version: str) -> str:
    """The shipped schema for the cluster's version: the same minor, else the newest older one
    (what kubernetes_validate.validate picks), never a newer one."""
    wanted = tuple(int(p) for p in cluster_version.removeprefix("v").split(".")[:2])
    usable = [
        v for v in kubernetes_schema_versions() if tuple(int(p) for p in v.split(".")[:2]) <= wanted
    ]
    if not usable:
        raise LookupError(
            f"kubernetes-validate ships no schema for Kubernetes {cluster_version} or older"
        )
    return usable[-1]


class NoKubernetesSchema(LookupError):
    """Not a built-in kind of this Kubernetes version (a custom resource, or a removed API)."""


@cache
def _definitions(schema_dir: str) -> Any:
    return json.loads((_SCHEMA_ROOT / schema_dir / "_definitions.json").read_text())


@cache
def _kubernetes_validator(version: str, api_version: str, kind: str) -> Any:
    # Same files and resolution as kubernetes_validate.utils.validate (kubernetes-validate
    # 1.37.0), with the 1.5 MB definitions file read once instead of once per object.
    schema_dir = f"v{version}-local-strict"
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _SCHEMA_ROOT / schema_dir / f"{kind.lower()}-{group_version}.json"
    if not path.is_file():
        raise NoKubernetesSchema(f"{kind} {api_version} is not a Kubernetes {version} kind")
    schema = json.loads(path.read_text())
    registry: Registry = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(_definitions(schema_dir)) @ registry
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def validate_kubernetes_object(document: dict[str, Any], version: str) -> None:
    """Raise jsonschema.ValidationError when a built-in object does not fit the strict schema
    (unknown fields refused); NoKubernetesSchema when the kind is not built in."""
    validator = _kubernetes_validator(version, document["apiVersion"], document["kind"])
    validator.validate(document)
