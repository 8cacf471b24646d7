"""`tools/operate/smoke.py` against local stand-ins on 127.0.0.1: a Kubernetes API and an
ingress."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from tools.operate import smoke
from tools.plan.stack_config import load_typed_config

NS = "kserve-fluid-demo"
MODEL = "llama-31-8b-instruct"
# dev's loaders: cache (the model's own name), then its comparisons stream and download.
STREAM = f"{MODEL}-stream"
DOWNLOAD = f"{MODEL}-download"
NAMES = (MODEL, STREAM, DOWNLOAD)
# Knative mode with Istio: KServe's status.url host (components/hostnames.py).
HOSTS = {name: f"{name}.{NS}.example.com" for name in NAMES}
HEADER = "| model | variant | Ready | status.url | HTTP | seconds | first tokens | node | result |"


@dataclass
class Cluster:
    """What the stand-in API server and ingress answer."""

    isvcs: dict[str, dict[str, Any]] = field(default_factory=dict)
    pods: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    routes: dict[str, str] = field(default_factory=dict)  # Host -> served model name
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""
    api_status: int = 200  # 401/403: the API server refuses the credentials


def _isvc(name: str, ready: str = "True", url: str | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NS},
        "status": {
            "url": url if url is not None else f"http://{HOSTS[name]}",
            "conditions": [{"type": "Ready", "status": ready, "message": "revision failed"}],
        },
    }


def _pod(node: str, claim: str | None = "s3-data", init: str | None = None) -> dict[str, Any]:
    """A predictor pod as KServe shapes it: the cache's mounts the Dataset's PVC, the download's
    runs the `storage-initializer` init container, the stream's has neither."""
    spec: dict[str, Any] = {"nodeName": node, "volumes": [{"name": "devshm", "emptyDir": {}}]}
    if claim:
        spec["volumes"].append(
            {"name": "kserve-pvc-source", "persistentVolumeClaim": {"claimName": claim}}
        )
    if init:
        spec["initContainers"] = [{"name": init}]
    return {"spec": spec, "status": {"phase": "Running"}}


def _healthy() -> Cluster:
    return Cluster(
        isvcs={name: _isvc(name) for name in NAMES},
        pods={
            MODEL: [_pod("gpu-1")],
            STREAM: [_pod("gpu-2", claim=None)],
            DOWNLOAD: [_pod("gpu-3", claim=None, init="storage-initializer")],
        },
        nodes={
            **{
                f"gpu-{i}": {"metadata": {"labels": {"nvidia.com/gpu.present": "true"}}}
                for i in (1, 2, 3)
            },
            "data-1": {"metadata": {"labels": {"kserve-fluid/node-role": "data"}}},
        },
        routes={HOSTS[name]: name for name in NAMES},
    )


def _handler(cluster: Cluster) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _json(self, status: int, document: Any) -> None:
            data = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            parts = url.path.strip("/").split("/")
            if cluster.api_status != 200:
                self._json(cluster.api_status, {"kind": "Status", "code": cluster.api_status})
            elif (
                url.path.startswith("/apis/serving.kserve.io/v1beta1/")
                and parts[-1] in cluster.isvcs
            ):
                self._json(200, cluster.isvcs[parts[-1]])
            elif url.path == f"/api/v1/namespaces/{NS}/pods":
                selector = parse_qs(url.query)["labelSelector"][0]
                name = selector.split("=", 1)[1]
                self._json(200, {"items": cluster.pods.get(name, [])})
            elif url.path.startswith("/api/v1/nodes/") and parts[-1] in cluster.nodes:
                self._json(200, cluster.nodes[parts[-1]])
            else:
                self._json(404, {"kind": "Status", "code": 404, "reason": "NotFound"})

        def do_POST(self) -> None:
            host = self.headers.get("Host", "")
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            cluster.requests.append((host, body["model"]))
            if self.path != "/openai/v1/completions" or host not in cluster.routes:
                self._json(404, {"error": f"no route for {host}"})
                return
            text = " Red is the color of passion, blue the color of calm"
            self._json(200, {"choices": [{"index": 0, "text": text}]})

    return Handler


@pytest.fixture()
def cluster() -> Iterator[Cluster]:
    state = _healthy()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _reader(cluster: Cluster) -> smoke.ClusterReader:
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": cluster.url}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    return smoke.ClusterReader.from_kubeconfig(kubeconfig=kubeconfig)


def _run(cluster: Cluster) -> tuple[int, list[str]]:
    out = io.StringIO()
    argv = ["--stack", "dev", "--ingress-url", cluster.url, "--request-timeout", "10"]
    code = smoke.main(argv, reader=_reader(cluster), stdout=out)
    return code, out.getvalue().splitlines()


def test_healthy_stack_passes(cluster: Cluster) -> None:
    code, lines = _run(cluster)
    assert code == 0, lines
    assert lines[0] == HEADER
    cache, stream, download = lines[2], lines[3], lines[4]
    assert cache.startswith(f"| {MODEL} | cache | True | http://{HOSTS[MODEL]} | 200 | "), cache
    assert cache.endswith("| Red is the color of passion, blue the co | gpu-1 | ok |")
    assert stream.startswith(f"| {MODEL} | stream | True | http://{HOSTS[STREAM]} | 200 |")
    assert stream.endswith("| gpu-2 | ok |")
    assert download.startswith(f"| {MODEL} | download | True | http://{HOSTS[DOWNLOAD]} | 200 |")
    assert download.endswith("| gpu-3 | ok |")
    # The requests carried KServe's host and the served model name (the InferenceService's).
    assert cluster.requests == [(HOSTS[name], name) for name in NAMES]


def test_wrong_host_is_a_404_with_its_cause(cluster: Cluster) -> None:
    # The ingress routes only `<isvc>.<ns>.<domain>`; a predictor-style host gets a 404.
    wrong = f"{MODEL}-predictor-{NS}.example.com"
    cluster.isvcs[MODEL] = _isvc(MODEL, url=f"http://{wrong}")
    code, lines = _run(cluster)
    assert code == 1
    assert f"| {MODEL} | cache | True | http://{wrong} | 404 |" in lines[2]
    assert lines[2].endswith("| FAILED |")
    assert (
        f"{MODEL}/cache: HTTP 404: no route for this Host header: the host differs from "
        "KServe's status.url, or the Istio VirtualService / Knative route is missing" in lines
    )
    assert (
        f'{MODEL}/cache: status.url host "{wrong}" differs from the stack outputs\' '
        f'"{HOSTS[MODEL]}": the outputs and docs send the wrong Host header '
        "(components/hostnames.py)"
    ) in lines


def test_not_ready_is_reported(cluster: Cluster) -> None:
    cluster.isvcs[DOWNLOAD] = _isvc(DOWNLOAD, ready="False")
    code, lines = _run(cluster)
    assert code == 1
    assert (
        f"{MODEL}/download: not Ready (revision failed): check `kubectl describe "
        f"inferenceservice {DOWNLOAD}`, the KServe controller logs and the predictor's revision"
    ) in lines


def test_missing_service_is_reported(cluster: Cluster) -> None:
    del cluster.isvcs[STREAM]
    code, lines = _run(cluster)
    assert code == 1
    assert f"| {MODEL} | stream | - | - | - | - | - | - | FAILED |" in lines
    assert (
        f"{MODEL}/stream: InferenceService not found: `pulumi up` did not finish, or the "
        "stack was changed"
    ) in lines


def test_fluid_pod_off_gpu_and_without_the_pvc(cluster: Cluster) -> None:
    cluster.pods[MODEL] = [_pod("data-1", claim="other")]
    code, lines = _run(cluster)
    assert code == 1
    assert (
        f'{MODEL}/cache: pod ran on "data-1", not a GPU node (nvidia.com/gpu.present=true '
        "missing): check the InferenceService's nodeSelector and the GPU node labels"
    ) in lines
    assert (
        f'{MODEL}/cache: pod does not mount the PVC "s3-data": the storageUri is not the Fluid '
        "Dataset's pvc:// path, so the model did not come from the cache"
    ) in lines


def test_each_loader_is_checked_for_its_own_way_of_loading(cluster: Cluster) -> None:
    # The stream pod downloaded the model; the download pod had no storage initializer.
    cluster.pods[STREAM] = [_pod("gpu-2", claim=None, init="storage-initializer")]
    cluster.pods[DOWNLOAD] = [_pod("gpu-3", claim=None)]
    code, lines = _run(cluster)
    assert code == 1
    assert (
        f"{MODEL}/stream: pod downloaded the model or mounted the cache: the stream "
        "InferenceService must have no storageUri (vLLM streams from the s3:// --model_dir)"
    ) in lines
    assert (
        f'{MODEL}/download: pod has no "storage-initializer" init container: the model was not '
        "downloaded by KServe's storage initializer (check the storageUri)"
    ) in lines
    assert not any(line.startswith(f"{MODEL}/cache:") for line in lines)


def test_unreachable_ingress(cluster: Cluster) -> None:
    rows = smoke.smoke(
        load_typed_config("dev"), _reader(cluster), "http://127.0.0.1:9", 5, log=lambda _: None
    )
    assert [r.status for r in rows] == [0, 0, 0]
    assert (
        rows[0]
        .failures[0]
        .startswith(
            "HTTP 0: no answer from the ingress: the load balancer is not ready, this machine is "
            "outside ingress.allowedSourceCidrs, or the request ran past 5 s (ConnectionError: "
        )
    )


def test_ingress_connections_send_tcp_keepalives(cluster: Cluster) -> None:
    # The NLB drops a flow idle for 350 s; a cold start sends nothing for longer than that.
    import socket

    from requests.adapters import HTTPAdapter

    from tools.operate.ingress_http import KEEPALIVE_SECONDS, keepalive_session

    with keepalive_session() as http:
        assert smoke.send(http, cluster.url, MODEL, HOSTS[MODEL], 10)[1] == 200
        # A fresh connection from the session's pool, as the next request would get it.
        adapter = http.get_adapter(cluster.url)
        assert isinstance(adapter, HTTPAdapter)
        pool = adapter.poolmanager.connection_from_url(cluster.url)
        connection = pool._new_conn()
        connection.connect()
        try:
            sock = connection.sock
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == KEEPALIVE_SECONDS
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == KEEPALIVE_SECONDS
        finally:
            connection.close()


# --- an operator's usual mistakes: one sentence each, never a traceback ----------------------

HINT = (
    "pass --kubeconfig with a working file (`aws eks update-kubeconfig --name <cluster> "
    "--kubeconfig <file>` writes one)"
)


def _kubeconfig_file(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


def _main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = smoke.main(["--stack", "dev", "--request-timeout", "5", *argv], stdout=io.StringIO())
    return code, capsys.readouterr().err.strip().splitlines()[-1]


def test_missing_kubeconfig_file(cluster: Cluster, tmp_path: Path, capsys: Any) -> None:
    missing = tmp_path / "nope.yaml"
    code, line = _main(capsys, "--ingress-url", cluster.url, "--kubeconfig", str(missing))
    assert (code, line) == (2, f"smoke: --kubeconfig {missing}: no such file; {HINT}")


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ("not: [valid", "while parsing a flow sequence"),
        (
            "apiVersion: v1\nkind: Config\n",
            "Invalid kube-config file. Expected key current-context",
        ),
        ("hello", "'str' object does not support item assignment"),
    ],
)
def test_broken_kubeconfig(
    cluster: Cluster, tmp_path: Path, capsys: Any, content: str, detail: str
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(content)
    code, line = _main(capsys, "--ingress-url", cluster.url, "--kubeconfig", str(broken))
    assert code == 2
    assert line.startswith(f"smoke: --kubeconfig {broken} is not a usable kubeconfig ({detail}")
    assert line.endswith(f"); {HINT}")


def test_unreachable_cluster(cluster: Cluster, tmp_path: Path, capsys: Any) -> None:
    with socket.socket() as closed:  # a port on 127.0.0.1 that nothing listens on
        closed.bind(("127.0.0.1", 0))
        server = f"http://127.0.0.1:{closed.getsockname()[1]}"
    kubeconfig = _kubeconfig_file(tmp_path, server)
    code, line = _main(capsys, "--ingress-url", cluster.url, "--kubeconfig", str(kubeconfig))
    assert (code, line) == (
        3,
        f"smoke: cannot reach the Kubernetes API at {server} (NewConnectionError); check the "
        "cluster exists (pulumi stack output clusterName), that this network may reach its "
        f"endpoint (endpointPublicAccessCidrs), or {HINT}",
    )


def test_credentials_refused(cluster: Cluster, tmp_path: Path, capsys: Any) -> None:
    cluster.api_status = 401
    kubeconfig = _kubeconfig_file(tmp_path, cluster.url)
    code, line = _main(capsys, "--ingress-url", cluster.url, "--kubeconfig", str(kubeconfig))
    assert (code, line) == (
        3,
        f"smoke: the Kubernetes API at {cluster.url} refused the kubeconfig's credentials (HTTP "
        "401); check the AWS identity has an EKS access entry (clusterAdminArns) and that its "
        "credentials are current",
    )


def test_without_the_pulumi_cli_the_hint_names_flags_smoke_accepts(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi here
    code, line = _main(capsys)
    assert (code, line) == (
        2,
        "smoke: the pulumi CLI is not installed, so the stack's ingressHostname output cannot "
        "be read; pass --ingress-url http://HOST (python -m tools.operate.smoke --stack dev "
        "--ingress-url http://HOST --kubeconfig FILE)",
    )
    code, line = _main(capsys, "--ingress-url", "http://127.0.0.1:9")
    assert line.endswith("pass --kubeconfig FILE (python -m tools.operate.smoke --stack dev "
                         "--ingress-url http://HOST --kubeconfig FILE)")  # fmt: skip
    # Every flag the hint names is one smoke.parse_args takes.
    named = smoke.parse_args(
        ["--stack", "dev", "--ingress-url", "http://HOST", "--kubeconfig", "FILE"]
    )
    assert (named.ingress_url, str(named.kubeconfig)) == ("http://HOST", "FILE")
