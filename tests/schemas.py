"""Validate custom objects against the real CRDs in shared/schemas/crds, refusing unknown fields."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CRD_DIR = Path(__file__).resolve().parents[2] / "shared" / "schemas" / "crds"
if not CRD_DIR.exists():  # a clone checked out beside shared/ under another name
    CRD_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "schemas" / "crds"


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
def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    group, version = api_version.split("/")
    for path in CRD_DIR.glob("*.yaml"):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            if spec["group"] != group or spec["names"]["kind"] != kind:
                continue
            for served in spec["versions"]:
                if served["name"] == version:
                    schema = copy.deepcopy(served["schema"]["openAPIV3Schema"])
                    schema.setdefault("properties", {})["metadata"] = {"type": "object"}
                    return _strict(schema)
    raise LookupError(f"no CRD for {kind} {api_version} in {CRD_DIR}")


def validate_custom_object(document: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when the object does not fit its CRD."""
    schema = crd_schema(document["apiVersion"], document["kind"])
    jsonschema.validate(document, schema, cls=jsonschema.Draft7Validator)
