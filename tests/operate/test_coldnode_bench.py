"""The cold-start benchmark's phases, node state and keepalive, against a stand-in on 127.0.0.1.

The stand-in (tests/operate/cluster_standin.py) is both the Kubernetes API server, answered to
the real `kubernetes` client with objects shaped as the API serves them, and the ingress. Each
request meets a scripted node state: a new node with the image pulled, or the node already there
with the image present.
"""

from __future__ import annotations

import contextlib
import csv
import io
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.operate.cluster_standin import (
    NAMESPACE,
    START,
    Scenario,
    StandIn,
    kubeconfig,
    serve,
)
from tests.schemas import kubernetes_schema_version, validate_custom_object
from tests.schemas import validate_kubernetes_object as validate_core
from tools.operate import coldnode
from tools.operate import coldstart_bench as bench
from tools.operate.bench_rows import CSV_FIELDS
from tools.operate.cluster_phases import PHASES, KubernetesClusterReader, parse_time
from tools.operate.coldstart_bench import KubernetesPodCounter
from tools.operate.inference import BenchError, BenchTarget, ServiceEndpoint
from tools.plan.stack_config import load_typed_config

MODEL = "llama-31-8b-instruct"
FLUID_HOST = f"{MODEL}-predictor-{NAMESPACE}.example.com"
BASELINE_HOST = f"{MODEL}-baseline-predictor-{NAMESPACE}.example.com"
COLD_HOSTS = {FLUID_HOST: MODEL, BASELINE_HOST: f"{MODEL}-baseline"}
ON_LINUX = sys.platform.startswith("linux") and Path("/proc/net/tcp").exists()


def _cold_standin() -> StandIn:
    return StandIn(
        scenarios={
            MODEL: Scenario(MODEL, new_node=True, image_present=False, answer_s=271.0),
            f"{MODEL}-baseline": Scenario(
                f"{MODEL}-baseline",
                new_node=True,
                image_present=False,
                answer_s=560.0,
                pulled_s=390.0,
                started_s=392.0,
            ),
        },
        sends={MODEL: START, f"{MODEL}-baseline": START + timedelta(seconds=1200)},
    )


def _argv(state: StandIn, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "--stack", "dev", "--model", MODEL, "--runs", "1", "--out", str(tmp_path / "out"),
        "--ingress-url", state.url, "--fluid-host", FLUID_HOST, "--baseline-host", BASELINE_HOST,
        "--baseline-name", f"{MODEL}-baseline",
        "--kubeconfig", str(kubeconfig(state, tmp_path)), "--cold-node",
        "--poll-interval", "0.01", "--no-node-timeout", "5", *extra,
    ]  # fmt: skip


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_cold_node_reads_every_phase_from_the_cluster(tmp_path: Path) -> None:
    with serve(_cold_standin(), COLD_HOSTS) as state:
        stdout = io.StringIO()
        assert bench.main(_argv(state, tmp_path), stdout=stdout, clock=state.clock) == 0
    assert state.arrived == [MODEL, f"{MODEL}-baseline"]
    # It waited for the old GPU node, then for the first run's node, before each request.
    assert state.node_polls == 2 * 3
    rows = _rows(tmp_path / "out" / f"coldnode-{MODEL}.csv")
    assert list(rows[0]) == list(CSV_FIELDS)
    fluid, baseline = rows
    # Seconds since the request was sent, each from the object or event that records it
    # (cluster_standin.Scenario defaults: NodeClaim Launched 14, Registered 58, Initialized 81,
    # node Ready at Registered, PodScheduled 81, Pulled 185, started 187).
    assert {phase: fluid[f"{phase}_s"] for phase in PHASES} == {
        "pod_scheduled": "81.000", "nodeclaim_launched": "14.000",
        "nodeclaim_registered": "58.000", "nodeclaim_initialized": "81.000",
        "node_ready": "58.000", "image_pulled": "185.000", "container_started": "187.000",
        "first_token": "271.000",
    }  # fmt: skip
    assert (baseline["image_pulled_s"], baseline["first_token_s"]) == ("390.000", "560.000")
    # The node was created 44 s after the send: a new node, its image pulled.
    assert (fluid["node_age_s"], fluid["image_present"], fluid["node_state"]) == (
        "-44.000", "false", "new node, image pulled",
    )  # fmt: skip
    assert fluid["node"] == "ip-10-0-97-12.eu-central-1.compute.internal"
    table = (tmp_path / "out" / f"coldnode-{MODEL}.md").read_text()
    assert table.startswith(
        "**new node, image pulled** (seconds since the request was sent; node age at send "
        "-44 to -44 s)\n\n"
        "| phase | cache | download |\n|---|---|---|\n| pod_scheduled | 81.0 s | 81.0 s |\n"
    )
    assert "| first_token | 271.0 s | 560.0 s |" in table
    assert stdout.getvalue().startswith(table)
    chart = (tmp_path / "out" / f"coldnode-{MODEL}.png").read_bytes()
    assert chart.startswith(b"\x89PNG\r\n\x1a\n") and len(chart) > 10_000


@pytest.mark.skipif(not ON_LINUX, reason="reads the client socket's timer from /proc/net/tcp")
def test_cold_node_request_keeps_its_connection_alive(tmp_path: Path) -> None:
    """A cold node answers after the NLB's 350 s idle timeout: the open request's TCP connection
    must carry keepalive probes (timer 2 in /proc/net/tcp; 0 for a plain requests.Session)."""
    with serve(_cold_standin(), COLD_HOSTS) as state:
        assert bench.main(_argv(state, tmp_path), stdout=io.StringIO(), clock=state.clock) == 0
    assert state.keepalive_timers == ["02", "02"]


def test_standin_objects_are_shaped_as_the_api_serves_them(tmp_path: Path) -> None:
    """Every object the benchmark read passes the Kubernetes OpenAPI schema of the stack's
    version (core/v1) or the NodeClaim CRD (karpenter.sh/v1), unknown fields refused."""
    with serve(_cold_standin(), COLD_HOSTS) as state:
        assert bench.main(_argv(state, tmp_path), stdout=io.StringIO(), clock=state.clock) == 0
    version = kubernetes_schema_version(load_typed_config("dev").kubernetes_version)
    objects = state.every_object()
    assert {o["kind"] for o in objects} == {"Node", "NodeClaim", "Pod", "Event"}
    for document in objects:
        if document["apiVersion"] == "v1":
            validate_core(document, version)
        else:
            validate_custom_object(document)


def test_rows_are_compared_only_within_one_node_state(tmp_path: Path) -> None:
    """Three loaders of one model: the first request starts a node and pulls the image, the
    next two land on that node with the image present. Each table row holds one node state."""
    loaders = ("cache", "stream", "download")
    names = {loader: f"{MODEL}-{loader}" for loader in loaders}
    state = StandIn(
        scenarios={
            names["cache"]: Scenario(names["cache"], True, False, answer_s=271.0),
            names["stream"]: Scenario(
                names["stream"],
                False,
                True,
                answer_s=40.0,
                scheduled_s=1.0,
                pulled_s=2.0,
                started_s=3.0,
            ),
            names["download"]: Scenario(
                names["download"],
                False,
                True,
                answer_s=120.0,
                scheduled_s=1.0,
                pulled_s=70.0,
                started_s=71.0,
            ),
        },
        sends={
            names["cache"]: START,
            names["stream"]: START + timedelta(seconds=600),
            names["download"]: START + timedelta(seconds=900),
        },
    )
    hosts = {f"{name}.example.com": name for name in names.values()}
    with serve(state, hosts):
        config_path = kubeconfig(state, tmp_path)
        target = BenchTarget(
            MODEL, MODEL, "15GiB", "g5.8xlarge", state.url,
            tuple(ServiceEndpoint(loader, names[loader], NAMESPACE, f"{names[loader]}.example.com")
                  for loader in loaders),
        )  # fmt: skip
        results = bench.run_benchmark(
            target,
            KubernetesPodCounter.from_kubeconfig(config_path),
            1,
            scale_down_timeout_s=5,
            poll_s=0.01,
            phases=KubernetesClusterReader.from_kubeconfig(config_path),
            clock=state.clock,
            log=lambda line: None,
        )
    assert [(r.variant, r.node_state) for r in results] == [
        ("cache", "new node, image pulled"),
        ("stream", "warm node, image present"),
        ("download", "warm node, image present"),
    ]
    # The node joined 44 s after the first send: 556 s old at the second, 856 s at the third.
    assert [r.observation.node_age_s for r in results] == [-44.0, 556.0, 856.0]
    # On a node that was already there, no NodeClaim or node phase belongs to the request.
    warm = results[1].observation.phases
    assert [warm[p] for p in PHASES[1:5]] == [None, None, None, None]
    assert warm["image_pulled"] == 2.0
    lines = bench.markdown_table(target, results).splitlines()
    assert lines[0] == (
        "| Model Name | Model Size (Snapshot) | Machine Type | Node state | "
        "KServe + Fluid(JindoFS) | KServe + Run:ai Streamer (S3) | KServe + Storage Initializer |"
    )
    new_row, warm_row = lines[2], lines[3]
    assert new_row.startswith(f"| {MODEL} | 15GiB | g5.8xlarge | new node, image pulled | total: ")
    assert new_row.endswith("| no run in this state | no run in this state |")
    assert warm_row.startswith(
        f"| {MODEL} | 15GiB | g5.8xlarge | warm node, image present | no run in this state | "
        "total: "
    )
    phases = bench.phase_table(results)
    assert "**warm node, image present** (seconds since the request was sent; node age at send " \
        "556 to 856 s)\n\n| phase | stream | download |" in phases  # fmt: skip
    assert "| nodeclaim_launched | not recorded | not recorded |" in phases


def test_cold_node_gives_up_when_gpu_nodes_stay(tmp_path: Path) -> None:
    state = _cold_standin()
    state.gpu_nodes_left = 10**9
    stderr = io.StringIO()
    with serve(state, COLD_HOSTS), contextlib.redirect_stderr(stderr):
        argv = _argv(state, tmp_path, "--no-node-timeout", "0.2")
        code = bench.main(argv, stdout=io.StringIO(), clock=state.clock)
    assert code == 1
    assert state.arrived == [], "no request while a GPU node still exists"
    assert (
        "coldstart_bench: GPU node(s) ip-10-0-33-4.eu-central-1.compute.internal still exist "
        "after 0.2 s; the keep-warm window (gpuNodes.keepWarmMinutes) plus termination must "
        "pass with no model pod"
    ) in stderr.getvalue()


def test_cold_node_names_the_node_pools_types(tmp_path: Path) -> None:
    import yaml

    root = Path(__file__).resolve().parents[2]
    document = yaml.safe_load((root / "Pulumi.dev.yaml").read_text())
    document["config"]["kserve-fluid:gpuNodes"] = {
        "instanceTypes": ["g5.8xlarge", "g6e.8xlarge"],
        "gpuLimit": 3,
    }
    stack_file = tmp_path / "Pulumi.bench.yaml"
    stack_file.write_text(yaml.safe_dump(document))
    stdout = io.StringIO()
    with serve(_cold_standin(), COLD_HOSTS) as state:
        argv = _argv(state, tmp_path, "--stack-file", str(stack_file))
        assert bench.main(argv, stdout=stdout, clock=state.clock) == 0
    assert "llama-31-8b-instruct on g5.8xlarge/g6e.8xlarge, no GPU node" in stdout.getvalue()


def test_timestamps_with_nanoseconds_and_offsets() -> None:
    assert parse_time("2026-11-20T10:03:41.512345678Z") == START.replace(
        minute=3, second=41, microsecond=512345
    )
    assert parse_time("2026-11-20T12:00:00+02:00") == START
    assert parse_time(None) is None
    assert coldnode.NoGpuNodeTimeout.__mro__[1] is BenchError
