"""A stand-in Kubernetes API and ingress on 127.0.0.1 for the cold-start benchmark's tests.

It answers the real `kubernetes` client (through a kubeconfig) with objects shaped as the API
server serves them: core/v1 Pod, Node and Event (checked against the Kubernetes OpenAPI schema
by the tests) and karpenter.sh/v1 NodeClaim (checked against the CRD in vendor/crds).
When a completion request for an InferenceService arrives at the ingress, the stand-in creates
what a cluster would have created for it (`Scenario`: a new node or the current one, its
NodeClaim, the predictor Pod and the kubelet's and scheduler's Events), with timestamps relative
to the scripted client clock, and answers. While the request is open it also records whether
the client's TCP connection carries a keepalive timer (Linux /proc/net/tcp `tr` column: 2 = the
socket timer, which on an established TCP socket is the keepalive timer).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import yaml

NAMESPACE = "kserve-fluid-demo"
IMAGE = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/docker-hub/kserve/huggingfaceserver"
IMAGE_REF = f"{IMAGE}:v0.20.0-gpu"
ISVC_LABEL = "serving.kserve.io/inferenceservice"
START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def micro(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _condition(kind: str, at: datetime, reason: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True",
        "lastTransitionTime": stamp(at),
        "reason": reason,
        "message": "",
    }


def node(name: str, created: datetime, ready: datetime) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "creationTimestamp": stamp(created),
            "labels": {
                "karpenter.sh/nodepool": "gpu",
                "kserve-fluid/node-role": "gpu",
                "node.kubernetes.io/instance-type": "g5.8xlarge",
            },
        },
        "spec": {
            "providerID": f"aws:///eu-central-1a/i-{len(name):017x}",
            "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}],
        },
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "lastHeartbeatTime": stamp(ready),
                    "lastTransitionTime": stamp(ready),
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                }
            ],
            "allocatable": {"cpu": "31850m", "memory": "124Gi", "nvidia.com/gpu": "1"},
            "capacity": {"cpu": "32", "memory": "128Gi", "nvidia.com/gpu": "1"},
        },
    }


def node_claim(
    name: str, node_name: str, created: datetime, launched: datetime, registered: datetime,
    initialized: datetime,
) -> dict[str, Any]:  # fmt: skip
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "creationTimestamp": stamp(created),
            "labels": {"karpenter.sh/nodepool": "gpu"},
        },
        "spec": {
            "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "gpu"},
            "requirements": [
                {
                    "key": "node.kubernetes.io/instance-type",
                    "operator": "In",
                    "values": ["g5.8xlarge"],
                },
            ],
            "resources": {"requests": {"nvidia.com/gpu": "1"}},
        },
        "status": {
            "nodeName": node_name,
            "providerID": "aws:///eu-central-1a/i-0abc",
            "conditions": [
                _condition("Launched", launched, "Launched"),
                _condition("Registered", registered, "Registered"),
                _condition("Initialized", initialized, "Initialized"),
                _condition("Ready", initialized, "Ready"),
            ],
        },
    }


def pod(
    name: str, isvc: str, node_name: str, created: datetime, scheduled: datetime,
    started: datetime, ready: datetime,
) -> dict[str, Any]:  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "uid": f"uid-{name}",
            "creationTimestamp": stamp(created),
            "labels": {ISVC_LABEL: isvc, "component": "predictor"},
        },
        "spec": {
            "nodeName": node_name,
            "containers": [
                {"name": "kserve-container", "image": IMAGE_REF},
                {"name": "queue-proxy", "image": "queue@sha256:" + "0" * 64},
            ],
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp(scheduled)},
                {"type": "Ready", "status": "True", "lastTransitionTime": stamp(ready)},
            ],
            "containerStatuses": [
                {
                    "name": "kserve-container",
                    "image": IMAGE_REF,
                    "imageID": f"{IMAGE}@sha256:" + "1" * 64,
                    "ready": True,
                    "restartCount": 0,
                    "started": True,
                    "state": {"running": {"startedAt": stamp(started)}},
                }
            ],
        },
    }


def event(
    pod_name: str, reason: str, message: str, at: datetime, *, kubelet: str | None = None
) -> dict[str, Any]:
    """A core/v1 Event as served: kubelet's carry first/lastTimestamp and the container's
    fieldPath; the scheduler's (written through events.k8s.io/v1) carry eventTime instead."""
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{pod_name}.{reason.lower()}", "namespace": NAMESPACE},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": pod_name,
            "namespace": NAMESPACE,
            "uid": f"uid-{pod_name}",
        },
        "reason": reason,
        "message": message,
        "type": "Normal",
    }
    if kubelet is None:
        document.update(
            eventTime=micro(at),
            action="Binding",
            reportingComponent="default-scheduler",
            reportingInstance="default-scheduler-ip-10-0-1-1",
            source={},
        )
    else:
        document["involvedObject"]["fieldPath"] = "spec.containers{kserve-container}"
        document.update(
            firstTimestamp=stamp(at),
            lastTimestamp=stamp(at),
            count=1,
            source={"component": "kubelet", "host": kubelet},
            reportingComponent="kubelet",
            reportingInstance=kubelet,
        )
    return document


@dataclass(frozen=True)
class Scenario:
    """What one request meets, in seconds after it was sent."""

    isvc: str
    new_node: bool
    """True: Karpenter starts a node for it; False: it lands on the node already there."""
    image_present: bool
    answer_s: float
    launched_s: float = 14.0
    registered_s: float = 58.0
    initialized_s: float = 81.0
    scheduled_s: float = 81.0
    pulled_s: float = 185.0
    started_s: float = 187.0


@dataclass
class StandIn:
    """State of the stand-in: the cluster's objects and the scripted client clock."""

    scenarios: dict[str, Scenario]
    sends: dict[str, datetime]
    """InferenceService -> when the client sends its request (the scripted clock)."""
    gpu_nodes_left: int = 2
    """Polls for which the previous GPU node is still listed."""
    url: str = ""
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    claims: list[dict[str, Any]] = field(default_factory=list)
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    arrived: list[str] = field(default_factory=list)
    keepalive_timers: list[str] = field(default_factory=list)
    clock_reads: list[datetime] = field(default_factory=list)
    node_polls: int = 0
    _clock: list[datetime] = field(default_factory=list)

    def __post_init__(self) -> None:
        for isvc, sent in self.sends.items():
            self._clock += [sent, sent + timedelta(seconds=self.scenarios[isvc].answer_s)]

    def clock(self) -> datetime:
        """The client's wall clock: each request's send and answer time, in turn."""
        at = self._clock.pop(0)
        self.clock_reads.append(at)
        return at

    def arrive(self, isvc: str) -> None:
        """Create what the cluster would have created for this request."""
        plan, sent = self.scenarios[isvc], self.sends[isvc]

        def at(seconds: float) -> datetime:
            return sent + timedelta(seconds=seconds)

        if plan.new_node or not self.nodes:
            name = f"ip-10-0-97-{len(self.nodes) + 12}.eu-central-1.compute.internal"
            self.nodes[name] = node(name, at(plan.launched_s + 30), at(plan.registered_s))
            self.claims.append(
                node_claim(f"gpu-{len(self.claims)}", name, at(1), at(plan.launched_s),
                           at(plan.registered_s), at(plan.initialized_s))
            )  # fmt: skip
        node_name = list(self.nodes)[-1]
        pod_name = f"{isvc}-predictor-00001-deployment-7f9c-{len(self.pods):05d}"
        self.pods[isvc] = pod(pod_name, isvc, node_name, at(0.8), at(plan.scheduled_s),
                              at(plan.started_s), at(plan.answer_s - 2))  # fmt: skip
        pulled = (
            f'Container image "{IMAGE_REF}" already present on machine and can be accessed by '
            "the pod"
            if plan.image_present
            else f'Successfully pulled image "{IMAGE_REF}" in 1m44.3s (1m44.3s including '
            "waiting). Image size: 10737418240 bytes."
        )
        self.events[pod_name] = [
            event(pod_name, "Scheduled", f"Successfully assigned {NAMESPACE}/{pod_name} to "
                  f"{node_name}", at(plan.scheduled_s)),
            event(pod_name, "Pulled", pulled, at(plan.pulled_s), kubelet=node_name),
            event(pod_name, "Started", "Started container kserve-container",
                  at(plan.started_s), kubelet=node_name),
        ]  # fmt: skip
        self.arrived.append(isvc)

    def every_object(self) -> list[dict[str, Any]]:
        found = [*self.nodes.values(), *self.claims, *self.pods.values()]
        return found + [e for events in self.events.values() for e in events]


def _keepalive_timer(port: int) -> str:
    """The `tr` (timer active) column of the client socket 127.0.0.1:<port> in /proc/net/tcp."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == f"0100007F:{port:04X}":
            return fields[5].split(":")[0]
    return "gone"


def _handler(state: StandIn, hosts: dict[str, str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parsed = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
            parts = parsed.path.strip("/").split("/")
            not_found = {"kind": "Status", "apiVersion": "v1", "code": 404, "reason": "NotFound"}
            if parts == ["api", "v1", "nodes"]:
                assert query.get("labelSelector") == "karpenter.sh/nodepool=gpu", query
                state.node_polls += 1
                if state.gpu_nodes_left > 0:
                    state.gpu_nodes_left -= 1
                    items = list(state.nodes.values())[-1:] or [
                        node("ip-10-0-33-4.eu-central-1.compute.internal", START, START)
                    ]
                    return self._send(200, {"kind": "NodeList", "items": items})
                return self._send(200, {"kind": "NodeList", "apiVersion": "v1", "items": []})
            if parts[:3] == ["api", "v1", "nodes"] and len(parts) == 4:
                found = state.nodes.get(parts[3])
                return self._send(200, found) if found else self._send(404, not_found)
            if parts == ["apis", "karpenter.sh", "v1", "nodeclaims"]:
                return self._send(200, {"kind": "NodeClaimList", "items": state.claims})
            if parts[:4] == ["api", "v1", "namespaces", NAMESPACE] and parts[4:] == ["pods"]:
                key, _, isvc = query.get("labelSelector", "").partition("=")
                assert key == ISVC_LABEL, query
                items = [state.pods[isvc]] if isvc in state.pods else []
                return self._send(200, {"kind": "PodList", "apiVersion": "v1", "items": items})
            if parts[:4] == ["api", "v1", "namespaces", NAMESPACE] and parts[4:] == ["events"]:
                pod_name = query.get("fieldSelector", "").removeprefix("involvedObject.name=")
                items = state.events.get(pod_name, [])
                return self._send(200, {"kind": "EventList", "apiVersion": "v1", "items": items})
            return self._send(404, not_found)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            isvc = hosts.get(self.headers.get("Host", ""))
            if isvc is None or body.get("model") != isvc:
                return self._send(404, {"error": f"no model {body.get('model')}"})
            # The request is open and idle, as behind the NLB during a cold start.
            time.sleep(0.1)
            state.keepalive_timers.append(_keepalive_timer(self.client_address[1]))
            state.arrive(isvc)
            # After the answer the run's GPU node stays until the keep-warm window ends.
            state.gpu_nodes_left = 2
            self._send(200, {"model": isvc, "choices": [{"index": 0, "text": " Red is warm."}]})

    return Handler


@contextmanager
def serve(state: StandIn, hosts: dict[str, str]) -> Iterator[StandIn]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state, hosts))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def kubeconfig(state: StandIn, folder: Path) -> Path:
    path = folder / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "standin", "cluster": {"server": state.url}}],
                "users": [{"name": "bench", "user": {}}],
                "contexts": [
                    {"name": "standin", "context": {"cluster": "standin", "user": "bench"}}
                ],
                "current-context": "standin",
            }
        )
    )
    return path
