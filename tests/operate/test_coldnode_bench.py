"""`coldstart_bench --cold-node` against a stand-in on 127.0.0.1 that plays back a recorded run.

The stand-in is both the Kubernetes API server (the real `kubernetes` client talks to it through
a kubeconfig) and the ingress. It serves the recording in `data/coldnode-recording.json`: first a
GPU node that is still draining (the benchmark must wait for it to go), then, once a completion
request for an InferenceService arrives, the Pod, NodeClaim, Node, events and log that run left
behind. The recording also holds the client's send and answer times, which the stand-in plays
back as the benchmark's clock.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from tools.operate import coldnode
from tools.operate import coldstart_bench as bench
from tools.operate.inference import COMPLETIONS_PATH, ServiceEndpoint

RECORDING = json.loads((Path(__file__).parent / "data" / "coldnode-recording.json").read_text())
MODEL = "llama-31-8b-instruct"
NAMESPACE = "kserve-fluid-demo"
FLUID_HOST = f"{MODEL}-predictor-{NAMESPACE}.example.com"
BASELINE_HOST = f"{MODEL}-baseline-predictor-{NAMESPACE}.example.com"
HOSTS = {FLUID_HOST: MODEL, BASELINE_HOST: f"{MODEL}-baseline"}
NODES_STILL_THERE = 2
"""Polls for which the previous GPU node is still listed before it is gone."""


@dataclass
class Playback:
    """What the stand-in has played so far."""

    runs: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {run["inferenceService"]: run for run in RECORDING["runs"]}
    )
    arrived: list[str] = field(default_factory=list)
    draining: list[dict[str, Any]] = field(
        default_factory=lambda: [RECORDING["previousGpuNode"]] * NODES_STILL_THERE
    )
    nodes_never_go: bool = False
    seen: list[str] = field(default_factory=list)
    client_times: list[str] = field(
        default_factory=lambda: [
            t for run in RECORDING["runs"] for t in (run["sent"], run["answered"])
        ]
    )
    url: str = ""

    def clock(self) -> datetime:
        """The recorded client clock: send and answer time of each run, in order."""
        return coldnode.parse_time(self.client_times.pop(0)) or datetime.now(UTC)

    def arrived_runs(self) -> list[dict[str, Any]]:
        return [self.runs[name] for name in self.arrived]


class BadRequest(Exception):
    pass


def _handler(play: Playback) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parsed = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
            play.seen.append(self.path)
            parts = parsed.path.strip("/").split("/")
            try:
                status, body, kind = self._route(parts, query)
            except BadRequest as error:
                status, body, kind = 400, {"message": str(error)}, "application/json"
            self._send(status, body, kind)

        def _route(self, parts: list[str], query: dict[str, str]) -> tuple[int, Any, str]:
            json_type = "application/json"
            if parts == ["api", "v1", "nodes"]:
                if query.get("labelSelector") != "karpenter.sh/nodepool=gpu":
                    raise BadRequest(f"unexpected node selector {query}")
                if play.nodes_never_go:
                    return 200, {"items": [RECORDING["previousGpuNode"]]}, json_type
                items = [play.draining.pop(0)] if play.draining else []
                return 200, {"kind": "NodeList", "items": items}, json_type
            if parts[:3] == ["api", "v1", "nodes"] and len(parts) == 4:
                for run in play.arrived_runs():
                    if run["node"]["metadata"]["name"] == parts[3]:
                        return 200, run["node"], json_type
                return 404, {"kind": "Status", "code": 404, "reason": "NotFound"}, json_type
            if parts == ["apis", "karpenter.sh", "v1", "nodeclaims"]:
                items = [run["nodeClaim"] for run in play.arrived_runs()]
                return 200, {"kind": "NodeClaimList", "items": items}, json_type
            if parts[:3] == ["api", "v1", "namespaces"] and parts[3] == NAMESPACE:
                rest = parts[4:]
                if rest == ["pods"]:
                    selector = query.get("labelSelector", "")
                    key, _, isvc = selector.partition("=")
                    if key != "serving.kserve.io/inferenceservice":
                        raise BadRequest(f"unexpected pod selector {selector}")
                    items = [play.runs[isvc]["pod"]] if isvc in play.arrived else []
                    return 200, {"kind": "PodList", "items": items}, json_type
                if rest == ["events"]:
                    selector = query.get("fieldSelector", "")
                    pod = selector.removeprefix("involvedObject.name=")
                    runs = [r for r in play.arrived_runs() if r["pod"]["metadata"]["name"] == pod]
                    return 200, {"items": runs[0]["events"] if runs else []}, json_type
                if len(rest) == 3 and rest[0] == "pods" and rest[2] == "log":
                    # The API server parses booleans with Go's strconv.ParseBool ("True" too).
                    timestamps = query.get("timestamps", "").lower() == "true"
                    if query.get("container") != "kserve-container" or not timestamps:
                        raise BadRequest(f"unexpected log query {query}")
                    runs = [
                        r for r in play.arrived_runs() if r["pod"]["metadata"]["name"] == rest[1]
                    ]
                    return 200, runs[0]["log"] if runs else "", "text/plain"
            raise BadRequest(f"no route for {self.path}")

        def do_POST(self) -> None:
            host = self.headers.get("Host", "")
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            if self.path != COMPLETIONS_PATH or HOSTS.get(host) != body.get("model"):
                self._send(404, {"error": f"no model {body.get('model')} at {host}{self.path}"})
                return
            isvc = HOSTS[host]
            play.arrived.append(isvc)
            # After the answer the run's GPU node stays until the keep-warm window ends.
            play.draining = [play.runs[isvc]["node"]] * NODES_STILL_THERE
            self._send(200, {"model": isvc, "choices": [{"index": 0, "text": " Red is warm."}]})

    return Handler


@pytest.fixture()
def playback(tmp_path: Path) -> Iterator[Playback]:
    play = Playback()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(play))
    play.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield play
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _kubeconfig(play: Playback, tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "standin", "cluster": {"server": play.url}}],
                "users": [{"name": "bench", "user": {}}],
                "contexts": [
                    {"name": "standin", "context": {"cluster": "standin", "user": "bench"}}
                ],
                "current-context": "standin",
            }
        )
    )
    return path


def _argv(play: Playback, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "--stack", "dev", "--model", MODEL, "--runs", "1", "--out", str(tmp_path / "out"),
        "--ingress-url", play.url, "--fluid-host", FLUID_HOST, "--baseline-host", BASELINE_HOST,
        # The recording predates the loaders: its download service has the old name.
        "--baseline-name", f"{MODEL}-baseline",
        "--kubeconfig", str(_kubeconfig(play, tmp_path)), "--cold-node",
        "--poll-interval", "0.01", "--no-node-timeout", "5", *extra,
    ]  # fmt: skip


EXPECTED_TABLE = """\
| phase (ends at) | llama-31-8b-instruct | llama-31-8b-instruct-baseline |
|---|---|---|
| pod created | 0.8 s | 0.9 s |
| NodeClaim launched | 13.0 s | 14.0 s |
| node Ready | 44.0 s | 45.0 s |
| nvidia.com/gpu allocatable | 23.0 s | 22.0 s |
| model downloaded | not recorded | 288.0 s |
| image pulled | 104.0 s | 108.0 s |
| container started | 2.0 s | 2.0 s |
| warm-up done | 34.5 s | not recorded |
| server ready | 48.5 s | 79.0 s |
| first completion | 1.9 s | 1.6 s |
| **total** | **271.7 s** | **560.5 s** |

llama-31-8b-instruct on g5.8xlarge, no GPU node before each request; median of 1 run(s).
"""


def test_cold_node_splits_each_request_into_phases(playback: Playback, tmp_path: Path) -> None:
    stdout = io.StringIO()
    code = bench.main(_argv(playback, tmp_path), stdout=stdout, clock=playback.clock)
    assert code == 0
    # Hand-checked against the recording: e.g. the Fluid service's image pull ends at the
    # Pulled event (10:03:05) 104 s after NodeClaim Initialized (10:01:21).
    table = (tmp_path / "out" / f"coldnode-{MODEL}.md").read_text()
    assert table == EXPECTED_TABLE
    assert stdout.getvalue().startswith(EXPECTED_TABLE)
    assert playback.arrived == [MODEL, f"{MODEL}-baseline"]
    assert playback.client_times == [], "the clock was read once at send, once at answer"
    # It waited for the old GPU node, and for the first run's node, before each request.
    node_polls = [p for p in playback.seen if p.startswith("/api/v1/nodes?")]
    assert len(node_polls) == 2 * (NODES_STILL_THERE + 1)
    with (tmp_path / "out" / f"coldnode-{MODEL}.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * len(coldnode.MILESTONES)
    fluid = [r for r in rows if r["variant"] == "cache"]
    assert round(sum(float(r["seconds"]) for r in fluid), 1) == 271.7
    assert [r["phase"] for r in fluid] == list(coldnode.MILESTONES)
    warmup = next(r for r in rows if r["variant"] == "download" and r["phase"] == "warm-up done")
    assert (warmup["seconds"], warmup["recorded"]) == ("0.000", "false")
    chart = (tmp_path / "out" / f"coldnode-{MODEL}.png").read_bytes()
    assert chart.startswith(b"\x89PNG\r\n\x1a\n") and len(chart) > 10_000


def test_cold_node_gives_up_when_gpu_nodes_stay(playback: Playback, tmp_path: Path) -> None:
    playback.nodes_never_go = True
    stderr = io.StringIO()
    argv = _argv(playback, tmp_path, "--no-node-timeout", "0.2")
    import contextlib

    with contextlib.redirect_stderr(stderr):
        code = bench.main(argv, stdout=io.StringIO(), clock=playback.clock)
    assert code == 1
    assert playback.arrived == [], "no request while a GPU node still exists"
    assert (
        "coldstart_bench: GPU node(s) ip-10-0-33-4.eu-central-1.compute.internal still exist "
        "after 0.2 s; the keep-warm window (gpuNodes.keepWarmMinutes) plus termination must "
        "pass with no model pod"
    ) in stderr.getvalue()


# --- the pieces ------------------------------------------------------------------------------


def _at(seconds: float) -> datetime:
    return datetime(2026, 11, 20, 10, 0, tzinfo=UTC) + timedelta(seconds=seconds)


def test_phases_add_up_and_never_go_negative() -> None:
    milestones: dict[str, datetime | None] = dict.fromkeys(coldnode.MILESTONES)
    milestones.update(
        {"pod created": _at(1), "node Ready": _at(50), "image pulled": _at(49),
         "server ready": _at(100), "first completion": _at(101.5)}
    )  # fmt: skip
    split = coldnode.phases(_at(0.25), milestones)
    assert [(p.name, p.seconds, p.recorded) for p in split] == [
        ("pod created", 0.75, True),
        ("NodeClaim launched", 0.0, False),
        ("node Ready", 49.0, True),
        ("nvidia.com/gpu allocatable", 0.0, False),
        ("model downloaded", 0.0, False),
        # One-second resolution put the pull before Ready: the phase ends at Ready, not below 0.
        ("image pulled", 0.0, True),
        ("container started", 0.0, False),
        ("warm-up done", 0.0, False),
        ("server ready", 50.0, True),
        ("first completion", 1.5, True),
    ]
    assert sum(p.seconds for p in split) == 101.25


def test_timestamps_with_nanoseconds_and_offsets() -> None:
    assert coldnode.parse_time("2026-11-20T10:03:41.512345678Z") == datetime(
        2026, 11, 20, 10, 3, 41, 512345, tzinfo=UTC
    )
    assert coldnode.parse_time("2026-11-20T12:00:00+02:00") == _at(0)
    assert coldnode.parse_time(None) is None


class RecordedCluster:
    """The recording as a ClusterReader, without HTTP (for one milestone rule)."""

    def __init__(self, run: dict[str, Any]) -> None:
        self.run = run

    def gpu_nodes(self) -> list[dict[str, Any]]:
        return [self.run["node"]]

    def pods(self, namespace: str, inference_service: str) -> list[dict[str, Any]]:
        return [self.run["pod"]]

    def node_claims(self) -> list[dict[str, Any]]:
        return [self.run["nodeClaim"]]

    def node(self, name: str) -> dict[str, Any] | None:
        return self.run["node"]

    def pod_events(self, namespace: str, pod: str) -> list[dict[str, Any]]:
        return list(self.run["events"])

    def container_log(self, namespace: str, pod: str, container: str) -> str:
        return str(self.run["log"])


def test_a_node_that_was_already_there_is_no_node_start() -> None:
    run = RECORDING["runs"][0]
    service = ServiceEndpoint("cache", MODEL, NAMESPACE, FLUID_HOST)
    # Sent after the node launched (a warm node) but before the pod was created.
    sent = coldnode.parse_time("2026-11-20T10:00:00.500Z")
    assert sent is not None
    cold = coldnode.read_milestones(RecordedCluster(run), service, sent, _at(271))
    assert cold["NodeClaim launched"] == coldnode.parse_time("2026-11-20T10:00:14Z")
    warm_sent = coldnode.parse_time("2026-11-20T10:00:20Z")
    assert warm_sent is not None
    run_on_warm_node = json.loads(json.dumps(run))
    run_on_warm_node["pod"]["metadata"]["creationTimestamp"] = "2026-11-20T10:00:21Z"
    warm = coldnode.read_milestones(RecordedCluster(run_on_warm_node), service, warm_sent, _at(300))
    assert warm["NodeClaim launched"] is None and warm["node Ready"] is None
    assert warm["image pulled"] == coldnode.parse_time("2026-11-20T10:03:05Z")


def test_cold_node_names_the_node_pools_types(playback: Playback, tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    document = yaml.safe_load((root / "Pulumi.dev.yaml").read_text())
    document["config"]["kserve-fluid:gpuNodes"] = {
        "instanceTypes": ["g5.8xlarge", "g6e.8xlarge"],
        "gpuLimit": 3,
    }
    stack_file = tmp_path / "Pulumi.bench.yaml"
    stack_file.write_text(yaml.safe_dump(document))
    stdout = io.StringIO()
    argv = _argv(playback, tmp_path, "--stack-file", str(stack_file))
    assert bench.main(argv, stdout=stdout, clock=playback.clock) == 0
    assert "llama-31-8b-instruct on g5.8xlarge/g6e.8xlarge, no GPU node" in stdout.getvalue()
