"""Render the offline plan in a subprocess per scenario and query its JSON."""

from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock

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
        # libyaml's parser: the pure-Python one takes seconds for a plan's manifests.
        return {
            path.name: yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
            for path in sorted((self.folder / "manifests").glob("*.yaml"))
        }


@dataclass
class PlanFailure:
    returncode: int
    stdout: str
    stderr: str
    folder: Path


class PlanServer:
    """This test process's tests/plan_server.py: one warm interpreter that forks a child per
    plan, so each render skips the imports (one server per pytest-xdist worker)."""

    _running: PlanServer | None = None

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.plan_server"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        atexit.register(self.stop)

    @classmethod
    def get(cls) -> PlanServer:
        if cls._running is None or cls._running.process.poll() is not None:
            cls._running = PlanServer()
        return cls._running

    def run(self, arguments: list[str], folder: Path) -> tuple[int, str, str]:
        """(exit status, stdout, stderr) of `python -m tools.plan <arguments>`."""
        with tempfile.TemporaryDirectory(prefix="plan-output-") as scratch:
            stdout, stderr = Path(scratch) / "stdout", Path(scratch) / "stderr"
            request = {"argv": arguments, "stdout": str(stdout), "stderr": str(stderr)}
            assert self.process.stdin and self.process.stdout
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            reply = self.process.stdout.readline()
            assert reply, f"the plan server stopped while rendering into {folder}"
            return json.loads(reply)["returncode"], stdout.read_text(), stderr.read_text()

    def stop(self) -> None:
        if self.process.poll() is None and self.process.stdin:
            self.process.stdin.close()
            self.process.wait(timeout=30)


SHARED_PLANS: Path | None = None
"""Where pytest-xdist workers share successful renders (tests/conftest.py sets it)."""


def _shared_run(arguments: list[str], out: Path) -> tuple[int, str, str]:
    """A scenario renders once per test session, whichever worker asks first; the others wait
    for it and get a copy in their own `out` (failures are not shared: they are fast, and a
    test of a failure may look at what the run left in `out`)."""
    assert SHARED_PLANS is not None
    at = arguments.index("--out")
    scenario = json.dumps(arguments[:at] + arguments[at + 2 :])
    entry = SHARED_PLANS / hashlib.sha256(scenario.encode()).hexdigest()[:24]
    SHARED_PLANS.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{entry}.lock"):
        if (entry / "run.json").exists():
            run = json.loads((entry / "run.json").read_text())
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(entry / "plan", out)
            rendered_at = run["out"]
            return 0, *(run[k].replace(rendered_at, str(out)) for k in ("stdout", "stderr"))
        returncode, stdout, stderr = PlanServer.get().run(arguments, out)
        if returncode == 0:
            shutil.copytree(out, entry / "plan")
            run = {"out": str(out), "stdout": stdout, "stderr": stderr}
            (entry / "run.json").write_text(json.dumps(run))
        return returncode, stdout, stderr


def run_plan(
    out: Path,
    stack: str = "dev",
    sets: dict[str, Any] | None = None,
    secrets: dict[str, str] | None = None,
    secret_value: str | None = None,
    preview: bool = False,
    fresh: bool = False,
    shared: bool = True,
) -> Plan | PlanFailure:
    """Run `python -m tools.plan` once (pulumi/pulumi#6561: one run per process): in a forked
    child of the warm plan server, or with `fresh` in a new interpreter; `shared` lets the
    same scenario's render from another worker stand in."""
    arguments = ["--stack", stack, "--out", str(out)]
    if preview:
        arguments.append("--preview")
    for key, value in (sets or {}).items():
        arguments += ["--set", f"{key}={json.dumps(value)}"]
    for key, value in (secrets or {}).items():
        arguments += ["--secret", f"{key}={value}"]
    if secret_value:
        arguments += ["--secret-value", secret_value]
    if fresh:
        command = [sys.executable, "-m", "tools.plan", *arguments]
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
        returncode, stdout, stderr = result.returncode, result.stdout, result.stderr
    elif shared and SHARED_PLANS is not None:
        returncode, stdout, stderr = _shared_run(arguments, out)
    else:
        returncode, stdout, stderr = PlanServer.get().run(arguments, out)
    if returncode != 0:
        return PlanFailure(returncode, stdout, stderr, out)
    document = json.loads((out / "resources.json").read_text())
    return Plan(out, document, stdout + stderr)


def render(out: Path, **kwargs: Any) -> Plan:
    result = run_plan(out, **kwargs)
    assert isinstance(result, Plan), f"plan failed:\n{result.stderr}"
    return result
