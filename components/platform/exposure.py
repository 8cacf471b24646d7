"""Who may reach the ingress load balancer: the NLB's allowed source CIDRs.

The ingress is internet-facing and plain HTTP; without a source limit anyone can spend the GPUs.
Kubernetes takes a LoadBalancer Service's source ranges from `spec.loadBalancerSourceRanges`, or,
when that is empty, from the `service.beta.kubernetes.io/load-balancer-source-ranges` annotation
(kubernetes/cloud-provider:service/helpers/helper.go `GetLoadBalancerSourceRanges`, which the AWS
cloud provider uses for the NLB's security rules). `ingress.allowedSourceCidrs` is validated in
components/config/model.py (IPv4 only; required, and never 0.0.0.0/0, on a production stack).
"""

from __future__ import annotations

import ipaddress

from components.config.model import StackConfig


def source_ranges(config: StackConfig) -> list[str]:
    """`loadBalancerSourceRanges` for the ingress Service (empty: Kubernetes allows everyone)."""
    networks = {ipaddress.ip_network(cidr) for cidr in config.ingress.allowed_source_cidrs}
    if any(network.prefixlen == 0 for network in networks):
        return []
    return [str(network) for network in sorted(networks)]
