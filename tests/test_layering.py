"""The layering contract: which package may import which, and no import cycle anywhere.

Imports run one way: `__main__.py` -> the layers -> the shared helpers -> the configuration.
Each layer package (`components/<layer>/`) holds its ComponentResource, the pure builders of its
objects and its IAM documents; it imports the configuration, the shared helpers, itself and only
the layers `LAYER_IMPORTS` names. `tools/` is grouped by where the code runs, and the program
imports none of it. Every import counts, also one inside a function or under `TYPE_CHECKING`:
a cycle a reader has to follow is a cycle.

A new module must have a place here: a file under `components/` that is neither in a layer nor
a listed helper fails, and so does a module at the top of `tools/`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("components", "tools", "bench", "policy")
"""What is checked for cycles, besides `__main__.py` (tests may import anything)."""

CONFIG = "components.config"
"""The typed model, its rules, instance and throughput facts; imports no layer and no helper."""
FACTS = ("components.versions",)
"""Pins the configuration itself reads (supported Kubernetes versions)."""
HELPERS = (
    "components.context",
    "components.hostnames",
    "components.image_mirror",
    "components.kube",
    "components.naming",
    "components.network_policies",
    "components.restricted",
    "components.timeouts",
    "components.trust_policies",
    "components.versions",
)
"""Shared by several layers; they import the configuration and each other, never a layer."""
LAYER_IMPORTS: Mapping[str, tuple[str, ...]] = {
    "network": (),
    "cluster": (),
    "karpenter": (),
    "storage": (),
    "images": (),
    "platform": (),
    "staging": ("storage",),
    "cache": (),
    "serving": ("cache", "karpenter"),
}
"""Each layer, and the other layers it may import (the service account names and annotations
it shares with them). Anything it receives at run time comes through its Args."""
TOOL_IMPORTS: Mapping[str, tuple[str, ...]] = {
    # Shipped into pods as files (ConfigMaps): nothing of the repository is there.
    "tools.in_cluster": (),
    # The offline plan: runs the program under mocks, reads the stack files.
    # The offline plan: runs the program under mocks, reads the stack files, and hands the
    # result to the policy pack's own rules (its verdict is part of the plan).
    "tools.plan": ("components", "policy"),
    # Operator commands: against the AWS account and the cluster; read stacks like the plan.
    "tools.operate": ("components", "tools.plan"),
    # Repository upkeep (the vendored charts and CRDs): standard library only.
    "tools.maintain": (),
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path, sources: Iterable[str] = SOURCES) -> dict[str, Path]:
    """Every module of the project, by dotted name (`__main__` is the Pulumi program)."""
    modules = {"__main__": root / "__main__.py"} if (root / "__main__.py").exists() else {}
    for source in sources:
        for path in sorted((root / source).rglob("*.py")):
            modules[module_name(path, root)] = path
    return modules


def imports_of(name: str, path: Path, known: Iterable[str]) -> set[str]:
    """The project modules `name` imports, wherever the import statement stands."""
    known = set(known)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from package import module` imports the module; otherwise the package itself.
            targets = [f"{base}.{alias.name}" for alias in node.names]
            targets = [t if t in known else base for t in targets]
        for target in targets:
            # `import a.b.c` of a module: the longest known prefix.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(root: Path, sources: Iterable[str] = SOURCES) -> dict[str, set[str]]:
    modules = project_modules(root, sources)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def place(name: str) -> str | None:
    """Where a module of the program or its tools stands in the contract (None: nowhere)."""
    if name == "__main__":
        return "entry point"
    if _within(name, CONFIG):
        return "config"
    if name in HELPERS:
        return "helper"
    for layer in LAYER_IMPORTS:
        if _within(name, f"components.{layer}"):
            return f"layer {layer}"
    for group in TOOL_IMPORTS:
        if _within(name, group):
            return group
    if name in ("components", "tools"):
        return "package"
    if _within(name, "bench") or _within(name, "policy"):
        return "outside"
    return None


def _allowed(source: str, target: str) -> bool:
    """May module `source` import module `target`?"""
    where, there = place(source), place(target)
    if where in ("entry point", "outside", "package"):
        return True
    if where == "config":
        return there == "config" or target in FACTS
    if where == "helper":
        return there in ("config", "helper")
    if where is not None and where.startswith("layer "):
        layer = where.removeprefix("layer ")
        allowed = {f"layer {other}" for other in (layer, *LAYER_IMPORTS[layer])}
        return there in ("config", "helper") or there in allowed
    if where is not None and where in TOOL_IMPORTS:
        if _within(source, "tools.in_cluster.stage_model"):
            return _within(target, "tools.in_cluster.stage_model")
        return _within(target, where) or any(
            _within(target, allowed) for allowed in TOOL_IMPORTS[where]
        )
    return False


def violations(graph: Mapping[str, set[str]]) -> list[str]:
    """One line per import the contract forbids and per module it has no place for."""
    problems = [
        f"{name}: not in the layering contract; put it in a layer package, a tools group, or "
        "list it as a shared helper in tests/test_layering.py"
        for name in sorted(graph)
        if place(name) is None
    ]
    for source in sorted(graph):
        if place(source) is None:
            continue
        problems += [
            f"{source} imports {target} ({place(source)} -> {place(target) or 'unplaced'})"
            for target in sorted(graph[source])
            if place(target) is not None and not _allowed(source, target)
        ]
    return problems


def test_no_import_cycle_anywhere():
    assert cycles(import_graph(ROOT)) == []


def test_every_import_follows_the_layering_contract():
    assert violations(import_graph(ROOT)) == []


def test_every_layer_of_the_contract_is_a_package():
    for layer in LAYER_IMPORTS:
        assert (ROOT / "components" / layer / "component.py").is_file(), layer
    for group in TOOL_IMPORTS:
        assert (ROOT / group.replace(".", "/") / "__init__.py").is_file(), group


def _tree(root: Path, files: Mapping[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_cycle_through_a_function_level_import_is_found(tmp_path):
    root = _tree(
        tmp_path,
        {
            "components/__init__.py": "",
            "components/config/__init__.py": "",
            "components/config/model.py": "def f():\n    from components.hostnames import g\n",
            "components/hostnames.py": "from components.config.model import f\n",
            "components/naming.py": "from components.config import model\n",
        },
    )
    graph = import_graph(root, ("components",))
    assert graph["components.naming"] == {"components.config.model"}
    assert cycles(graph) == [["components.config.model", "components.hostnames"]]
    assert violations(graph) == [
        "components.config.model imports components.hostnames (config -> helper)"
    ]


def test_forbidden_imports_and_unplaced_modules_are_named(tmp_path):
    root = _tree(
        tmp_path,
        {
            "components/__init__.py": "",
            "components/loose.py": "",
            "components/naming.py": "from components.cache import manifests\n",
            "components/cache/__init__.py": "",
            "components/cache/manifests.py": "from components.serving.manifests import x\n",
            "components/serving/__init__.py": "",
            "components/serving/manifests.py": "from components.cache.manifests import y\n",
            "components/staging/__init__.py": "",
            "components/staging/job.py": "from tools.in_cluster.stage_model.errors import E\n",
            "tools/__init__.py": "",
            "tools/in_cluster/__init__.py": "",
            "tools/in_cluster/warmup.py": "import components.naming\n",
            "tools/in_cluster/stage_model/__init__.py": "from .errors import E\n",
            "tools/in_cluster/stage_model/errors.py": "E = 1\n",
            "tools/plan/__init__.py": "",
            "tools/plan/render.py": "from tools.operate import smoke\n",
            "tools/operate/__init__.py": "",
            "tools/operate/smoke.py": "from tools.plan import render\n",
        },
    )
    graph = import_graph(root, ("components", "tools"))
    assert graph["tools.in_cluster.stage_model"] == {"tools.in_cluster.stage_model.errors"}
    assert violations(graph) == [
        "components.loose: not in the layering contract; put it in a layer package, a tools "
        "group, or list it as a shared helper in tests/test_layering.py",
        "components.cache.manifests imports components.serving.manifests "
        "(layer cache -> layer serving)",
        "components.naming imports components.cache.manifests (helper -> layer cache)",
        "components.staging.job imports tools.in_cluster.stage_model.errors "
        "(layer staging -> tools.in_cluster)",
        "tools.in_cluster.warmup imports components.naming (tools.in_cluster -> helper)",
        "tools.plan.render imports tools.operate.smoke (tools.plan -> tools.operate)",
    ]
    assert cycles(graph) == [
        ["components.cache.manifests", "components.serving.manifests"],
        ["tools.operate.smoke", "tools.plan.render"],
    ]
