"""Cold-start benchmark: time the first request to a scaled-to-zero InferenceService.

The seed's "Performance Benchmark", repeatable: for each InferenceService of one model (every
variant the stack output `inferenceServices` lists for it) wait until it has no pods, send the
seed's completion request through the ingress, and record the total seconds and HTTP status
(what `curl -w '%{time_total}'` reported in the seed). After each request the cluster's own
objects and events say where the time went, whether the pod got a new node, how old its node
was and whether the serving image was already there (tools/operate/cluster_phases.py). Repeat
N times, then write

    <out>/coldstart-<model>.md    the seed's table, one row per node state (only requests that
                                  met the same node state are compared), and the phases
    <out>/coldstart-<model>.csv   one row per request: model, variant, run, seconds, status,
                                  node, node age, image present, node state, phase seconds
    <out>/coldstart-<model>.png   median bars with min-max error bars per variant and node state

    python -m tools.operate.coldstart_bench --stack dev --model llama-31-8b-instruct --runs 3 \\
        --out build/coldstart/

Endpoints come from `pulumi stack output --json` (`ingressHostname`, `inferenceServices`) or
from flags (`--ingress-url` with `--fluid-host`/`--baseline-host`, which need no Pulumi CLI).
Pods are counted through the `PodCounter` protocol; `KubernetesPodCounter` is the real one.

Exit status: 0 when every request answered 2xx, 1 when one did not or a service never scaled to
zero (the files are still written with what was measured), 2 on a usage or config error.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, TextIO
from urllib.parse import urlparse

import requests

from components.cache.throughput import plan_report
from components.config.kserve_names import isvc_name
from components.config.model import ModelConfig, StackConfig
from components.hostnames import service_host
from tools.operate.bench_rows import (
    RunResult,
    node_states,
    phase_table,
    write_csv,
)
from tools.operate.cluster_phases import (
    KubernetesClusterReader,
    PhaseReader,
    not_read,
    read_observation,
    utc_now,
)
from tools.operate.cluster_reader import (
    ISVC_LABEL,
    ClusterReader,
    api_client_from_kubeconfig,
    status_host,
)
from tools.operate.inference import (
    BenchError,
    BenchTarget,
    ServiceEndpoint,
    read_stack_outputs,
    send_completion,
)
from tools.operate.ingress_http import keepalive_session
from tools.plan.stack_config import add_stack_arguments, load_config_for_tool

SERVING_CONTAINER = "kserve-container"  # KServe's predictor container; it runs the warm-up
REQUEST_TIMEOUT_SECONDS = 3600.0
"""The seed's `curl --connect-timeout 3600 --max-time 3600`: a cold start may take minutes."""

VARIANT_TITLES: dict[str, str] = {
    "download": "KServe + Storage Initializer",
    "cache": "KServe + Fluid(JindoFS)",
    "stream": "KServe + Run:ai Streamer (S3)",
}
"""The seed's column titles of the variants it had; any other variant is titled by its name."""
LIVE_PHASES = frozenset({"Pending", "Running"})


class ScaleToZeroTimeout(BenchError):
    """An InferenceService kept pods for the whole wait."""


class PodCounter(Protocol):
    """Counts the live (Pending or Running) pods of one InferenceService."""

    def count(self, namespace: str, inference_service: str) -> int: ...


class KubernetesPodCounter:
    """`PodCounter` over the Kubernetes API (pods labelled with the InferenceService name)."""

    def __init__(self, core_v1: Any) -> None:
        self.core_v1 = core_v1

    @classmethod
    def from_kubeconfig(
        cls, path: Path | None = None, kubeconfig: Mapping[str, Any] | None = None
    ) -> KubernetesPodCounter:
        from kubernetes import client

        return cls(client.CoreV1Api(api_client_from_kubeconfig(path, kubeconfig)))

    def count(self, namespace: str, inference_service: str) -> int:
        pods = self.core_v1.list_namespaced_pod(
            namespace, label_selector=f"{ISVC_LABEL}={inference_service}"
        )
        # A terminating pod still reports Running and still holds its GPU: it counts.
        return sum(1 for pod in pods.items if pod.status and pod.status.phase in LIVE_PHASES)

    def warmup_log(self, namespace: str, inference_service: str) -> str:
        """The serving container's log of the live pods (the warm-up runs there before vLLM)."""
        pods = self.core_v1.list_namespaced_pod(
            namespace, label_selector=f"{ISVC_LABEL}={inference_service}"
        )
        return "\n".join(
            self.core_v1.read_namespaced_pod_log(
                pod.metadata.name, namespace, container=SERVING_CONTAINER
            )
            for pod in pods.items
            if pod.status and pod.status.phase == "Running"
        )


# --- weights phase (issue 12) ----------------------------------------------------------------

_WARMUP_DONE = re.compile(r"^warmup level=info event=done .*?\bbytes=(\d+) seconds=([\d.]+)")


@dataclass(frozen=True)
class WeightsPhase:
    """What tools/in_cluster/warmup.py read through the cache before the server started."""

    bytes: int
    seconds: float


def parse_weights_phase(log: str) -> WeightsPhase | None:
    """The last `event=done` line of tools/in_cluster/warmup.py's log (bytes, seconds), if any."""
    found = None
    for line in log.splitlines():
        match = _WARMUP_DONE.match(line.strip())
        if match:
            found = WeightsPhase(int(match.group(1)), float(match.group(2)))
    return found


def weights_section(measured: Sequence[WeightsPhase], prediction: Mapping[str, Any] | None) -> str:
    """The weights phase of each Fluid cold start beside the cache model's prediction for the
    same bytes (components/cache/throughput.py: baseline and burst rate, binding limit)."""

    def predicted(phase: str, size: int) -> str:
        if not prediction:
            return "no estimate"
        entry = prediction[phase]
        return f"{size / entry['bytesPerSecond']:.1f}s ({entry['binding']})"

    lines = [
        "",
        "| Weights phase (warm-up log) | Bytes | Seconds | GB/s | Model, baseline | Model, burst |",
        "|---|---|---|---|---|---|",
    ]
    for run, phase in enumerate(measured, start=1):
        rate = phase.bytes / phase.seconds / 1e9 if phase.seconds > 0 else 0.0
        lines.append(
            f"| run {run} | {phase.bytes} | {phase.seconds:.3f} | {rate:.3f} | "
            f"{predicted('baseline', phase.bytes)} | {predicted('burst', phase.bytes)} |"
        )
    if not measured:
        size = int(prediction["bytes"]) if prediction else 0
        lines.append(
            "| not found in the warm-up log | - | - | - | "
            f"{predicted('baseline', size)} | {predicted('burst', size)} |"
        )
    return "\n".join(lines) + "\n"


def wait_for_zero(
    counter: PodCounter,
    service: ServiceEndpoint,
    timeout_s: float,
    poll_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Wait until `service` has no live pods; return the seconds waited.

    Raises ScaleToZeroTimeout once `timeout_s` passes with pods still there.
    """
    start = clock()
    deadline = start + timeout_s
    while True:
        pods = counter.count(service.namespace, service.name)
        now = clock()
        if pods == 0:
            return now - start
        if now >= deadline:
            raise ScaleToZeroTimeout(
                f"InferenceService {service.namespace}/{service.name} still has {pods} pod(s) "
                f"after {timeout_s:g} s; it never scaled to zero (check that minReplicas is 0, "
                "that nothing else sends it requests, and knative.scaleToZeroGracePeriodSeconds)"
            )
        sleep(max(0.0, min(poll_s, deadline - now)))


def run_benchmark(
    target: BenchTarget,
    counter: PodCounter,
    runs: int,
    *,
    scale_down_timeout_s: float,
    poll_s: float,
    request_timeout_s: float = REQUEST_TIMEOUT_SECONDS,
    http: requests.Session | None = None,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    results: list[RunResult] | None = None,
    weights: list[WeightsPhase] | None = None,
    phases: PhaseReader | None = None,
    clock: Callable[[], Any] = utc_now,
) -> list[RunResult]:
    """Measure every service `runs` times, alternating services so drift hits all alike.

    Results are appended to `results` as they come, so a caller keeps them when a later wait
    raises ScaleToZeroTimeout. With `phases`, each result carries what the cluster recorded.
    """
    measured: list[RunResult] = [] if results is None else results
    session = http or keepalive_session()
    for run in range(1, runs + 1):
        for service in target.services:
            prefix = f"[run {run}/{runs}] {service.variant} {service.namespace}/{service.name}"
            log(f"{prefix}: waiting for 0 pods (up to {scale_down_timeout_s:g} s)")
            waited = wait_for_zero(counter, service, scale_down_timeout_s, poll_s)
            log(f"{prefix}: 0 pods after {waited:.1f} s; sending the completion request")
            sent_at = clock()
            seconds, status, error = send_completion(
                session, target.ingress_url, service, request_timeout_s
            )
            answered_at = clock()
            observation = (
                read_observation(phases, service.namespace, service.name, sent_at, answered_at)
                if phases is not None
                else not_read(round((answered_at - sent_at).total_seconds(), 3))
            )
            measured.append(
                RunResult(target.model, service.variant, run, seconds, status, observation)
            )
            log(
                f"{prefix}: total: {seconds:.3f}s, status {status}, {observation.state.label}"
                + (f" ({error})" if error else "")
            )
            read_log = getattr(counter, "warmup_log", None)
            if weights is not None and service.variant == "cache" and read_log is not None:
                phase = parse_weights_phase(read_log(service.namespace, service.name))
                if phase is not None:
                    weights.append(phase)
                    log(f"{prefix}: weights phase {phase.bytes} bytes in {phase.seconds:.3f}s")
    return measured


# --- reports ---------------------------------------------------------------------------------


def _seconds(value: float) -> str:
    return f"{value:.3f}s"


def table_cell(results: Sequence[RunResult], deployed: bool = True) -> str:
    """`total: 265.253s` for one run; the median with min-max over several."""
    if not deployed:
        return "not deployed"
    if not results:
        return "not measured"
    good = sorted(result.seconds for result in results if result.ok)
    failed = [result for result in results if not result.ok]
    statuses = ", ".join(f"HTTP {result.status}" for result in failed)
    if not good:
        return f"failed ({len(failed)} of {len(results)} runs: {statuses})"
    cell = f"total: {_seconds(statistics.median(good))}"
    if len(results) > 1:
        cell += (
            f" (median of {len(good)} runs; min {_seconds(good[0])}, max {_seconds(good[-1])}"
            + (f"; {len(failed)} failed: {statuses}" if failed else "")
            + ")"
        )
    elif failed:
        cell += f" ({statuses})"
    return cell


def variant_title(variant: str) -> str:
    return VARIANT_TITLES.get(variant, variant)


def markdown_table(target: BenchTarget, results: Sequence[RunResult]) -> str:
    """The seed's table, one row per node state: a cell compares only requests that met the same
    node state (a new node and a pulled image are not a warm node with the image present)."""
    variants = [service.variant for service in target.services]
    header = "| Model Name | Model Size (Snapshot) | Machine Type | Node state | " + " | ".join(
        variant_title(v) for v in variants
    )
    lines = [header + " |", "|---|---|---|---|" + "---|" * len(variants)]
    for state in node_states(results) or ["not measured"]:
        cells = []
        for variant in variants:
            rows = [r for r in results if r.variant == variant and r.node_state == state]
            measured = any(r.variant == variant for r in results)
            cells.append(table_cell(rows) if rows or not measured else "no run in this state")
        lines.append(
            f"| {target.title} | {target.size} | {target.machine_type} | {state} | "
            + " | ".join(cells)
            + " |"
        )
    runs = max((result.run for result in results), default=0)
    lines += [
        "",
        "> NOTE: `total` is the response time of one completion request sent to a serverless "
        "InferenceService scaled to zero: pod startup, model download (storage initializer) "
        "or cache read (Fluid), model load, inference and network time. "
        f"{runs} run(s) per service; median, min and max over the successful runs. "
        "Only cells of one row met the same node state.",
        "",
        phase_table(results),
    ]
    return "\n".join(lines)


def write_chart(path: Path, target: BenchTarget, results: Sequence[RunResult]) -> None:
    """Median bar per variant with min-max error bars (successful runs only)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels: list[str] = []
    medians: list[float] = []
    below: list[float] = []
    above: list[float] = []
    for variant in dict.fromkeys(r.variant for r in results):
        for state in node_states(results):
            good = sorted(
                r.seconds
                for r in results
                if r.variant == variant and r.node_state == state and r.ok
            )
            if not good:
                continue
            median = statistics.median(good)
            labels.append(f"{variant_title(variant)}\n{state}")
            medians.append(median)
            below.append(median - good[0])
            above.append(good[-1] - median)
    figure = Figure(figsize=(max(7, 2.2 * len(labels)), 4.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if labels:
        colors = ["#dd8452" if "Storage" in label else "#4c72b0" for label in labels]
        bars = axes.bar(labels, medians, yerr=[below, above], capsize=10, color=colors)
        axes.bar_label(
            bars, labels=[f"median {_seconds(m)}" for m in medians], label_type="center",
            color="white", fontweight="bold",
        )  # fmt: skip
    else:
        axes.text(0.5, 0.5, "no successful runs", ha="center", va="center")
    axes.set_ylabel("seconds to first response (scale from 0)")
    runs = max((r.run for r in results), default=0)
    axes.set_title(
        f"{target.model} cold start on {target.machine_type}\n"
        f"median of {runs} run(s), error bars min to max"
    )
    figure.tight_layout()
    figure.savefig(path, format="png")


def write_reports(out: Path, target: BenchTarget, results: Sequence[RunResult]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"coldstart-{target.model}"
    table, rows, chart = stem.with_suffix(".md"), stem.with_suffix(".csv"), stem.with_suffix(".png")
    table.write_text(markdown_table(target, results))
    write_csv(rows, results)
    write_chart(chart, target, results)
    return [table, rows, chart]


# --- endpoints -------------------------------------------------------------------------------


def _ingress_url(value: str) -> str:
    return value if "://" in value else f"http://{value}"


def services_from_outputs(
    outputs: Mapping[str, Any], model: ModelConfig, namespace: str
) -> tuple[ServiceEndpoint, ...]:
    """Every InferenceService the stack output `inferenceServices` lists for the model, in its
    order (`{model: {variant: {name, namespace, host, url}}}`; a null variant is not deployed)."""
    services = outputs.get("inferenceServices") or {}
    entry = services.get(model.name)
    if not isinstance(entry, Mapping):
        known = ", ".join(sorted(services)) or "none"
        raise BenchError(
            f'stack output inferenceServices has no model "{model.name}" (it has: {known})'
        )
    found: list[ServiceEndpoint] = []
    for variant, info in entry.items():
        if not info:
            continue
        if not isinstance(info, Mapping):
            raise BenchError(
                f"stack output inferenceServices.{model.name}.{variant} must be an object, got "
                f"{json.dumps(info)}"
            )
        name = str(info.get("name") or "")
        host = str(info.get("host") or urlparse(str(info.get("url") or "")).hostname or "")
        if not name or not host:
            raise BenchError(
                f"stack output inferenceServices.{model.name}.{variant} needs a name and a "
                f"host or url, got {json.dumps(info)}"
            )
        found.append(ServiceEndpoint(variant, name, str(info.get("namespace") or namespace), host))
    return tuple(found)


def default_host(config: StackConfig, name: str) -> str:
    """The predictor host the stack routes (the same helper the stack outputs use)."""
    return service_host(config, name)


def services_from_flags(
    args: argparse.Namespace, config: StackConfig, model: ModelConfig
) -> tuple[ServiceEndpoint, ...]:
    namespace = args.namespace or config.model_namespace
    if not (args.fluid_host or args.baseline_host):
        # No host flag: every loader the model deploys, at the hosts the stack routes.
        return tuple(
            ServiceEndpoint(
                loader,
                isvc_name(model, loader),
                namespace,
                default_host(config, isvc_name(model, loader)),
            )
            for loader in model.loaders
        )
    # --fluid-* name the `cache` loader's service, --baseline-* the `download` one.
    fluid_name = args.fluid_name or isvc_name(model, "cache")
    services = [
        ServiceEndpoint(
            "cache", fluid_name, namespace, args.fluid_host or default_host(config, fluid_name)
        )
    ]
    if args.baseline_host:
        baseline_name = args.baseline_name or isvc_name(model, "download")
        services.append(ServiceEndpoint("download", baseline_name, namespace, args.baseline_host))
    return tuple(services)


def model_title(model: ModelConfig) -> str:
    if model.hf_repo:
        return f"[{model.hf_repo}](https://huggingface.co/{model.hf_repo})"
    return model.name


def build_target(
    args: argparse.Namespace, config: StackConfig, outputs: Mapping[str, Any] | None
) -> BenchTarget:
    models = {model.name: model for model in config.models}
    name = args.model or config.models[0].name
    if name not in models:
        raise BenchError(f'--model: "{name}" is not in models; use one of {", ".join(models)}')
    model = models[name]
    if outputs is None:
        ingress = args.ingress_url
        services = services_from_flags(args, config, model)
    else:
        hostname = outputs.get("ingressHostname")
        if not hostname:
            raise BenchError("the stack has no ingressHostname output; pass --ingress-url")
        ingress = f"{hostname}:{args.ingress_port}"
        services = services_from_outputs(outputs, model, args.namespace or config.model_namespace)
    return BenchTarget(
        model=model.name,
        title=model_title(model),
        size=f"{model.size_gib:g}GiB",
        # Under Karpenter the NodePool's types, not the unused node group's.
        machine_type="/".join(config.gpu_nodes.instance_types),
        ingress_url=_ingress_url(ingress),
        services=services,
    )


# --- the command -----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.operate.coldstart_bench",
        description="Time scale-from-zero requests to a model's Fluid and baseline services.",
    )
    add_stack_arguments(parser)
    parser.add_argument("--model", help="model name from the stack's models (default: the first)")
    parser.add_argument("--runs", type=int, default=3, help="requests per service (default 3)")
    parser.add_argument("--out", type=Path, default=Path("build/coldstart"), help="output folder")
    parser.add_argument("--ingress-url", help="ingress gateway, e.g. http://HOST:80 (skips Pulumi)")
    parser.add_argument("--ingress-port", type=int, default=80, help="port with ingressHostname")
    parser.add_argument("--fluid-host", help="Host header of the Fluid InferenceService")
    parser.add_argument("--baseline-host", help="Host header of the baseline InferenceService")
    parser.add_argument("--fluid-name", help="Fluid InferenceService name (default: model name)")
    parser.add_argument("--baseline-name", help="download name (default: <model>-download)")
    parser.add_argument("--namespace", help="namespace of the services (default: modelNamespace)")
    parser.add_argument("--kubeconfig", type=Path, help="kubeconfig (default: the stack's)")
    parser.add_argument(
        "--scale-down-timeout", type=float, default=900.0, help="seconds to wait for 0 pods"
    )
    parser.add_argument("--poll-interval", type=float, default=5.0, help="seconds between counts")
    parser.add_argument(
        "--cold-node",
        action="store_true",
        help=(
            "wait for no GPU node before each request; split it into phases "
            "(tools/operate/coldnode.py)"
        ),
    )
    parser.add_argument(
        "--no-node-timeout",
        type=float,
        default=3600.0,
        help="--cold-node: seconds to wait for no GPU node (keep-warm window + termination)",
    )
    parser.add_argument(
        "--request-timeout",
        type=float,
        default=REQUEST_TIMEOUT_SECONDS,
        help="seconds to connect and to wait for the answer (default 3600, as the seed)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.scale_down_timeout <= 0 or args.poll_interval <= 0 or args.request_timeout <= 0:
        parser.error("--scale-down-timeout, --poll-interval and --request-timeout must be > 0")
    return args


def _kubeconfig(args: argparse.Namespace, from_stack: bool) -> dict[str, Any] | None:
    """The stack's kubeconfig output, or None for --kubeconfig / the default kubeconfig."""
    if args.kubeconfig or not from_stack:
        return None
    kubeconfig = read_stack_outputs(args.stack, "kubeconfig", show_secrets=True)
    return dict(json.loads(kubeconfig) if isinstance(kubeconfig, str) else kubeconfig)


def _cluster_clients(
    args: argparse.Namespace, from_stack: bool
) -> tuple[PodCounter, ClusterReader, PhaseReader]:
    """Pods and InferenceServices through --kubeconfig, else the stack's kubeconfig output,
    else the default kubeconfig (KUBECONFIG or ~/.kube/config) when endpoints came from flags."""
    from kubernetes.config.config_exception import ConfigException

    try:
        kubeconfig = _kubeconfig(args, from_stack)
        counter = KubernetesPodCounter.from_kubeconfig(path=args.kubeconfig, kubeconfig=kubeconfig)
        reader = ClusterReader.from_kubeconfig(path=args.kubeconfig, kubeconfig=kubeconfig)
        phases = KubernetesClusterReader.from_kubeconfig(
            path=args.kubeconfig, kubeconfig=kubeconfig
        )
    except (ConfigException, OSError) as error:
        raise BenchError(f"cannot load a kubeconfig ({error}); pass --kubeconfig") from None
    return counter, reader, phases


def hosts_from_status(
    target: BenchTarget, reader: ClusterReader, log: Callable[[str], None]
) -> BenchTarget:
    """Each service's Host header from its `status.url`, the host its ingress really routes;
    the predicted host (stack outputs, components/hostnames.py) stays when there is none."""
    services = []
    for service in target.services:
        host = status_host(reader.inference_service(service.namespace, service.name))
        if host is None:
            log(f"{service.namespace}/{service.name}: no status.url; using {service.host}")
        elif host != service.host:
            log(f"{service.namespace}/{service.name}: status.url host {host} (not {service.host})")
        services.append(replace(service, host=host or service.host))
    return replace(target, services=tuple(services))


def _cold_node(
    args: argparse.Namespace,
    target: BenchTarget,
    from_stack: bool,
    out: TextIO,
    clock: Callable[[], Any] | None,
) -> int:
    """--cold-node: the phases of a request that has to start a GPU node (operate/coldnode.py)."""
    from kubernetes.config.config_exception import ConfigException

    from tools.operate import coldnode

    try:
        reader = KubernetesClusterReader.from_kubeconfig(
            path=args.kubeconfig, kubeconfig=_kubeconfig(args, from_stack)
        )
    except (ConfigException, OSError, BenchError) as error:
        print(
            f"coldstart_bench: cannot load a kubeconfig ({error}); pass --kubeconfig",
            file=sys.stderr,
        )
        return 2
    results: list[RunResult] = []
    failure = ""
    try:
        results = coldnode.run_cold_node(
            target,
            reader,
            args.runs,
            no_node_timeout_s=args.no_node_timeout,
            poll_s=args.poll_interval,
            request_timeout_s=args.request_timeout,
            clock=clock or utc_now,
        )
    except coldnode.NoGpuNodeTimeout as error:
        failure = str(error)
    if results:
        paths = coldnode.write_reports(args.out, target, results)
        out.write(coldnode.markdown_table(target, results))
        out.write("".join(f"wrote {path}\n" for path in paths))
    if failure:
        print(f"coldstart_bench: {failure}", file=sys.stderr)
        return 1
    return 0 if all(result.ok for result in results) else 1


def main(
    argv: Sequence[str] | None = None,
    pod_counter: PodCounter | None = None,
    stdout: TextIO | None = None,
    clock: Callable[[], Any] | None = None,
    reader: ClusterReader | None = None,
    phase_reader: PhaseReader | None = None,
) -> int:
    """`clock` (wall time of each send and answer) lets a recorded run be played back."""
    args = parse_args(argv)
    out = stdout or sys.stdout
    config = load_config_for_tool("coldstart_bench", args.stack, args.stack_file)
    if config is None:
        return 2
    from_stack = not args.ingress_url
    results: list[RunResult] = []
    try:
        outputs = read_stack_outputs(args.stack) if from_stack else None
        target = build_target(args, config, outputs)
        if args.cold_node:
            return _cold_node(args, target, from_stack, out, clock)
        counter, phases = pod_counter, phase_reader
        if counter is None:
            counter, reader, phases = _cluster_clients(args, from_stack)
        if reader is not None and not (args.fluid_host or args.baseline_host):
            target = hosts_from_status(target, reader, lambda line: print(line, file=sys.stderr))
    except BenchError as error:
        print(f"coldstart_bench: {error}", file=sys.stderr)
        return 2
    failure = ""
    weights: list[WeightsPhase] = []
    try:
        run_benchmark(
            target,
            counter,
            args.runs,
            scale_down_timeout_s=args.scale_down_timeout,
            poll_s=args.poll_interval,
            request_timeout_s=args.request_timeout,
            results=results,
            weights=weights,
            phases=phases,
            clock=clock or utc_now,
        )
    except ScaleToZeroTimeout as error:
        failure = str(error)
    paths = write_reports(args.out, target, results)
    section = weights_section(weights, plan_report(config)["models"].get(target.model))
    with paths[0].open("a") as table:
        table.write(section)
    out.write(markdown_table(target, results) + section)
    out.write("".join(f"wrote {path}\n" for path in paths))
    if failure:
        print(f"coldstart_bench: {failure}", file=sys.stderr)
        return 1
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
