"""Cold-node mode of the cold-start benchmark: where the seconds go when no GPU node exists.

`python -m tools.operate.coldstart_bench --cold-node ...` runs this per InferenceService: wait
until the cluster has no GPU node (Karpenter removed it after the keep-warm window), send the
completion request, and once it is answered split the total into phases read from the cluster's own
records, each ending at a timestamp the cluster wrote:

    phase ends at               read from
    pod created                 the predictor Pod's creationTimestamp
    NodeClaim launched          NodeClaim condition Launched (the EC2 instance exists)
    node Ready                  the Node's Ready condition
    nvidia.com/gpu allocatable  NodeClaim condition Initialized: Karpenter sets it once the
                                node is Ready and every requested resource is registered
                                (aws/karpenter-provider-aws:website/content/en/docs/concepts/
                                nodeclaims.md@v1.14.1, step 6)
    model downloaded            the storage-initializer init container's finishedAt (baseline only:
                                it downloads the model before the server's image is pulled)
    image pulled                the Pod's `Pulled` event for kserve-container
    container started           kserve-container's state.running.startedAt
    warm-up done                the `warmup ... event=exec` log line (tools/in_cluster/warmup.py)
    server ready                the Pod's Ready condition
    first completion            the benchmark's clock when the answer arrived

The request's send time starts the first phase. A milestone the cluster did not record (a warm
node has no new NodeClaim; the baseline has no warm-up) makes its phase 0 s and is marked so.
Cluster timestamps have one-second resolution and come from the control plane's clock; keep
the benchmark host's clock in sync (NTP) or the first and last phases absorb the skew.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import requests

from tools.operate.cluster_reader import ISVC_LABEL, api_client_from_kubeconfig
from tools.operate.inference import (
    BenchError,
    BenchTarget,
    ServiceEndpoint,
    send_completion,
)

GPU_NODE_SELECTOR = "karpenter.sh/nodepool=gpu"
"""Karpenter labels every node of NodePool `gpu` with it (components/karpenter/manifests.py)."""
CONTAINER = "kserve-container"
STORAGE_INITIALIZER = "storage-initializer"
WARMUP_HANDOFF = "event=exec"
"""tools/in_cluster/warmup.py logs `warmup level=info event=exec ...` when it starts the server."""

MILESTONES: tuple[str, ...] = (
    "pod created",
    "NodeClaim launched",
    "node Ready",
    "nvidia.com/gpu allocatable",
    "model downloaded",
    "image pulled",
    "container started",
    "warm-up done",
    "server ready",
    "first completion",
)
CSV_FIELDS = ("model", "variant", "run", "phase", "seconds", "recorded")


class NoGpuNodeTimeout(BenchError):
    """GPU nodes stayed for the whole wait."""


class ClusterReader(Protocol):
    """The cluster reads cold-node mode needs, as Kubernetes JSON dicts."""

    def gpu_nodes(self) -> list[dict[str, Any]]: ...

    def pods(self, namespace: str, inference_service: str) -> list[dict[str, Any]]: ...

    def node_claims(self) -> list[dict[str, Any]]: ...

    def node(self, name: str) -> dict[str, Any] | None: ...

    def pod_events(self, namespace: str, pod: str) -> list[dict[str, Any]]: ...

    def container_log(self, namespace: str, pod: str, container: str) -> str: ...


class KubernetesClusterReader:
    """`ClusterReader` over the Kubernetes API (raw JSON, as the API server sends it)."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client

        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)

    @classmethod
    def from_kubeconfig(
        cls, path: Path | None = None, kubeconfig: Mapping[str, Any] | None = None
    ) -> KubernetesClusterReader:
        return cls(api_client_from_kubeconfig(path, kubeconfig))

    @staticmethod
    def _items(response: Any) -> list[dict[str, Any]]:
        import json

        return list(json.loads(response.data).get("items") or [])

    def gpu_nodes(self) -> list[dict[str, Any]]:
        return self._items(
            self.core.list_node(label_selector=GPU_NODE_SELECTOR, _preload_content=False)
        )

    def pods(self, namespace: str, inference_service: str) -> list[dict[str, Any]]:
        return self._items(
            self.core.list_namespaced_pod(
                namespace,
                label_selector=f"{ISVC_LABEL}={inference_service}",
                _preload_content=False,
            )
        )

    def node_claims(self) -> list[dict[str, Any]]:
        listed = self.custom.list_cluster_custom_object("karpenter.sh", "v1", "nodeclaims")
        return list(listed.get("items") or [])

    def node(self, name: str) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            import json

            return dict(json.loads(self.core.read_node(name, _preload_content=False).data))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def pod_events(self, namespace: str, pod: str) -> list[dict[str, Any]]:
        return self._items(
            self.core.list_namespaced_event(
                namespace, field_selector=f"involvedObject.name={pod}", _preload_content=False
            )
        )

    def container_log(self, namespace: str, pod: str, container: str) -> str:
        return str(
            self.core.read_namespaced_pod_log(pod, namespace, container=container, timestamps=True)
        )


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- reading the milestones --------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """A Kubernetes timestamp (RFC 3339, `Z` or offset, optional fraction) as aware UTC."""
    if not value:
        return None
    text = str(value).replace("Z", "+00:00")
    if "." in text:  # Python before 3.11 wants at most 6 fraction digits; logs carry 9
        head, rest = text.split(".", 1)
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    return datetime.fromisoformat(text).astimezone(UTC)


def _condition(obj: Mapping[str, Any] | None, kind: str) -> datetime | None:
    for condition in (obj or {}).get("status", {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return parse_time(condition.get("lastTransitionTime"))
    return None


def _event_time(event: Mapping[str, Any]) -> datetime | None:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        found = parse_time(event.get(key))
        if found is not None:
            return found
    return None


def _log_time(log: str, marker: str) -> datetime | None:
    """The kubelet timestamp (`timestamps=true`) of the first log line with `marker`."""
    for line in log.splitlines():
        stamp, _, text = line.partition(" ")
        if marker in text and "warmup " in text:
            return parse_time(stamp)
    return None


def _newest_pod(pods: Sequence[Mapping[str, Any]], since: datetime) -> Mapping[str, Any] | None:
    """The first pod created at or after the request (one-second resolution)."""
    started = since.replace(microsecond=0)
    fresh = [
        pod
        for pod in pods
        if (created := parse_time(pod["metadata"].get("creationTimestamp"))) and created >= started
    ]
    return min(fresh, key=lambda pod: str(pod["metadata"]["creationTimestamp"]), default=None)


def read_milestones(
    reader: ClusterReader,
    service: ServiceEndpoint,
    sent_at: datetime,
    answered_at: datetime,
) -> dict[str, datetime | None]:
    """Each milestone's time from the cluster's records (None when it has none)."""
    found: dict[str, datetime | None] = dict.fromkeys(MILESTONES)
    found["first completion"] = answered_at
    pod = _newest_pod(reader.pods(service.namespace, service.name), sent_at)
    if pod is None:
        return found
    metadata, status = pod["metadata"], pod.get("status") or {}
    found["pod created"] = parse_time(metadata.get("creationTimestamp"))
    node_name = (pod.get("spec") or {}).get("nodeName")
    claims = [
        claim
        for claim in reader.node_claims()
        if (claim.get("status") or {}).get("nodeName") == node_name
    ]
    if node_name and claims:
        claim = claims[0]
        launched = _condition(claim, "Launched")
        # Only a node started for this request is part of a cold start.
        if launched is not None and launched >= sent_at.replace(microsecond=0):
            found["NodeClaim launched"] = launched
            found["node Ready"] = _condition(reader.node(node_name), "Ready")
            found["nvidia.com/gpu allocatable"] = _condition(claim, "Initialized")
    for event in reader.pod_events(service.namespace, metadata["name"]):
        involved = event.get("involvedObject") or {}
        if event.get("reason") == "Pulled" and CONTAINER in str(involved.get("fieldPath", "")):
            found["image pulled"] = _event_time(event)
    for container in status.get("initContainerStatuses") or []:
        if container.get("name") == STORAGE_INITIALIZER:
            done = (container.get("state") or {}).get("terminated") or {}
            found["model downloaded"] = parse_time(done.get("finishedAt"))
    for container in status.get("containerStatuses") or []:
        if container.get("name") == CONTAINER:
            running = (container.get("state") or {}).get("running") or {}
            found["container started"] = parse_time(running.get("startedAt"))
    log = reader.container_log(service.namespace, metadata["name"], CONTAINER)
    found["warm-up done"] = _log_time(log, WARMUP_HANDOFF)
    found["server ready"] = _condition(pod, "Ready")
    return found


@dataclass(frozen=True)
class Phase:
    """Seconds from the previous recorded milestone to this one."""

    name: str
    seconds: float
    recorded: bool


def phases(sent_at: datetime, milestones: Mapping[str, datetime | None]) -> list[Phase]:
    """Split request -> answer at each recorded milestone; the phases add up to the total.

    A milestone earlier than the one before it (one-second resolution, clock skew) ends its
    phase at the previous milestone, so no phase is negative and the sum stays the total.
    """
    result: list[Phase] = []
    previous = sent_at
    for name in MILESTONES:
        at = milestones.get(name)
        if at is None:
            result.append(Phase(name, 0.0, False))
            continue
        at = max(at, previous)
        result.append(Phase(name, (at - previous).total_seconds(), True))
        previous = at
    return result


# --- running it --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColdNodeRun:
    model: str
    variant: str
    run: int
    status: int
    phases: tuple[Phase, ...]

    @property
    def total(self) -> float:
        return sum(phase.seconds for phase in self.phases)


def wait_for_no_gpu_node(
    reader: ClusterReader,
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
    reader: ClusterReader,
    runs: int,
    *,
    no_node_timeout_s: float,
    poll_s: float,
    request_timeout_s: float,
    http: requests.Session | None = None,
    clock: Callable[[], datetime] | None = None,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> list[ColdNodeRun]:
    """Per run and InferenceService: no GPU node, one request, its phases."""
    session = http or requests.Session()
    now = clock or utc_now
    measured: list[ColdNodeRun] = []
    for run in range(1, runs + 1):
        for service in target.services:
            prefix = (
                f"[cold node {run}/{runs}] {service.variant} {service.namespace}/{service.name}"
            )
            log(f"{prefix}: waiting for no GPU node (up to {no_node_timeout_s:g} s)")
            waited = wait_for_no_gpu_node(reader, no_node_timeout_s, poll_s)
            log(f"{prefix}: no GPU node after {waited:.1f} s; sending the completion request")
            sent_at = now()
            _, status, error = send_completion(
                session, target.ingress_url, service, request_timeout_s
            )
            answered_at = now()
            milestones = read_milestones(reader, service, sent_at, answered_at)
            split = tuple(phases(sent_at, milestones))
            measured.append(ColdNodeRun(target.model, service.variant, run, status, split))
            log(
                f"{prefix}: total {sum(p.seconds for p in split):.1f} s, status {status}"
                + (f" ({error})" if error else "")
            )
    return measured


# --- reports -----------------------------------------------------------------------------------


def _median_phases(runs: Sequence[ColdNodeRun]) -> list[tuple[str, float, bool]]:
    return [
        (
            name,
            statistics.median(run.phases[index].seconds for run in runs),
            any(run.phases[index].recorded for run in runs),
        )
        for index, name in enumerate(MILESTONES)
    ]


def markdown_table(target: BenchTarget, results: Sequence[ColdNodeRun]) -> str:
    """Phases as rows, one column per InferenceService (median over the runs, seconds)."""
    variants = [s.variant for s in target.services if any(r.variant == s.variant for r in results)]
    by_variant = {v: _median_phases([r for r in results if r.variant == v]) for v in variants}
    names = {s.variant: s.name for s in target.services}
    header = "| phase (ends at) | " + " | ".join(names[v] for v in variants) + " |"
    lines = [header, "|---|" + "---|" * len(variants)]
    for index, milestone in enumerate(MILESTONES):
        cells = []
        for variant in variants:
            _, seconds, recorded = by_variant[variant][index]
            cells.append(f"{seconds:.1f} s" if recorded else "not recorded")
        lines.append(f"| {milestone} | " + " | ".join(cells) + " |")
    totals = [
        f"**{statistics.median(r.total for r in results if r.variant == v):.1f} s**"
        for v in variants
    ]
    lines.append("| **total** | " + " | ".join(totals) + " |")
    runs = max((r.run for r in results), default=0)
    lines.append("")
    lines.append(
        f"{target.model} on {target.machine_type}, no GPU node before each request; "
        f"median of {runs} run(s)."
    )
    return "\n".join(lines) + "\n"


def write_csv(path: Path, results: Sequence[ColdNodeRun]) -> None:
    import csv

    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_FIELDS)
        for run in results:
            for phase in run.phases:
                writer.writerow(
                    [run.model, run.variant, run.run, phase.name, f"{phase.seconds:.3f}",
                     str(phase.recorded).lower()]
                )  # fmt: skip


def write_chart(path: Path, target: BenchTarget, results: Sequence[ColdNodeRun]) -> None:
    """One horizontal stacked bar per InferenceService, a segment per phase (medians)."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    variants = [s for s in target.services if any(r.variant == s.variant for r in results)]
    figure = Figure(figsize=(10, 2.6 + 0.6 * max(1, len(variants))))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    colors = colormaps["tab10"]
    left = [0.0] * len(variants)
    medians = [_median_phases([r for r in results if r.variant == s.variant]) for s in variants]
    for index, milestone in enumerate(MILESTONES):
        widths = [phase_list[index][1] for phase_list in medians]
        axes.barh(
            [s.name for s in variants], widths, left=left, color=colors(index), label=milestone
        )
        left = [a + b for a, b in zip(left, widths, strict=True)]
    axes.set_xlabel("seconds from request to first completion (phase ends at the label)")
    axes.set_title(f"{target.model}: cold start with no GPU node ({target.machine_type})")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncols=4, fontsize=8)
    figure.tight_layout()
    figure.savefig(path, format="png")


def write_reports(out: Path, target: BenchTarget, results: Sequence[ColdNodeRun]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"coldnode-{target.model}"
    table, rows, chart = stem.with_suffix(".md"), stem.with_suffix(".csv"), stem.with_suffix(".png")
    table.write_text(markdown_table(target, results))
    write_csv(rows, results)
    write_chart(chart, target, results)
    return [table, rows, chart]
