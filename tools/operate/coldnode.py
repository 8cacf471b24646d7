"""Cold-node mode of the cold-start benchmark: where the seconds go when no GPU node exists.

`python -m tools.operate.coldstart_bench --cold-node ...` runs this per InferenceService (every
variant the stack lists for the model): wait until the cluster has no GPU node (Karpenter removed it
after the keep-warm window), send the completion request over a TCP-keepalive session (a cold
node takes longer than the NLB's 350 s idle timeout; tools/operate/ingress_http.py), and once it is
answered read the phases the cluster recorded (tools/operate/cluster_phases.py: pod_scheduled,
nodeclaim_launched, nodeclaim_registered, nodeclaim_initialized, node_ready, image_pulled,
container_started, first_token, in seconds since the request was sent), the node's age and
whether the image was already on it. Reports group the rows by that node state and compare
only rows of one state:

    <out>/coldnode-<model>.md    per node state, each phase's median per variant
    <out>/coldnode-<model>.csv   one row per request (tools/operate/bench_rows.CSV_FIELDS)
    <out>/coldnode-<model>.png   per variant and node state, the phases on a time line
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import requests

from tools.operate.bench_rows import RunResult, node_states, phase_table, write_csv
from tools.operate.cluster_phases import (
    PHASE_ORIGIN,
    PHASES,
    PhaseReader,
    read_observation,
    utc_now,
)
from tools.operate.inference import BenchError, BenchTarget, send_completion
from tools.operate.ingress_http import keepalive_session


class NoGpuNodeTimeout(BenchError):
    """GPU nodes stayed for the whole wait."""


class ColdNodeReader(PhaseReader, Protocol):
    """The phases' reads plus the GPU node listing that tells when no GPU node is left."""

    def gpu_nodes(self) -> list[dict[str, Any]]: ...


def wait_for_no_gpu_node(
    reader: ColdNodeReader,
    timeout_s: float,
    poll_s: float,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> float:
    """Wait until no node of NodePool `gpu` exists; return the seconds waited."""
    start = monotonic()
    while True:
        nodes = reader.gpu_nodes()
        if not nodes:
            return monotonic() - start
        if monotonic() - start >= timeout_s:
            names = ", ".join(node["metadata"]["name"] for node in nodes)
            raise NoGpuNodeTimeout(
                f"GPU node(s) {names} still exist after {timeout_s:g} s; the keep-warm window "
                "(gpuNodes.keepWarmMinutes) plus termination must pass with no model pod"
            )
        sleep(poll_s)


def run_cold_node(
    target: BenchTarget,
    reader: ColdNodeReader,
    runs: int,
    *,
    no_node_timeout_s: float,
    poll_s: float,
    request_timeout_s: float,
    http: requests.Session | None = None,
    clock: Callable[[], datetime] | None = None,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> list[RunResult]:
    """Per run and InferenceService: no GPU node, one request, what the cluster recorded."""
    session = http or keepalive_session()
    now = clock or utc_now
    measured: list[RunResult] = []
    for run in range(1, runs + 1):
        for service in target.services:
            prefix = (
                f"[cold node {run}/{runs}] {service.variant} {service.namespace}/{service.name}"
            )
            log(f"{prefix}: waiting for no GPU node (up to {no_node_timeout_s:g} s)")
            waited = wait_for_no_gpu_node(reader, no_node_timeout_s, poll_s)
            log(f"{prefix}: no GPU node after {waited:.1f} s; sending the completion request")
            sent_at = now()
            seconds, status, error = send_completion(
                session, target.ingress_url, service, request_timeout_s
            )
            answered_at = now()
            seen = read_observation(reader, service.namespace, service.name, sent_at, answered_at)
            measured.append(RunResult(target.model, service.variant, run, seconds, status, seen))
            log(
                f"{prefix}: first token after {seen.phases['first_token']} s, status {status}, "
                f"{seen.state.label}" + (f" ({error})" if error else "")
            )
    return measured


# --- reports -----------------------------------------------------------------------------------


def markdown_table(target: BenchTarget, results: Sequence[RunResult]) -> str:
    """Per node state, the phases' medians per variant."""
    runs = max((r.run for r in results), default=0)
    return (
        phase_table(results)
        + f"\n{target.model} on {target.machine_type}, no GPU node before each request; "
        f"median of {runs} run(s), {PHASE_ORIGIN}; only variants under one node state are "
        "compared.\n"
    )


def write_chart(path: Path, target: BenchTarget, results: Sequence[RunResult]) -> None:
    """One line per variant and node state with a marker at each phase's median."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [
        (variant, state)
        for state in node_states(results)
        for variant in dict.fromkeys(r.variant for r in results)
        if any(r.variant == variant and r.node_state == state for r in results)
    ]
    figure = Figure(figsize=(10, 2.6 + 0.6 * max(1, len(rows))))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    colors = colormaps["tab10"]
    labels = [f"{variant}\n{state}" for variant, state in rows]
    for index, phase in enumerate(PHASES):
        xs, ys = [], []
        for label, (variant, state) in zip(labels, rows, strict=True):
            values = [
                r.observation.phases.get(phase)
                for r in results
                if r.variant == variant and r.node_state == state
            ]
            recorded = [v for v in values if v is not None]
            if recorded:
                xs.append(statistics.median(recorded))
                ys.append(label)
        axes.scatter(xs, ys, color=colors(index), label=phase, s=60, zorder=3)
    axes.set_xlabel(PHASE_ORIGIN)
    axes.set_title(f"{target.model}: cold start with no GPU node ({target.machine_type})")
    axes.grid(axis="x", alpha=0.3)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncols=4, fontsize=8)
    figure.tight_layout()
    figure.savefig(path, format="png")


def write_reports(out: Path, target: BenchTarget, results: Sequence[RunResult]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"coldnode-{target.model}"
    table, rows, chart = stem.with_suffix(".md"), stem.with_suffix(".csv"), stem.with_suffix(".png")
    table.write_text(markdown_table(target, results))
    write_csv(rows, results)
    write_chart(chart, target, results)
    return [table, rows, chart]
