"""Stack outputs that tell a user how to call each InferenceService."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pulumi

from components.config.model import StackConfig
from components.hostnames import service_host


def curl_command(ingress: str, host: str, model_name: str) -> str:
    """The seed's request: an OpenAI completion through the ingress, routed by Host header."""
    body = {
        "model": model_name,
        "prompt": "Write a poem about colors",
        "stream": False,
        "max_tokens": 30,
    }
    return (
        f"curl -sS http://{ingress}/openai/v1/completions "
        f"-H 'content-type: application/json' -H {shlex.quote('Host: ' + host)} "
        f"-d {shlex.quote(json.dumps(body))}"
    )


def inference_endpoints(
    config: StackConfig,
    names: dict[str, dict[str, str]],
    ingress_hostname: pulumi.Input[str],
) -> pulumi.Output[dict[str, Any]]:
    """Per model and loader (`cache`, `stream`, `download`, the deployed ones only): name,
    namespace, Host header, URL and the curl command.

    The host is the one `status.url` will show (components/hostnames.py); `make smoke` checks it.
    """

    def build(ingress: str) -> dict[str, Any]:
        endpoints: dict[str, Any] = {}
        for model, variants in names.items():
            endpoints[model] = {}
            for variant, name in variants.items():
                host = service_host(config, name)
                endpoints[model][variant] = {
                    "name": name,
                    "namespace": config.model_namespace,
                    "host": host,
                    "url": f"http://{host}",
                    "curl": curl_command(ingress, host, name),
                }
        return endpoints

    return pulumi.Output.from_input(ingress_hostname).apply(build)
