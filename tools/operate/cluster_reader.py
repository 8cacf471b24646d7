"""The few Kubernetes reads the operator tools need (smoke test, cold-start benchmark).

Plain JSON through the Kubernetes client's ApiClient, so a local stand-in API server on
127.0.0.1 can answer them in tests exactly as EKS does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ISVC_LABEL = "serving.kserve.io/inferenceservice"


def status_host(isvc: Mapping[str, Any] | None) -> str | None:
    """The host of an InferenceService's `status.url` (what its ingress routes), if set."""
    url = str(((isvc or {}).get("status") or {}).get("url") or "")
    return urlparse(url).hostname or None


def api_client_from_kubeconfig(
    path: Path | None = None, kubeconfig: Mapping[str, Any] | None = None
) -> Any:
    """A Kubernetes ApiClient from a kubeconfig dict (the stack output) or file (None: the
    default KUBECONFIG or ~/.kube/config); one place for every operator tool."""
    from kubernetes import config

    if kubeconfig is not None:
        return config.new_client_from_config_dict(dict(kubeconfig))
    return config.new_client_from_config(str(path) if path else None)


class ClusterReader:
    """The few Kubernetes reads the smoke test needs, as plain JSON dicts."""

    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client

    @classmethod
    def from_kubeconfig(
        cls, path: Path | None = None, kubeconfig: Mapping[str, Any] | None = None
    ) -> ClusterReader:
        return cls(api_client_from_kubeconfig(path, kubeconfig))

    def _get(self, path: str, query: list[tuple[str, str]] | None = None) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            response = self.api_client.call_api(
                path,
                "GET",
                query_params=query or [],
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return json.loads(response[0].data)

    def inference_service(self, namespace: str, name: str) -> dict[str, Any] | None:
        path = f"/apis/serving.kserve.io/v1beta1/namespaces/{namespace}/inferenceservices/{name}"
        result: dict[str, Any] | None = self._get(path)
        return result

    def pods(self, namespace: str, inference_service: str) -> list[dict[str, Any]]:
        found = self._get(
            f"/api/v1/namespaces/{namespace}/pods",
            [("labelSelector", f"{ISVC_LABEL}={inference_service}")],
        )
        return list((found or {}).get("items", []))

    def node(self, name: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self._get(f"/api/v1/nodes/{name}")
        return result
