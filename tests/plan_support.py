"""Render the offline plan in a subprocess per scenario and query its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"


@dataclass
class Plan:
    """The offline plan of one scenario: resources.json plus the manifests folder."""

    folder: Path
    document: dict[str, Any]
    output: str = ""
    """What `python -m tools.plan` printed (stdout, then stderr)."""

    @property
    def resources(self) -> list[dict[str, Any]]:
        return list(self.document["resources"])

    @property
    def outputs(self) -> dict[str, Any]:
        return dict(self.document["outputs"])

    def of_type(self, typ: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["type"] == typ]

    def one(self, typ: str, name: str | None = None) -> dict[str, Any]:
        found = [r for r in self.of_type(typ) if name is None or r["name"] == name]
        assert len(found) == 1, f"expected one {typ} {name or ''}, found {len(found)}"
        return found[0]

    def by_urn(self) -> dict[str, dict[str, Any]]:
        return {r["urn"]: r for r in self.resources}

    def depends_on(self, resource: dict[str, Any], target: dict[str, Any]) -> bool:
        """Whether `resource` transitively depends on `target` through recorded dependencies."""
        index = self.by_urn()
        seen: set[str] = set()
        stack = list(resource["dependencies"])
        while stack:
            urn = stack.pop()
            if urn == target["urn"]:
                return True
            if urn in seen or urn not in index:
                continue
            seen.add(urn)
            stack.extend(index[urn]["dependencies"])
        return False

    def gpu_capacity(self) -> dict[str, Any]:
        """Karpenter's NodePool `gpu`, or the GPU managed node group when there is none."""
        pools = self.of_type(NODE_POOL)
        return pools[0] if pools else self.one("eks:index:ManagedNodeGroup", "cluster-gpu")

    def gpu_node_labels_and_taints(self) -> tuple[dict[str, str], list[dict[str, str]]]:
        """The labels and taints every GPU node gets, read from whichever makes GPU nodes."""
        capacity = self.gpu_capacity()
        if capacity["type"] == NODE_POOL:
            template = capacity["inputs"]["spec"]["template"]
            return dict(template["metadata"]["labels"]), list(template["spec"]["taints"])
        inputs = capacity["inputs"]
        effects = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute"}
        taints = [{**t, "effect": effects.get(t["effect"], t["effect"])} for t in inputs["taints"]]
        return dict(inputs["labels"]), taints

    def manifests(self) -> dict[str, Any]:
        return {
            path.name: yaml.safe_load(path.read_text())
            for path in sorted((self.folder / "manifests").glob("*.yaml"))
        }


@dataclass
class PlanFailure:
    returncode: int
    stdout: str
    stderr: str
    folder: Path


def run_plan(
    out: Path,
    stack: str = "dev",
    sets: dict[str, Any] | None = None,
    secrets: dict[str, str] | None = None,
    secret_value: str | None = None,
    preview: bool = False,
) -> Plan | PlanFailure:
    """Run `python -m tools.plan` once in a fresh interpreter (pulumi/pulumi#6561)."""
    command = [sys.executable, "-m", "tools.plan", "--stack", stack, "--out", str(out)]
    if preview:
        command.append("--preview")
    for key, value in (sets or {}).items():
        command += ["--set", f"{key}={json.dumps(value)}"]
    for key, value in (secrets or {}).items():
        command += ["--secret", f"{key}={value}"]
    if secret_value:
        command += ["--secret-value", secret_value]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        return PlanFailure(result.returncode, result.stdout, result.stderr, out)
    document = json.loads((out / "resources.json").read_text())
    return Plan(out, document, result.stdout + result.stderr)


def render(out: Path, **kwargs: Any) -> Plan:
    result = run_plan(out, **kwargs)
    assert isinstance(result, Plan), f"plan failed:\n{result.stderr}"
    return result
