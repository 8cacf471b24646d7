"""Who may reach the ingress load balancer: config key `ingressSourceRanges` (issue 15).

A list of CIDR blocks rendered as the gateway Service's `loadBalancerSourceRanges` (the Istio
gateway chart's `service.loadBalancerSourceRanges`, istio/istio:manifests/charts/gateway/
values.yaml@1.29.2); empty keeps the chart default, open to 0.0.0.0/0, which the policy rule
`ingress-restricted` refuses in production stacks. Its own small module until the typed config
(issue 9) can declare the key.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from components.config import ConfigError

KEY = "ingressSourceRanges"


@dataclass(frozen=True)
class IngressAccess:
    source_ranges: tuple[str, ...] = ()


def parse_ingress_access(raw: Any) -> IngressAccess:
    """Validate the key's value; one problem line per bad entry."""
    if raw is None:
        return IngressAccess()
    if not isinstance(raw, list):
        raise ConfigError([f"{KEY}: {raw!r} must be a list of CIDR blocks like 203.0.113.0/24"])
    problems = []
    for cidr in raw:
        try:
            ipaddress.ip_network(str(cidr))
        except ValueError:
            problems.append(f"{KEY}: {cidr!r} is not a CIDR block like 203.0.113.0/24")
    if problems:
        raise ConfigError(problems)
    return IngressAccess(tuple(str(c) for c in raw))


def load_ingress_access() -> IngressAccess:
    import pulumi

    return parse_ingress_access(pulumi.Config().get_object(KEY))
