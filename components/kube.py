"""The two ways this stack puts things on the cluster: pinned Helm releases and custom objects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.versions import ChartPin


def pinned_release(
    name: str,
    pin: ChartPin,
    namespace: str,
    values: dict[str, Any],
    *,
    parent: pulumi.Resource,
    provider: k8s.Provider,
    depends_on: Sequence[pulumi.Resource],
    timeout: int,
    delete_timeout: str = "15m",
    skip_crds: bool = False,
) -> k8s.helm.v3.Release:
    """A pinned Helm release that waits for readiness and cleans up a failed install."""
    oci = pin.repository.startswith("oci://")
    return k8s.helm.v3.Release(
        name,
        name=name,
        chart=f"{pin.repository}/{pin.chart}" if oci else pin.chart,
        version=pin.version,
        repository_opts=None if oci else k8s.helm.v3.RepositoryOptsArgs(repo=pin.repository),
        namespace=namespace,
        create_namespace=True,
        values=values,
        timeout=timeout,
        atomic=True,
        cleanup_on_fail=True,
        skip_await=False,
        # Where a separate CRD chart owns the CRDs (Helm never upgrades `crds/`).
        skip_crds=True if skip_crds else None,
        opts=pulumi.ResourceOptions(
            parent=parent,
            provider=provider,
            depends_on=list(depends_on),
            custom_timeouts=pulumi.CustomTimeouts(
                create=f"{timeout // 60 + 5}m",
                update=f"{timeout // 60 + 5}m",
                delete=delete_timeout,
            ),
        ),
    )


def custom_resource(
    name: str,
    document: dict[str, Any],
    opts: pulumi.ResourceOptions,
    spec: pulumi.Input[Any] | None = None,
) -> k8s.apiextensions.CustomResource:
    """A custom object from a pure builder's dict; `spec` overrides it when it needs Outputs."""
    return k8s.apiextensions.CustomResource(
        name,
        api_version=document["apiVersion"],
        kind=document["kind"],
        metadata=document["metadata"],
        spec=document["spec"] if spec is None else spec,
        opts=opts,
    )
