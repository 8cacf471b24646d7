"""`tools/operate/coldstart_bench.py` against a local server that imitates a scale-from-zero cold
start."""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from tools.operate import coldstart_bench as bench
from tools.operate.bench_rows import CSV_FIELDS, RunResult
from tools.operate.cluster_reader import ClusterReader
from tools.operate.inference import COMPLETIONS_PATH, ServiceEndpoint
from tools.plan.stack_config import load_typed_config

COLD_START_SECONDS = 0.3
MODEL = "llama-31-8b-instruct"
FLUID_HOST = f"{MODEL}.kserve-fluid-demo.example.com"
BASELINE_HOST = f"{MODEL}-download.kserve-fluid-demo.example.com"
STREAM_HOST = f"{MODEL}-stream.kserve-fluid-demo.example.com"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TITLE = (
    "[meta-llama/Meta-Llama-3.1-8B-Instruct]"
    "(https://huggingface.co/meta-llama/Meta-Llama-3.1-8B-Instruct)"
)


@dataclass
class FakeInference:
    """The ingress plus its InferenceServices: the first request after scale-to-zero is slow."""

    served: dict[str, str]  # Host header -> served model name
    cold_start_seconds: float = COLD_START_SECONDS
    cold: dict[str, bool] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)  # Host -> forced HTTP status
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    status_urls: dict[str, str] = field(default_factory=dict)  # InferenceService -> status.url
    url: str = ""

    def scale_to_zero(self, host: str) -> None:
        self.cold[host] = True


def _handler(fake: FakeInference) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, document: dict[str, Any]) -> None:
            data = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            # The Kubernetes API's InferenceService read, for status.url.
            name = self.path.rstrip("/").rsplit("/", 1)[-1]
            if "/inferenceservices/" in self.path and name in fake.status_urls:
                self._answer(200, {"status": {"url": fake.status_urls[name]}})
            else:
                self._answer(404, {"kind": "Status", "code": 404})

        def do_POST(self) -> None:
            host = self.headers.get("Host", "")
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            fake.requests.append((self.path, host, body))
            if self.path != COMPLETIONS_PATH or host not in fake.served:
                self._answer(404, {"error": f"no route for {host}{self.path}"})
                return
            if body.get("model") != fake.served[host]:
                self._answer(404, {"error": f"model {body.get('model')} does not exist"})
                return
            if fake.cold.get(host, False):
                time.sleep(fake.cold_start_seconds)
                fake.cold[host] = False
            if host in fake.status:
                self._answer(fake.status[host], {"error": "unavailable"})
                return
            text = ". Many different things in life can be described by colors."
            choice = {"finish_reason": "length", "index": 0, "text": text}
            self._answer(200, {"model": body["model"], "choices": [choice]})

    return Handler


@pytest.fixture()
def inference() -> Iterator[FakeInference]:
    fake = FakeInference(
        served={
            FLUID_HOST: MODEL,
            STREAM_HOST: f"{MODEL}-stream",
            BASELINE_HOST: f"{MODEL}-download",
        }
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class ScriptedPods:
    """A PodCounter: per service, pod counts to report in turn, then 0; 0 means scaled down."""

    def __init__(self, fake: FakeInference, hosts: dict[str, str], script: dict[str, list[int]]):
        self.fake = fake
        self.hosts = hosts  # InferenceService name -> Host
        self.script = {name: list(counts) for name, counts in script.items()}
        self.calls: list[tuple[str, str]] = []

    def count(self, namespace: str, inference_service: str) -> int:
        self.calls.append((namespace, inference_service))
        remaining = self.script.get(inference_service, [])
        pods = remaining.pop(0) if remaining else 0
        if pods == 0:
            self.fake.scale_to_zero(self.hosts[inference_service])
        return pods


def _pods(fake: FakeInference, script: dict[str, list[int]] | None = None) -> ScriptedPods:
    hosts = {MODEL: FLUID_HOST, f"{MODEL}-stream": STREAM_HOST, f"{MODEL}-download": BASELINE_HOST}
    return ScriptedPods(fake, hosts, script or {})


def _argv(fake: FakeInference, out: Path, *extra: str) -> list[str]:
    return [
        "--stack", "dev", "--model", MODEL, "--runs", "3", "--out", str(out),
        "--ingress-url", fake.url, "--fluid-host", FLUID_HOST, "--baseline-host", BASELINE_HOST,
        "--poll-interval", "0.01", "--scale-down-timeout", "5", *extra,
    ]  # fmt: skip


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_benchmark_writes_table_csv_and_chart(inference: FakeInference, tmp_path: Path) -> None:
    # The Fluid service still has a pod at first: the benchmark must wait for it to go.
    pods = _pods(inference, {MODEL: [1, 1, 0]})
    stdout = io.StringIO()
    out = tmp_path / "coldstart"
    assert bench.main(_argv(inference, out), pod_counter=pods, stdout=stdout) == 0

    assert pods.calls[:4] == [
        ("kserve-fluid-demo", MODEL),
        ("kserve-fluid-demo", MODEL),
        ("kserve-fluid-demo", MODEL),
        ("kserve-fluid-demo", f"{MODEL}-download"),
    ]
    assert len(inference.requests) == 6
    path, host, body = inference.requests[0]
    assert (path, host) == ("/openai/v1/completions", FLUID_HOST)
    assert body == {
        "model": MODEL,
        "prompt": "Write a poem about colors",
        "stream": False,
        "max_tokens": 30,
    }
    assert inference.requests[1][1:] == (
        BASELINE_HOST,
        {**body, "model": f"{MODEL}-download"},
    )

    table = (out / f"coldstart-{MODEL}.md").read_text().splitlines()
    # One column per service measured, in order; one row per node state (none read here:
    # this test gives no cluster to read phases from).
    assert table[0] == (
        "| Model Name | Model Size (Snapshot) | Machine Type | Node state | "
        "KServe + Fluid(JindoFS) | KServe + Storage Initializer |"
    )
    assert table[1] == "|---|---|---|---|---|---|"
    cell = r"total: (\d+\.\d{3})s \(median of 3 runs; min (\d+\.\d{3})s, max (\d+\.\d{3})s\)"
    # The host flags name the cache and download services only: stream is not measured.
    row = re.fullmatch(
        rf"\| {re.escape(TITLE)} \| 15GiB \| g5\.8xlarge \| node not read \| {cell} \| {cell} \|",
        table[2],
    )
    assert row, table[2]
    medians = [float(row.group(1)), float(row.group(4))]
    assert all(COLD_START_SECONDS <= median < 5 for median in medians)
    assert stdout.getvalue().startswith(table[0])

    rows = _csv_rows(out / f"coldstart-{MODEL}.csv")
    assert list(rows[0]) == list(CSV_FIELDS)
    assert list(rows[0])[-8:] == [
        "pod_scheduled_s", "nodeclaim_launched_s", "nodeclaim_registered_s",
        "nodeclaim_initialized_s", "node_ready_s", "image_pulled_s", "container_started_s",
        "first_token_s",
    ]  # fmt: skip
    assert [(r["variant"], r["run"], r["status"]) for r in rows] == [
        ("cache", "1", "200"), ("download", "1", "200"),
        ("cache", "2", "200"), ("download", "2", "200"),
        ("cache", "3", "200"), ("download", "3", "200"),
    ]  # fmt: skip
    assert all(r["model"] == MODEL for r in rows)
    assert all(float(r["seconds"]) >= COLD_START_SECONDS for r in rows)

    chart = (out / f"coldstart-{MODEL}.png").read_bytes()
    assert chart.startswith(PNG_SIGNATURE)
    assert len(chart) > 1000


def test_warm_request_is_fast_cold_one_is_not(inference: FakeInference) -> None:
    # A longer cold start here keeps the comparison clear of scheduling noise on a busy machine.
    inference.cold_start_seconds = 1.0
    service = ServiceEndpoint("cache", MODEL, "kserve-fluid-demo", FLUID_HOST)
    inference.scale_to_zero(FLUID_HOST)
    with requests.Session() as http:
        cold = bench.send_completion(http, inference.url, service, 10)
        warm = bench.send_completion(http, inference.url, service, 10)
    assert cold[1:] == (200, "")
    assert cold[0] >= 1.0
    assert warm[1:] == (200, "")
    assert warm[0] < 1.0


def test_wrong_host_is_recorded_as_404(inference: FakeInference) -> None:
    service = ServiceEndpoint("cache", MODEL, "kserve-fluid-demo", "nobody.example.com")
    with requests.Session() as http:
        _, status, error = bench.send_completion(http, inference.url, service, 10)
    assert status == 404
    assert error == '{"error": "no route for nobody.example.com/openai/v1/completions"}'


def test_unreachable_ingress_is_status_zero() -> None:
    service = ServiceEndpoint("cache", MODEL, "kserve-fluid-demo", FLUID_HOST)
    with requests.Session() as http:
        _, status, error = bench.send_completion(http, "http://127.0.0.1:9", service, 5)
    assert status == 0
    assert error.startswith("ConnectionError: ")


def test_failed_requests_exit_one_and_show_in_the_table(
    inference: FakeInference, tmp_path: Path
) -> None:
    inference.status[BASELINE_HOST] = 503
    out = tmp_path / "out"
    code = bench.main(_argv(inference, out, "--runs", "1"), pod_counter=_pods(inference))
    assert code == 1
    row = (out / f"coldstart-{MODEL}.md").read_text().splitlines()[2]
    assert row.startswith(f"| {TITLE} | 15GiB | g5.8xlarge | node not read | total: ")
    assert row.endswith("| failed (1 of 1 runs: HTTP 503) |")
    statuses = [(r["variant"], r["status"]) for r in _csv_rows(out / f"coldstart-{MODEL}.csv")]
    assert statuses == [("cache", "200"), ("download", "503")]


def test_service_that_never_scales_to_zero(
    inference: FakeInference, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pods = _pods(inference, {f"{MODEL}-download": [1] * 1000})
    out = tmp_path / "out"
    argv = _argv(inference, out, "--runs", "2", "--scale-down-timeout", "0.2")
    assert bench.main(argv, pod_counter=pods) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"coldstart_bench: InferenceService kserve-fluid-demo/{MODEL}-download still has 1 pod(s) "
        "after 0.2 s; it never scaled to zero (check that minReplicas is 0, that nothing else "
        "sends it requests, and knative.scaleToZeroGracePeriodSeconds)"
    )
    # The Fluid run before the timeout is kept.
    rows = _csv_rows(out / f"coldstart-{MODEL}.csv")
    assert [(r["variant"], r["run"]) for r in rows] == [("cache", "1")]
    row = (out / f"coldstart-{MODEL}.md").read_text().splitlines()[2]
    assert row.endswith(" | not measured |")


def test_wait_for_zero_is_bounded() -> None:
    now = [0.0]

    class AlwaysTwo:
        calls = 0

        def count(self, namespace: str, inference_service: str) -> int:
            self.calls += 1
            return 2

    def sleep(seconds: float) -> None:
        now[0] += seconds

    counter = AlwaysTwo()
    service = ServiceEndpoint("cache", MODEL, "ns", FLUID_HOST)
    with pytest.raises(bench.ScaleToZeroTimeout) as raised:
        bench.wait_for_zero(counter, service, 10, 3, clock=lambda: now[0], sleep=sleep)
    assert str(raised.value).startswith(
        f"InferenceService ns/{MODEL} still has 2 pod(s) after 10 s; it never scaled to zero"
    )
    assert counter.calls == 5  # at 0, 3, 6, 9 and 10 seconds
    assert now[0] == 10


def test_kubernetes_counter_counts_live_pods() -> None:
    def pod(phase: str) -> Any:
        return SimpleNamespace(status=SimpleNamespace(phase=phase))

    seen: list[tuple[str, str]] = []

    class CoreV1:
        def list_namespaced_pod(self, namespace: str, label_selector: str) -> Any:
            seen.append((namespace, label_selector))
            phases = ["Running", "Pending", "Succeeded", "Failed", "Running"]
            return SimpleNamespace(items=[pod(phase) for phase in phases])

    counter = bench.KubernetesPodCounter(CoreV1())
    assert counter.count("kserve-fluid-demo", MODEL) == 3
    assert seen == [("kserve-fluid-demo", f"serving.kserve.io/inferenceservice={MODEL}")]


@pytest.mark.parametrize(
    ("results", "cell"),
    [
        ([RunResult(MODEL, "cache", 1, 265.2531, 200)], "total: 265.253s"),
        (
            [RunResult(MODEL, "cache", r, s, 200) for r, s in ((1, 50.2), (2, 49.0), (3, 61.5))],
            "total: 50.200s (median of 3 runs; min 49.000s, max 61.500s)",
        ),
        (
            [RunResult(MODEL, "cache", 1, 50.0, 200), RunResult(MODEL, "cache", 2, 3.0, 0)],
            "total: 50.000s (median of 1 runs; min 50.000s, max 50.000s; 1 failed: HTTP 0)",
        ),
        ([RunResult(MODEL, "cache", 1, 1.0, 502)], "failed (1 of 1 runs: HTTP 502)"),
        ([], "not measured"),
    ],
)
def test_table_cell(results: list[RunResult], cell: str) -> None:
    assert bench.table_cell(results) == cell


def test_baseline_not_deployed_cell() -> None:
    assert bench.table_cell([], deployed=False) == "not deployed"


def test_services_from_stack_outputs() -> None:
    model = load_typed_config("dev").models[0]
    outputs: dict[str, Any] = {
        "ingressHostname": "a1b2.elb.eu-central-1.amazonaws.com",
        "inferenceServices": {
            MODEL: {
                "cache": {"name": MODEL, "namespace": "kserve-fluid-demo", "host": FLUID_HOST},
                "download": {
                    "name": f"{MODEL}-download",
                    "namespace": "kserve-fluid-demo",
                    "url": f"http://{BASELINE_HOST}",
                },
            }
        },
    }
    assert bench.services_from_outputs(outputs, model, "fallback") == (
        ServiceEndpoint("cache", MODEL, "kserve-fluid-demo", FLUID_HOST),
        ServiceEndpoint("download", f"{MODEL}-download", "kserve-fluid-demo", BASELINE_HOST),
    )
    del outputs["inferenceServices"][MODEL]["download"]
    assert [s.variant for s in bench.services_from_outputs(outputs, model, "x")] == ["cache"]
    # Every variant listed is measured, not a fixed pair: loaders named cache/stream/download.
    loaders = {
        loader: {"name": f"{MODEL}-{loader}", "host": f"{MODEL}-{loader}.example.com"}
        for loader in ("cache", "stream", "download")
    }
    outputs["inferenceServices"][MODEL] = loaders
    assert bench.services_from_outputs(outputs, model, "ns") == tuple(
        ServiceEndpoint(loader, f"{MODEL}-{loader}", "ns", f"{MODEL}-{loader}.example.com")
        for loader in ("cache", "stream", "download")
    )
    outputs["inferenceServices"][MODEL] = {"cache": "not an object"}
    with pytest.raises(bench.BenchError) as raised:
        bench.services_from_outputs(outputs, model, "x")
    assert str(raised.value) == (
        f'stack output inferenceServices.{MODEL}.cache must be an object, got "not an object"'
    )
    with pytest.raises(bench.BenchError) as raised:
        bench.services_from_outputs({"inferenceServices": {"other": {}}}, model, "x")
    assert str(raised.value) == (
        f'stack output inferenceServices has no model "{MODEL}" (it has: other)'
    )


def test_hosts_default_to_kserve_urls_from_config(inference: FakeInference, tmp_path: Path) -> None:
    # Only --ingress-url: every loader dev deploys (cache, stream, download) at KServe's hosts.
    argv = [
        "--stack", "dev", "--runs", "1", "--out", str(tmp_path), "--ingress-url", inference.url,
        "--poll-interval", "0.01",
    ]  # fmt: skip
    assert bench.main(argv, pod_counter=_pods(inference)) == 0
    assert [host for _, host, _ in inference.requests] == [FLUID_HOST, STREAM_HOST, BASELINE_HOST]


def test_unknown_model_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--stack", "dev", "--model", "nope", "--ingress-url", "http://127.0.0.1:9"]
    assert bench.main(argv, pod_counter=_pods(FakeInference(served={}))) == 2
    assert capsys.readouterr().err == (
        'coldstart_bench: --model: "nope" is not in models; use one of llama-31-8b-instruct\n'
    )


def test_missing_kubeconfig_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    argv = ["--stack", "dev", "--ingress-url", "http://127.0.0.1:9", "--out", str(tmp_path)]
    assert bench.main(argv) == 2
    assert capsys.readouterr().err == (
        "coldstart_bench: cannot load a kubeconfig (Invalid kube-config file. "
        "No configuration found.); pass --kubeconfig\n"
    )


def test_hosts_come_from_status_url_when_the_cluster_answers(
    inference: FakeInference, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The ingress routes other hosts than the stack predicts (e.g. a changed domain template):
    # the benchmark must follow each InferenceService's status.url, not the prediction.
    routed = {
        "fluid.models.example.org": MODEL,
        "stream.models.example.org": f"{MODEL}-stream",
        "baseline.models.example.org": f"{MODEL}-download",
    }
    inference.served = routed
    inference.status_urls = {name: f"http://{host}" for host, name in routed.items()}
    reader = ClusterReader.from_kubeconfig(
        kubeconfig={
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": inference.url}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
    )
    argv = [
        "--stack", "dev", "--runs", "1", "--out", str(tmp_path), "--ingress-url", inference.url,
        "--poll-interval", "0.01",
    ]  # fmt: skip
    assert bench.main(argv, pod_counter=_pods(inference), reader=reader) == 0
    assert [host for _, host, _ in inference.requests] == list(routed)
    assert (
        f"kserve-fluid-demo/{MODEL}: status.url host fluid.models.example.org (not {FLUID_HOST})"
        in capsys.readouterr().err
    )
