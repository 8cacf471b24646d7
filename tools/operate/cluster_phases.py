"""Where a benchmark request's seconds went, read from the cluster's own objects and events.

Both modes of the cold-start benchmark (tools/operate/coldstart_bench.py, coldnode.py) read, after
each request, the predictor Pod it started, that Pod's Events, its Node and the Karpenter
NodeClaim behind the Node, and turn each milestone into **seconds since the request was sent**
(negative: before it). A milestone the cluster did not record is None. Names are fixed (other
tools model the same phases by these names):

    phase                   read from
    pod_scheduled           Pod condition PodScheduled=True (else the `Scheduled` Event)
    nodeclaim_launched      NodeClaim condition Launched (the EC2 instance exists)
    nodeclaim_registered    NodeClaim condition Registered (the Node joined)
    nodeclaim_initialized   NodeClaim condition Initialized (Ready, and every requested resource
                            such as nvidia.com/gpu registered: aws/karpenter-provider-aws:website/
                            content/en/docs/concepts/nodeclaims.md@v1.14.1, step 6)
    node_ready              Node condition Ready=True
    image_pulled            the `Pulled` Event of kserve-container
    container_started       kserve-container's state.running.startedAt
    first_token             the benchmark's clock when the (non-streamed) answer arrived

NodeClaim and Node milestones count only for a node created for this request (created at or
after the send); on a node that was already there they are None and the row says "warm node".
Each row also records the node's age when the request was sent and whether the serving image
was already on it: kubelet's `Pulled` Event then says `Container image "..." already present on
machine` (kubernetes/kubernetes:pkg/kubelet/images/image_manager.go@v1.34.0 EnsureImageExists;
1.34 appends "and can be accessed by the pod"), instead of "Successfully pulled image".
Rows are compared only when this node state matches (`NodeState`).

Cluster timestamps have one-second resolution and the control plane's clock; keep the
benchmark host's clock in sync (NTP).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from tools.operate.cluster_reader import ISVC_LABEL, api_client_from_kubeconfig

PHASES: tuple[str, ...] = (
    "pod_scheduled",
    "nodeclaim_launched",
    "nodeclaim_registered",
    "nodeclaim_initialized",
    "node_ready",
    "image_pulled",
    "container_started",
    "first_token",
)
PHASE_ORIGIN = "seconds since the request was sent"
CONTAINER = "kserve-container"
"""KServe's predictor container: the serving image whose pull and start are measured."""
IMAGE_PRESENT_MARKER = "already present on machine"
GPU_NODE_SELECTOR = "karpenter.sh/nodepool=gpu"
"""Karpenter labels every node of NodePool `gpu` with it (components/manifests/karpenter.py)."""


class PhaseReader(Protocol):
    """The cluster reads the phases need, as Kubernetes JSON dicts."""

    def pods(self, namespace: str, inference_service: str) -> list[dict[str, Any]]: ...

    def node_claims(self) -> list[dict[str, Any]]: ...

    def node(self, name: str) -> dict[str, Any] | None: ...

    def pod_events(self, namespace: str, pod: str) -> list[dict[str, Any]]: ...


class KubernetesClusterReader:
    """`PhaseReader` (and GPU node listing) over the Kubernetes API, raw JSON as served."""

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


def utc_now() -> datetime:
    return datetime.now(UTC)


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
    for condition in ((obj or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return parse_time(condition.get("lastTransitionTime"))
    return None


def _event_time(event: Mapping[str, Any]) -> datetime | None:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        found = parse_time(event.get(key))
        if found is not None:
            return found
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


@dataclass(frozen=True)
class NodeState:
    """What decides whether two rows may be compared: a node started for the request or not,
    and whether the serving image had to be pulled."""

    new_node: bool | None
    image_present: bool | None

    @property
    def label(self) -> str:
        if self.new_node is None:
            return "node not read"
        node = "new node" if self.new_node else "warm node"
        image = {True: "image present", False: "image pulled", None: "image pull not recorded"}
        return f"{node}, {image[self.image_present]}"


@dataclass(frozen=True)
class Observation:
    """One request as the cluster recorded it."""

    phases: Mapping[str, float | None]
    """PHASES -> seconds since the request was sent (None: not recorded)."""
    node: str = ""
    node_age_s: float | None = None
    """The node's age when the request was sent; negative when it was created afterwards."""
    new_node: bool | None = None
    """Created at or after the send (one-second resolution); None when the node was not read."""
    image_present: bool | None = None

    @property
    def state(self) -> NodeState:
        return NodeState(self.new_node, self.image_present)


def not_read(answered_s: float | None = None) -> Observation:
    """A request whose pod the benchmark could not read: only its answer time."""
    phases: dict[str, float | None] = dict.fromkeys(PHASES)
    phases["first_token"] = answered_s
    return Observation(phases)


def read_observation(
    reader: PhaseReader,
    namespace: str,
    inference_service: str,
    sent_at: datetime,
    answered_at: datetime,
) -> Observation:
    """The phases, node age and image presence of the request sent at `sent_at`."""

    def since(at: datetime | None) -> float | None:
        return None if at is None else round((at - sent_at).total_seconds(), 3)

    phases: dict[str, float | None] = dict.fromkeys(PHASES)
    phases["first_token"] = since(answered_at)
    pod = _newest_pod(reader.pods(namespace, inference_service), sent_at)
    if pod is None:
        return Observation(phases)
    metadata, status = pod["metadata"], pod.get("status") or {}
    events = reader.pod_events(namespace, metadata["name"])
    scheduled = _condition(pod, "PodScheduled")
    image_present: bool | None = None
    for event in events:
        involved = event.get("involvedObject") or {}
        if event.get("reason") == "Scheduled" and scheduled is None:
            scheduled = _event_time(event)
        if event.get("reason") == "Pulled" and CONTAINER in str(involved.get("fieldPath", "")):
            phases["image_pulled"] = since(_event_time(event))
            image_present = IMAGE_PRESENT_MARKER in str(event.get("message", ""))
    phases["pod_scheduled"] = since(scheduled)
    for container in status.get("containerStatuses") or []:
        if container.get("name") == CONTAINER:
            running = (container.get("state") or {}).get("running") or {}
            phases["container_started"] = since(parse_time(running.get("startedAt")))
    node_name = str((pod.get("spec") or {}).get("nodeName") or "")
    node = reader.node(node_name) if node_name else None
    created = parse_time(((node or {}).get("metadata") or {}).get("creationTimestamp"))
    node_age = None if created is None else round((sent_at - created).total_seconds(), 3)
    new_node = None if created is None else created >= sent_at.replace(microsecond=0)
    if new_node:
        # A node started for this request: its start is part of the request's time.
        phases["node_ready"] = since(_condition(node, "Ready"))
        claims = [
            claim
            for claim in reader.node_claims()
            if (claim.get("status") or {}).get("nodeName") == node_name
        ]
        if claims:
            for phase, condition in (
                ("nodeclaim_launched", "Launched"),
                ("nodeclaim_registered", "Registered"),
                ("nodeclaim_initialized", "Initialized"),
            ):
                phases[phase] = since(_condition(claims[0], condition))
    return Observation(phases, node_name, node_age, new_node, image_present)
