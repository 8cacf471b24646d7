"""Compare two offline plans and print what a change would deploy differently, as Markdown.

    python -m tools.plan.diff BASE HEAD [--out diff.md]

BASE and HEAD are each a plan folder (`build/plan/<stack>/`, holding resources.json and
manifests/) or a folder of plan folders (`build/plan/`), compared stack by stack. A stack
missing on one side counts as an empty plan there, so a new stack shows as all added.

Resources are keyed by URN and manifests by kind, namespace and name, never by position: the
order of registrations (and so the NN- prefix of manifest files) may change without the plan
changing. Reported: resources added and removed, inputs changed (by JSON path, old -> new),
options changed (dependencies, parent, provider, protect, retainOnDelete), manifests added,
removed and changed (by path), and stack outputs changed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

OPTION_FIELDS = ("parent", "provider", "protect", "retainOnDelete")
MAX_VALUE_CHARS = 80
MAX_PATHS_PER_RESOURCE = 25
_MANIFEST_INDEX = re.compile(r"^\d+-")


@dataclass
class PlanSnapshot:
    """What one plan folder holds, keyed for comparison; `missing` when there is no plan."""

    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    manifests: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    missing: bool = False
    policy: list[str] = field(default_factory=list)
    """The policy pack's verdict lines (tools/plan/render.py stores them in resources.json)."""


def load_plan(folder: Path) -> PlanSnapshot:
    document_path = folder / "resources.json"
    if not document_path.is_file():
        return PlanSnapshot(missing=True)
    document = json.loads(document_path.read_text())
    resources: dict[str, dict[str, Any]] = {}
    for resource in document["resources"]:
        resources[resource["urn"]] = resource
    manifests = {}
    for path in sorted((folder / "manifests").glob("*.yaml")):
        manifests[_MANIFEST_INDEX.sub("", path.stem)] = yaml.safe_load(path.read_text())
    return PlanSnapshot(
        resources,
        manifests,
        dict(document.get("outputs") or {}),
        policy=list(document.get("policy") or []),
    )


def changed_paths(old: Any, new: Any, path: str = "$") -> Iterator[tuple[str, Any, Any]]:
    """(JSON path, old, new) of every leaf that differs; maps compared by key, lists by index."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            child = f"{path}.{key}" if re.fullmatch(r"[A-Za-z_][\w-]*", key) else f"{path}[{key!r}]"
            yield from changed_paths(old.get(key, _ABSENT), new.get(key, _ABSENT), child)
    elif isinstance(old, list) and isinstance(new, list):
        for index in range(max(len(old), len(new))):
            yield from changed_paths(
                old[index] if index < len(old) else _ABSENT,
                new[index] if index < len(new) else _ABSENT,
                f"{path}[{index}]",
            )
    elif old != new:
        yield path, old, new


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


_ABSENT: Any = _Absent()


@dataclass
class ResourceChange:
    urn: str
    type: str
    name: str
    inputs: list[tuple[str, Any, Any]]
    options: list[tuple[str, Any, Any]]


@dataclass
class StackDiff:
    stack: str
    base_missing: bool
    head_missing: bool
    added: list[dict[str, Any]]
    removed: list[dict[str, Any]]
    changed: list[ResourceChange]
    manifests_added: list[str]
    manifests_removed: list[str]
    manifests_changed: dict[str, list[tuple[str, Any, Any]]]
    outputs_changed: list[tuple[str, Any, Any]]
    policy_head: list[str] = field(default_factory=list)
    policy_changed: bool = False

    @property
    def empty(self) -> bool:
        return not (
            self.added
            or self.removed
            or self.changed
            or self.manifests_added
            or self.manifests_removed
            or self.manifests_changed
            or self.outputs_changed
            or self.policy_changed
            or self.base_missing != self.head_missing
        )


def diff_plans(stack: str, base: PlanSnapshot, head: PlanSnapshot) -> StackDiff:
    added = [head.resources[u] for u in sorted(set(head.resources) - set(base.resources))]
    removed = [base.resources[u] for u in sorted(set(base.resources) - set(head.resources))]
    changed = []
    for urn in sorted(set(base.resources) & set(head.resources)):
        old, new = base.resources[urn], head.resources[urn]
        inputs = list(changed_paths(old.get("inputs"), new.get("inputs")))
        options = [
            (name, old.get(name), new.get(name))
            for name in OPTION_FIELDS
            if old.get(name) != new.get(name)
        ]
        old_deps, new_deps = set(old.get("dependencies", [])), set(new.get("dependencies", []))
        if old_deps != new_deps:
            options.append(
                ("dependencies", sorted(old_deps - new_deps), sorted(new_deps - old_deps))
            )
        if inputs or options:
            changed.append(ResourceChange(urn, new["type"], new["name"], inputs, options))
    manifests_changed = {
        key: list(changed_paths(base.manifests[key], head.manifests[key]))
        for key in sorted(set(base.manifests) & set(head.manifests))
        if base.manifests[key] != head.manifests[key]
    }
    return StackDiff(
        stack=stack,
        base_missing=base.missing,
        head_missing=head.missing,
        added=added,
        removed=removed,
        changed=changed,
        manifests_added=sorted(set(head.manifests) - set(base.manifests)),
        manifests_removed=sorted(set(base.manifests) - set(head.manifests)),
        manifests_changed=manifests_changed,
        outputs_changed=list(changed_paths(base.outputs, head.outputs)),
        policy_head=head.policy,
        policy_changed=base.policy != head.policy,
    )


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------


def _value(value: Any) -> str:
    text = repr(value) if value is _ABSENT else json.dumps(value, sort_keys=True)
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 1] + "…"
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _path_lines(changes: list[tuple[str, Any, Any]]) -> list[str]:
    lines = [
        f"  - `{_cell(path)}`: {_value(old)} → {_value(new)}"
        for path, old, new in changes[:MAX_PATHS_PER_RESOURCE]
    ]
    if len(changes) > MAX_PATHS_PER_RESOURCE:
        lines.append(f"  - … and {len(changes) - MAX_PATHS_PER_RESOURCE} more paths")
    return lines


def _option_line(name: str, old: Any, new: Any) -> str:
    if name == "dependencies":  # (no longer depended on, newly depended on), shown by name
        gone = ", ".join(f"`{u.rsplit('::', 1)[-1]}`" for u in old) or "none"
        new_ones = ", ".join(f"`{u.rsplit('::', 1)[-1]}`" for u in new) or "none"
        return f"  - dependencies: dropped {gone}; added {new_ones}"
    return f"  - option `{name}`: {_value(old)} → {_value(new)}"


def to_markdown(diff: StackDiff) -> str:
    lines = [f"### Stack `{diff.stack}`", ""]
    if diff.head_missing:
        return "\n".join([*lines, "**No plan for the head**: rendering it failed.", ""])
    if diff.base_missing:
        lines += ["No plan for the base (new stack, or the base does not render).", ""]
    if diff.empty:
        return "\n".join([*lines, "No changes.", ""])
    lines += [
        f"{len(diff.added)} to add, {len(diff.removed)} to remove, {len(diff.changed)} to "
        f"change; {len(diff.manifests_added) + len(diff.manifests_removed)} manifests added or "
        f"removed, {len(diff.manifests_changed)} changed.",
        "",
    ]
    for title, resources in (("Added", diff.added), ("Removed", diff.removed)):
        if resources:
            lines += [f"#### {title}", "", "| Type | Name | URN |", "|---|---|---|"]
            lines += [
                f"| `{_cell(r['type'])}` | `{_cell(r['name'])}` | `{_cell(r['urn'])}` |"
                for r in resources
            ]
            lines.append("")
    if diff.changed:
        lines += ["#### Changed", ""]
        for change in diff.changed:
            lines.append(f"- `{change.type}` `{change.name}`")
            lines += _path_lines(change.inputs)
            lines += [_option_line(name, old, new) for name, old, new in change.options]
        lines.append("")
    if diff.manifests_added or diff.manifests_removed or diff.manifests_changed:
        lines += ["#### Manifests", ""]
        lines += [f"- added `{name}`" for name in diff.manifests_added]
        lines += [f"- removed `{name}`" for name in diff.manifests_removed]
        for name, changes in diff.manifests_changed.items():
            lines.append(f"- changed `{name}`")
            lines += _path_lines(changes)
        lines.append("")
    if diff.outputs_changed:
        lines += ["#### Outputs", ""]
        lines += [f"- `{p}`: {_value(o)} → {_value(n)}" for p, o, n in diff.outputs_changed]
        lines.append("")
    if diff.policy_changed:
        lines += ["#### Policy pack (head)", "", "```", *diff.policy_head, "```", ""]
    return "\n".join(lines)


def stack_folders(root: Path) -> dict[str, Path]:
    """{stack: plan folder}: the folder itself if it is a plan, else its plan subfolders."""
    if (root / "resources.json").is_file():
        return {root.name: root}
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if (p / "resources.json").is_file()}


def diff_folders(base: Path, head: Path) -> list[StackDiff]:
    base_stacks, head_stacks = stack_folders(base), stack_folders(head)
    if (base / "resources.json").is_file() or (head / "resources.json").is_file():
        pairs = {head.name or base.name: (base, head)}
    else:
        names = sorted(set(base_stacks) | set(head_stacks))
        pairs = {n: (base / n, head / n) for n in names}
    return [diff_plans(n, load_plan(b), load_plan(h)) for n, (b, h) in pairs.items()]


def report(diffs: list[StackDiff]) -> str:
    changed = [d.stack for d in diffs if not d.empty]
    summary = (
        f"Stacks with changes: {', '.join(f'`{s}`' for s in changed)}."
        if changed
        else "No stack changes."
    )
    parts = ["## Offline plan diff", "", summary, ""]
    parts += [to_markdown(d) for d in diffs]
    return "\n".join(parts).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base", type=Path, help="plan folder (or folder of plans) of the base")
    parser.add_argument("head", type=Path, help="plan folder (or folder of plans) of the head")
    parser.add_argument("--out", type=Path, help="write the Markdown here instead of stdout")
    args = parser.parse_args(argv)
    diffs = diff_folders(args.base, args.head)
    if not diffs:
        print(f"no plan under {args.base} or {args.head}", file=sys.stderr)
        return 2
    text = report(diffs)
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
