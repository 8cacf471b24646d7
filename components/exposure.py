"""Who may reach the ingress load balancer: the NLB's allowed source CIDRs.

The ingress is internet-facing and plain HTTP; without a source limit anyone can spend the GPUs.
Kubernetes copies `Service.spec.loadBalancerSourceRanges` into the load balancer's firewall (for
an NLB, the node security group rules the AWS cloud provider writes; kubernetes/cloud-provider-aws
`pkg/providers/v1/aws_loadbalancer.go`); the AWS Load Balancer Controller honours the same field.

Settings live here until the typed config model of issue 9 lands; then `ingress.allowedSourceCidrs`
is declared in Pulumi.yaml and read into `IngressSettings` (the defaults below are the contract).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components.config import StackConfig

OPEN_TO_ALL = ("0.0.0.0/0",)
KEY = "ingress.allowedSourceCidrs"


@dataclass(frozen=True)
class IngressSettings:
    """The ingress load balancer's exposure."""

    allowed_source_cidrs: tuple[str, ...] = OPEN_TO_ALL
    explicit: bool = False
    """Whether the stack set the CIDRs itself (a production stack must)."""


def is_production(config: StackConfig) -> bool:
    """A stack is marked production by `clusterDeletionProtection: true` (Pulumi.yaml says so)."""
    return config.cluster_deletion_protection


def ingress_settings(raw: Any) -> tuple[IngressSettings, list[str]]:
    """Settings from the raw `ingress` config object (None: unset, the defaults) and the
    problems with its shape, one line each."""
    if raw is None:
        return IngressSettings(), []
    if not isinstance(raw, dict):
        return IngressSettings(), [f"ingress: must be an object, got {raw!r}"]
    found = [
        f"ingress.{key}: is not a known key; use allowedSourceCidrs"
        for key in sorted(raw)
        if key != "allowedSourceCidrs"
    ]
    cidrs = raw.get("allowedSourceCidrs")
    if cidrs is None:
        return IngressSettings(), found
    if not isinstance(cidrs, list) or not all(isinstance(c, str) for c in cidrs):
        return IngressSettings(), [*found, f"{KEY}: must be a list of CIDR strings, got {cidrs!r}"]
    return IngressSettings(allowed_source_cidrs=tuple(cidrs), explicit=True), found


def problems(config: StackConfig, settings: IngressSettings) -> list[str]:
    """One line per problem with the allowed source CIDRs."""
    found: list[str] = []
    if not settings.allowed_source_cidrs:
        found.append(f"{KEY}: must list at least one CIDR block (0.0.0.0/0 opens it to everyone)")
    for cidr in settings.allowed_source_cidrs:
        try:
            network = ipaddress.ip_network(cidr)
        except ValueError:
            found.append(f'{KEY}: "{cidr}" is not a CIDR block like 203.0.113.0/24')
            continue
        if network.version != 4:
            found.append(f'{KEY}: "{cidr}" is IPv6; the ingress load balancer is IPv4 only')
    if is_production(config):
        if not settings.explicit:
            found.append(
                f"{KEY}: is required when clusterDeletionProtection is true (a production "
                "stack); list the client networks allowed to call the models"
            )
        elif any(c in OPEN_TO_ALL for c in settings.allowed_source_cidrs):
            found.append(
                f'{KEY}: "0.0.0.0/0" opens a production stack\'s GPUs to the internet; '
                "list the client networks instead"
            )
    return found


def source_ranges(settings: IngressSettings) -> list[str]:
    """`loadBalancerSourceRanges` for the ingress Service (empty: Kubernetes allows everyone)."""
    if tuple(settings.allowed_source_cidrs) == OPEN_TO_ALL:
        return []
    return sorted(set(settings.allowed_source_cidrs), key=_order)


def _order(cidr: str) -> tuple[int, int]:
    network = ipaddress.ip_network(cidr)
    return int(network.network_address), network.prefixlen


def describe(cidrs: Sequence[str]) -> str:
    return ", ".join(cidrs) if cidrs else "everyone (0.0.0.0/0)"
