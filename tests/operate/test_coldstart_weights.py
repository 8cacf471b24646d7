"""The cold-start benchmark reports the weights phase from the warm-up's log beside the model."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.operate.test_coldstart_bench import (  # noqa: F401  (inference is a fixture)
    MODEL,
    FakeInference,
    ScriptedPods,
    _argv,
    _pods,
    inference,
)
from tools.in_cluster.warmup import format_line
from tools.operate import coldstart_bench as bench

# What tools/in_cluster/warmup.py prints when it is done (its own formatter, so a format change
# shows here).
DONE = format_line(
    "info", "done", dir="/mnt/models", files=9, bytes=16060563456, seconds=12.5, gbps=1.285
)
LOG = "\n".join(
    [
        format_line("info", "start", dir="/mnt/models", files=9, bytes=16060563456, ranges=62),
        format_line("info", "progress", bytes=8 * 10**9, total_bytes=16060563456, seconds=6.0),
        DONE,
        format_line("info", "exec", argv="python3 -m huggingfaceserver"),
        "INFO vLLM started",
    ]
)


def test_parse_weights_phase_reads_the_done_line() -> None:
    assert bench.parse_weights_phase(LOG) == bench.WeightsPhase(16060563456, 12.5)
    assert bench.parse_weights_phase("INFO no warm-up here\n") is None
    empty = format_line("info", "empty", dir="/mnt/models", files=0, bytes=0)
    assert bench.parse_weights_phase(empty) is None


def test_weights_section_puts_the_prediction_for_the_same_bytes_beside() -> None:
    prediction = {
        "bytes": 16106127360,
        "baseline": {"bytesPerSecond": 431250000, "binding": "worker EBS bandwidth"},
        "burst": {"bytesPerSecond": 786432000, "binding": "worker disk"},
    }
    section = bench.weights_section([bench.WeightsPhase(16060563456, 12.5)], prediction)
    assert section.splitlines()[1:] == [
        "| Weights phase (warm-up log) | Bytes | Seconds | GB/s | Model, baseline | Model, burst |",
        "|---|---|---|---|---|---|",
        "| run 1 | 16060563456 | 12.500 | 1.285 | 37.2s (worker EBS bandwidth) | "
        "20.4s (worker disk) |",
    ]
    missing = bench.weights_section([], prediction).splitlines()[-1]
    assert missing == (
        "| not found in the warm-up log | - | - | - | 37.3s (worker EBS bandwidth) | "
        "20.5s (worker disk) |"
    )


def test_kubernetes_counter_reads_the_serving_container_log() -> None:
    calls: list[tuple[str, str, str]] = []

    def pod(name: str, phase: str) -> Any:
        return SimpleNamespace(
            metadata=SimpleNamespace(name=name), status=SimpleNamespace(phase=phase)
        )

    class CoreV1:
        def list_namespaced_pod(self, namespace: str, label_selector: str) -> Any:
            return SimpleNamespace(items=[pod("a", "Running"), pod("b", "Pending")])

        def read_namespaced_pod_log(self, name: str, namespace: str, container: str) -> str:
            calls.append((name, namespace, container))
            return LOG

    log = bench.KubernetesPodCounter(CoreV1()).warmup_log("kserve-fluid-demo", MODEL)
    assert bench.parse_weights_phase(log) == bench.WeightsPhase(16060563456, 12.5)
    assert calls == [("a", "kserve-fluid-demo", "kserve-container")]


class PodsWithLogs(ScriptedPods):
    def warmup_log(self, namespace: str, inference_service: str) -> str:
        return LOG if inference_service == MODEL else "baseline has no warm-up"


def test_benchmark_reports_weights_beside_the_model(
    inference: FakeInference,  # noqa: F811  (the fixture imported above)
    tmp_path: Path,
) -> None:
    plain = _pods(inference)
    pods = PodsWithLogs(plain.fake, plain.hosts, {})
    stdout = io.StringIO()
    out = tmp_path / "coldstart"
    assert bench.main(_argv(inference, out), pod_counter=pods, stdout=stdout) == 0
    table = (out / f"coldstart-{MODEL}.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| run ")]
    # dev: 3 x m5n.xlarge, bound by their 143.75 MB/s EBS baseline.
    expected = f"{16060563456 / (3 * 143.75e6):.1f}s (worker EBS bandwidth)"
    assert rows == [
        f"| run {n} | 16060563456 | 12.500 | 1.285 | {expected} | "
        f"{16060563456 / (3 * 250 * 2**20):.1f}s (worker disk) |"
        for n in (1, 2, 3)
    ]
    assert rows[0] in stdout.getvalue()
