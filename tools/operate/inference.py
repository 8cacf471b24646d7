"""One completion request through the ingress to an InferenceService, as the operator tools send it.

The cold-start benchmark, its cold-node mode and the smoke test all reach a model this way: the
seed's request body, the Host header the ingress gateway routes on, and the stack outputs that
name the endpoints.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import requests

COMPLETIONS_PATH = "/openai/v1/completions"
PROMPT = "Write a poem about colors"
MAX_TOKENS = 30


class BenchError(Exception):
    """A problem the user fixes (missing output, bad flag); printed without a traceback."""


@dataclass(frozen=True)
class ServiceEndpoint:
    """One InferenceService to measure."""

    variant: str  # the loader: "cache", "stream" or "download"
    name: str  # InferenceService name: the pods' label value and the served model name
    namespace: str
    host: str  # Host header the ingress gateway routes on


@dataclass(frozen=True)
class BenchTarget:
    """What one benchmark run measures and how the table describes it."""

    model: str
    title: str  # Model Name cell
    size: str  # Model Size (Snapshot) cell
    machine_type: str
    ingress_url: str
    services: tuple[ServiceEndpoint, ...]


def completion_request(service: ServiceEndpoint) -> dict[str, Any]:
    """The seed's request body; KServe's huggingfaceserver serves under the ISVC's name."""
    return {"model": service.name, "prompt": PROMPT, "stream": False, "max_tokens": MAX_TOKENS}


def send_completion(
    http: requests.Session, ingress_url: str, service: ServiceEndpoint, timeout_s: float
) -> tuple[float, int, str]:
    """POST the completion through the ingress; (seconds, HTTP status or 0, error text)."""
    url = ingress_url.rstrip("/") + COMPLETIONS_PATH
    headers = {"Host": service.host, "Content-Type": "application/json"}
    body = json.dumps(completion_request(service))
    start = time.perf_counter()
    try:
        response = http.post(url, data=body, headers=headers, timeout=(timeout_s, timeout_s))
        _ = response.content  # the whole body: the seed's time_total ends with the transfer
    except requests.RequestException as error:
        return time.perf_counter() - start, 0, f"{type(error).__name__}: {error}"
    seconds = time.perf_counter() - start
    return seconds, response.status_code, "" if response.ok else response.text[:200]


def read_stack_outputs(stack: str, *names: str, show_secrets: bool = False) -> Any:
    """`pulumi stack output --json` (all outputs, or the one named)."""
    command = ["pulumi", "stack", "output", *names, "--json", "--stack", stack]
    if show_secrets:
        command.append("--show-secrets")
    try:
        done = subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise BenchError(
            "the pulumi CLI is not installed; pass --ingress-url (and --fluid-host/"
            "--baseline-host) instead of reading the stack outputs"
        ) from None
    except subprocess.CalledProcessError as error:
        raise BenchError(f"`{' '.join(command)}` failed: {error.stderr.strip()}") from None
    return json.loads(done.stdout)
