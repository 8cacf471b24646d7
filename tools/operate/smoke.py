"""`make smoke`: prove a deployed stack answers, one table, non-zero exit on any failure.

For each model and each of its InferenceServices (one per deployed loader: `cache`, `stream`,
`download`): its `Ready` condition and `status.url` through the Kubernetes API (kubeconfig from
the stack output), the seed's completion request through the ingress with the `status.url` host
and a timeout above the cold start, the HTTP status, the first tokens and the total time; then
that its predictor pod ran on a GPU node and loaded the model the loader's way: `cache` mounted
the Dataset's PVC, `download` ran the storage initializer, `stream` did neither. Each failure is
printed with its likely cause.

    python -m tools.operate.smoke --stack dev
    python -m tools.operate.smoke --stack dev --kubeconfig ~/.kube/config --ingress-url http://HOST

Exit status: 0 all passed, 1 a check failed, 2 usage, config or kubeconfig error (missing,
broken, or no Pulumi CLI to read it), 3 the Kubernetes API unreachable or refusing the
credentials: each of those is one line saying what to do, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import requests

from components.cache.manifests import DATASET_NAME
from components.config.kserve_names import isvc_name
from components.config.model import StackConfig
from components.hostnames import service_host
from components.naming import GPU_PRESENT_LABEL
from components.timeouts import request_timeout_seconds
from tools.operate.cluster_reader import ClusterReader, status_host
from tools.operate.inference import (
    COMPLETIONS_PATH,
    BenchError,
    ServiceEndpoint,
    completion_request,
    read_stack_outputs,
)
from tools.operate.ingress_http import keepalive_session
from tools.plan.stack_config import add_stack_arguments, load_config_for_tool

FIRST_TOKENS = 40
"""Characters of the completion shown in the table."""


@dataclass
class Row:
    """One InferenceService's line in the table, and what went wrong with it."""

    model: str
    variant: str
    name: str
    ready: str = "-"
    url: str = "-"
    status: int | None = None
    seconds: float | None = None
    tokens: str = ""
    node: str = "-"
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _condition(isvc: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in (isvc.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return None


def check_status(row: Row, isvc: Mapping[str, Any] | None, expected_host: str) -> str | None:
    """Ready and status.url; returns the host to send requests to (None: cannot send)."""
    if isvc is None:
        row.failures.append(
            "InferenceService not found: `pulumi up` did not finish, or the stack was changed"
        )
        return None
    ready = _condition(isvc, "Ready")
    row.ready = str(ready.get("status")) if ready else "Unknown"
    if row.ready != "True":
        detail = (ready or {}).get("message") or (ready or {}).get("reason") or "no Ready condition"
        row.failures.append(
            f"not Ready ({detail}): check `kubectl describe inferenceservice {row.name}`, the "
            "KServe controller logs and the predictor's revision"
        )
    url = str((isvc.get("status") or {}).get("url") or "")
    host = status_host(isvc) or ""
    row.url = url or "-"
    if not host:
        row.failures.append("no status.url: KServe has not routed it yet (ingress reconciler)")
        return expected_host
    if host != expected_host:
        row.failures.append(
            f'status.url host "{host}" differs from the stack outputs\' "{expected_host}": '
            "the outputs and docs send the wrong Host header (components/hostnames.py)"
        )
    return host


def send(
    http: requests.Session, ingress_url: str, name: str, host: str, timeout_s: float
) -> tuple[float, int, str]:
    """The seed's completion through the ingress; (seconds, HTTP status or 0, text or error)."""
    service = ServiceEndpoint("", name, "", host)
    start = time.perf_counter()
    try:
        response = http.post(
            ingress_url.rstrip("/") + COMPLETIONS_PATH,
            data=json.dumps(completion_request(service)),
            headers={"Host": host, "Content-Type": "application/json"},
            timeout=(30, timeout_s),
        )
    except requests.RequestException as error:
        return time.perf_counter() - start, 0, f"{type(error).__name__}: {error}"
    seconds = time.perf_counter() - start
    if not response.ok:
        return seconds, response.status_code, response.text[:200]
    try:
        text = str(response.json()["choices"][0]["text"])
    except (ValueError, KeyError, IndexError, TypeError):
        return seconds, response.status_code, ""
    return seconds, response.status_code, text


def check_request(row: Row, status: int, text: str, timeout_s: float) -> None:
    """Name the likely cause of a failed request."""
    if 200 <= status < 300:
        row.tokens = " ".join(text.split())[:FIRST_TOKENS]
        if not row.tokens:
            row.failures.append("HTTP 2xx but no completion text: check the runtime's protocol")
        return
    causes = {
        0: "no answer from the ingress: the load balancer is not ready, this machine is outside "
        "ingress.allowedSourceCidrs, or the request ran past "
        f"{timeout_s:g} s ({text})",
        404: "no route for this Host header: the host differs from KServe's status.url, or the "
        "Istio VirtualService / Knative route is missing",
        503: "the predictor did not become ready: check its pods (image pull, GPU capacity, "
        "model load) and knative.progressDeadlineSeconds",
        504: "timed out in the activator or gateway: the cold start exceeded the revision "
        "timeout (components/timeouts.py)",
    }
    cause = causes.get(status, f"unexpected answer: {text}")
    row.failures.append(f"HTTP {status}: {cause}")


STORAGE_INITIALIZER = "storage-initializer"
"""KServe's init container name (kserve/kserve:pkg/constants/constants.go@v0.20.0
`StorageInitializerContainerName`)."""


def check_pod(row: Row, reader: ClusterReader, namespace: str) -> None:
    """The predictor ran on a GPU node and loaded the model the way its loader says."""
    pods = [p for p in reader.pods(namespace, row.name) if p.get("status", {}).get("phase")]
    running = [p for p in pods if p["status"]["phase"] == "Running"] or pods
    if not running:
        row.failures.append("no predictor pod after the request: it scaled to zero or failed")
        return
    pod = running[0]
    node_name = str(pod.get("spec", {}).get("nodeName") or "")
    row.node = node_name or "-"
    node = reader.node(node_name) if node_name else None
    labels = (node or {}).get("metadata", {}).get("labels", {})
    if labels.get(GPU_PRESENT_LABEL) != "true":
        row.failures.append(
            f'pod ran on "{node_name or "no node"}", not a GPU node ({GPU_PRESENT_LABEL}=true '
            "missing): check the InferenceService's nodeSelector and the GPU node labels"
        )
    claims = {
        (v.get("persistentVolumeClaim") or {}).get("claimName")
        for v in pod.get("spec", {}).get("volumes") or []
    }
    inits = {c.get("name") for c in pod.get("spec", {}).get("initContainers") or []}
    if row.variant == "cache" and DATASET_NAME not in claims:
        row.failures.append(
            f'pod does not mount the PVC "{DATASET_NAME}": the storageUri is not the Fluid '
            "Dataset's pvc:// path, so the model did not come from the cache"
        )
    if row.variant == "download" and STORAGE_INITIALIZER not in inits:
        row.failures.append(
            f'pod has no "{STORAGE_INITIALIZER}" init container: the model was not downloaded '
            "by KServe's storage initializer (check the storageUri)"
        )
    if row.variant == "stream" and (STORAGE_INITIALIZER in inits or DATASET_NAME in claims):
        row.failures.append(
            "pod downloaded the model or mounted the cache: the stream InferenceService must "
            "have no storageUri (vLLM streams from the s3:// --model_dir)"
        )


def smoke(
    config: StackConfig,
    reader: ClusterReader,
    ingress_url: str,
    timeout_s: float,
    http: requests.Session | None = None,
    log: Any = lambda line: print(line, file=sys.stderr),
) -> list[Row]:
    """Every check for every InferenceService of every model."""
    session = http or keepalive_session()
    rows: list[Row] = []
    namespace = config.model_namespace
    for model in config.models:
        for variant in model.loaders:
            name = isvc_name(model, variant)
            row = Row(model.name, variant, name)
            rows.append(row)
            log(f"{namespace}/{name}: reading the InferenceService")
            host = check_status(
                row, reader.inference_service(namespace, name), service_host(config, name)
            )
            if host is None:
                continue
            log(f"{namespace}/{name}: sending the completion (up to {timeout_s:g} s)")
            seconds, status, text = send(session, ingress_url, name, host, timeout_s)
            row.status, row.seconds = status, seconds
            check_request(row, status, text, timeout_s)
            if 200 <= status < 300:
                check_pod(row, reader, namespace)
    return rows


def table(rows: Sequence[Row]) -> str:
    lines = [
        "| model | variant | Ready | status.url | HTTP | seconds | first tokens | node | result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        seconds = f"{r.seconds:.3f}" if r.seconds is not None else "-"
        status = str(r.status) if r.status is not None else "-"
        lines.append(
            f"| {r.model} | {r.variant} | {r.ready} | {r.url} | {status} | {seconds} | "
            f"{r.tokens or '-'} | {r.node} | {'ok' if r.ok else 'FAILED'} |"
        )
    failures = [f"{r.model}/{r.variant}: {f}" for r in rows for f in r.failures]
    return "\n".join([*lines, "", *failures, ""]) if failures else "\n".join([*lines, ""])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.operate.smoke", description=__doc__.split("\n")[0]
    )
    add_stack_arguments(parser)
    parser.add_argument("--kubeconfig", type=Path, help="kubeconfig (default: the stack output)")
    parser.add_argument("--ingress-url", help="ingress, e.g. http://HOST (default: the output)")
    parser.add_argument(
        "--request-timeout", type=float, help="seconds per request (default: the stack's timeout)"
    )
    return parser.parse_args(argv)


CLUSTER_UNREADABLE = 3
KUBECONFIG_HINT = (
    "pass --kubeconfig with a working file (`aws eks update-kubeconfig --name <cluster> "
    "--kubeconfig <file>` writes one)"
)


def stack_output(stack: str, name: str, instead: str, show_secrets: bool = False) -> Any:
    """A stack output through the Pulumi CLI, or a sentence naming the flag that replaces it."""
    if shutil.which("pulumi") is None:
        raise BenchError(
            f"the pulumi CLI is not installed, so the stack's {name} output cannot be read; "
            f"pass {instead} (python -m tools.operate.smoke --stack {stack} "
            "--ingress-url http://HOST --kubeconfig FILE)"
        )
    return read_stack_outputs(stack, name, show_secrets=show_secrets)


def open_cluster(stack: str, path: Path | None) -> ClusterReader:
    """The reader for `--kubeconfig`, or for the stack's kubeconfig output."""
    if path is not None and not path.is_file():
        raise BenchError(f"--kubeconfig {path}: no such file; {KUBECONFIG_HINT}")
    import yaml
    from kubernetes.config.config_exception import ConfigException

    where = f"--kubeconfig {path}" if path else "the stack's kubeconfig output"
    try:
        if path is not None:
            return ClusterReader.from_kubeconfig(path=path)
        kubeconfig = stack_output(stack, "kubeconfig", "--kubeconfig FILE", show_secrets=True)
        if isinstance(kubeconfig, str):
            kubeconfig = json.loads(kubeconfig)
        return ClusterReader.from_kubeconfig(kubeconfig=kubeconfig)
    except (ConfigException, yaml.YAMLError, ValueError, TypeError, KeyError) as error:
        detail = " ".join(str(error).split()) or type(error).__name__
        raise BenchError(
            f"{where} is not a usable kubeconfig ({detail}); {KUBECONFIG_HINT}"
        ) from None


def cluster_problem(reader: ClusterReader, error: Exception) -> str | None:
    """One line for a cluster that cannot be read: unreachable, or refusing the credentials."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    server = str(getattr(reader.api_client.configuration, "host", "") or "the API server")
    if isinstance(error, ApiException) and error.status in (401, 403):
        return (
            f"the Kubernetes API at {server} refused the kubeconfig's credentials (HTTP "
            f"{error.status}); check the AWS identity has an EKS access entry "
            "(clusterAdminArns) and that its credentials are current"
        )
    if isinstance(error, HTTPError):
        reason = getattr(error, "reason", None) or error
        return (
            f"cannot reach the Kubernetes API at {server} ({type(reason).__name__}); check the "
            "cluster exists (pulumi stack output clusterName), that this network may reach "
            f"its endpoint (endpointPublicAccessCidrs), or {KUBECONFIG_HINT}"
        )
    return None


def main(
    argv: Sequence[str] | None = None,
    reader: ClusterReader | None = None,
    stdout: TextIO | None = None,
) -> int:
    args = parse_args(argv)
    config = load_config_for_tool("smoke", args.stack, args.stack_file)
    if config is None:
        return 2
    # Above the predictor's own timeout, so a cold start is cut off by the stack, not by us.
    timeout_s = args.request_timeout or float(request_timeout_seconds(config) + 60)
    try:
        ingress = args.ingress_url
        if not ingress:
            hostname = stack_output(args.stack, "ingressHostname", "--ingress-url http://HOST")
            if not hostname:
                raise BenchError("the stack has no ingressHostname output; pass --ingress-url")
            ingress = f"http://{hostname}"
        if reader is None:
            reader = open_cluster(args.stack, args.kubeconfig)
    except BenchError as error:
        print(f"smoke: {error}", file=sys.stderr)
        return 2
    try:
        rows = smoke(config, reader, ingress, timeout_s)
    except Exception as error:  # an unreadable cluster is a sentence, a bug keeps its traceback
        problem = cluster_problem(reader, error)
        if problem is None:
            raise
        print(f"smoke: {problem}", file=sys.stderr)
        return CLUSTER_UNREADABLE
    (stdout or sys.stdout).write(table(rows))
    return 0 if all(row.ok for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
