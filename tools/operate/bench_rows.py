"""One row per benchmark request, and the reports both benchmark modes share.

A row is the request (model, variant, run, client-measured seconds, HTTP status) plus what the
cluster recorded for it (tools/operate/cluster_phases.py): its node, the node's age when the
request was sent, whether the serving image was already there, and the phases. Rows are grouped
by that node state: only rows of one state are compared.
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.operate.cluster_phases import PHASE_ORIGIN, PHASES, Observation, not_read

CSV_FIELDS = (
    "model", "variant", "run", "seconds", "status", "node", "node_age_s", "image_present",
    "node_state", *(f"{phase}_s" for phase in PHASES),
)  # fmt: skip


@dataclass(frozen=True)
class RunResult:
    """One request: `status` is the HTTP status, 0 when no response came back (curl's 000)."""

    model: str
    variant: str
    run: int
    seconds: float
    status: int
    observation: Observation = field(default_factory=not_read)
    """What the cluster recorded for this request (tools/operate/cluster_phases.py)."""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def node_state(self) -> str:
        return self.observation.state.label


def node_states(results: Sequence[Any]) -> list[str]:
    """The node states met, in order of first appearance: the rows of every table."""
    return list(dict.fromkeys(result.node_state for result in results))


def _cell(values: Sequence[float | None]) -> str:
    recorded = [v for v in values if v is not None]
    return f"{statistics.median(recorded):.1f} s" if recorded else "not recorded"


def phase_table(results: Sequence[RunResult]) -> str:
    """Per node state, the median of each phase (seconds since the request was sent) per
    variant: where the time went, from the cluster's own records."""
    lines: list[str] = []
    for state in node_states(results):
        group = [r for r in results if r.node_state == state]
        variants = list(dict.fromkeys(r.variant for r in group))
        ages = [r.observation.node_age_s for r in group if r.observation.node_age_s is not None]
        age = f"; node age at send {min(ages):.0f} to {max(ages):.0f} s" if ages else ""
        lines += [
            f"**{state}** ({PHASE_ORIGIN}{age})",
            "",
            "| phase | " + " | ".join(variants) + " |",
            "|---|" + "---|" * len(variants),
        ]
        for phase in PHASES:
            cells = [
                _cell([r.observation.phases.get(phase) for r in group if r.variant == v])
                for v in variants
            ]
            lines.append(f"| {phase} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def csv_row(result: RunResult) -> list[Any]:
    seen = result.observation
    present = "" if seen.image_present is None else str(seen.image_present).lower()
    return [
        result.model, result.variant, result.run, f"{result.seconds:.3f}", result.status,
        seen.node, _number(seen.node_age_s), present, result.node_state,
        *(_number(seen.phases.get(phase)) for phase in PHASES),
    ]  # fmt: skip


def write_csv(path: Path, results: Sequence[RunResult]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_FIELDS)
        for result in results:
            writer.writerow(csv_row(result))
