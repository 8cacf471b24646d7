"""Example values a real deploy must replace: the plan prints them, `deploy_guard placeholders`
lists them (the committed stack files carry the documentation's examples)."""

from __future__ import annotations

import ipaddress

from components.config.model import StackConfig
from components.versions import unpinned_images

# The account id of AWS's documentation examples.
EXAMPLE_ACCOUNT = "123456789012"
# RFC 5737 documentation ranges (TEST-NET-1/2/3): never a real office or CI egress.
DOCUMENTATION_NETWORKS = tuple(
    ipaddress.IPv4Network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
)
# The example organisation of the committed stack files.
EXAMPLE_BUCKET_PREFIX = "acme-"


def placeholder_values(config: StackConfig) -> list[str]:
    """Example values a real deploy must replace, one line each naming the key."""
    found = []
    for arn in config.cluster_admin_arns:
        if f":{EXAMPLE_ACCOUNT}:" in arn:
            found.append(f"clusterAdminArns: {arn} uses the example account {EXAMPLE_ACCOUNT}")
    for key, arn in (
        ("dockerHubCredentialArn", config.docker_hub_credential_arn),
        ("githubCredentialArn", config.github_credential_arn),
    ):
        if f":{EXAMPLE_ACCOUNT}:" in arn:
            found.append(f"{key}: {arn} uses the example account {EXAMPLE_ACCOUNT}")
    if config.image_mirror:
        unpinned = unpinned_images()
        if unpinned:
            found.append(
                f"components/versions.py IMAGE_DIGESTS: {len(unpinned)} images have no pinned "
                "digest yet (pulled by tag until read with `crane digest`, docs/image-mirror.md "
                f'"Pinning digests"): {", ".join(unpinned)}'
            )
    cidrs = [("endpointPublicAccessCidrs", c) for c in config.endpoint_public_access_cidrs]
    cidrs += [("ingress.allowedSourceCidrs", c) for c in config.ingress.allowed_source_cidrs]
    for key, cidr in cidrs:
        network = ipaddress.ip_network(cidr)
        if not isinstance(network, ipaddress.IPv4Network):
            continue
        if any(network.subnet_of(d) for d in DOCUMENTATION_NETWORKS):
            found.append(f"{key}: {cidr} is a documentation range (RFC 5737)")
    if config.model_bucket.name.startswith(EXAMPLE_BUCKET_PREFIX):
        found.append(
            f"modelBucket.name: {config.model_bucket.name} is the example organisation's name; "
            "bucket names are global, pick your own"
        )
    return found
