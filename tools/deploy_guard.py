"""What `make destroy` and `make plan` must say before a real deploy or teardown.

    python -m tools.deploy_guard destroy --stack prod [--allow-protected]
    python -m tools.deploy_guard placeholders --stack prod

`destroy` exits 3 for a stack whose config turns Pulumi's `protect` on, unless asked explicitly.
A plain `pulumi destroy` of such a stack deletes nothing: it previews first, and in the preview
the delete step of a protected resource already fails (pulumi/pulumi:pkg/resource/deploy/
step.go@v3.259.0, `DeleteStep.Apply` returns deleteProtectedError before its dry-run branch;
pkg/backend/apply.go then returns without running the update). Asked explicitly, `make
destroy` runs `pulumi destroy --exclude-protected`, which leaves out every protected resource
and everything it depends on (pkg/cmd/pulumi/operations/destroy.go@v3.259.0
`getProtectedExcludes`: the transitive dependencies, parents included) and deletes the rest.
`placeholders` lists the example values a stack file still holds (the plan prints them too).
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Sequence

from components.config import StackConfig
from tools.stack_config import add_stack_arguments, load_config_for_tool

PROTECTED_EXIT = 3
# The account id of AWS's documentation examples.
EXAMPLE_ACCOUNT = "123456789012"
# RFC 5737 documentation ranges (TEST-NET-1/2/3): never a real office or CI egress.
DOCUMENTATION_NETWORKS = tuple(
    ipaddress.IPv4Network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
)
# The example organisation of the committed stack files.
EXAMPLE_BUCKET_PREFIX = "acme-"


def protected_resources(config: StackConfig) -> list[str]:
    """What the config protects, one phrase each."""
    protected = []
    if config.cluster_deletion_protection:
        protected.append("the EKS cluster (clusterDeletionProtection)")
    if config.model_bucket.protect:
        protected.append("the model bucket (modelBucket.protect)")
    return protected


def destroy_refusal(stack: str, config: StackConfig) -> list[str]:
    """The lines `make destroy` prints for a protected stack; empty when nothing is protected."""
    protected = protected_resources(config)
    if not protected:
        return []
    stays = []
    if config.cluster_deletion_protection:
        stays.append(
            "the EKS cluster with what it depends on (the VPC component, the KMS key and the "
            "control-plane log group; the VPC's subnets and gateways are its children, not "
            "dependencies, so their deletes fail while the cluster holds them: expected errors)"
        )
    if config.model_bucket.protect:
        stays.append("the model bucket and its settings")
    return [
        f"make destroy: stack {stack} protects {' and '.join(protected)}.",
        "A plain `pulumi destroy` would delete nothing: its preview fails on the first "
        "protected resource.",
        "To tear the stack down completely: set those keys to false, run `make up`, then "
        "`make destroy`.",
        f"To delete the unprotected part on purpose: make destroy STACK={stack} "
        "ALLOW_PROTECTED=yes (pulumi destroy --exclude-protected). It deletes the node "
        "groups, Helm releases, InferenceServices, image mirror and IAM roles; what stays: "
        f"{'; '.join(stays)}.",
    ]


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
        from components.versions import unpinned_images

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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.deploy_guard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    destroy = commands.add_parser("destroy", help="refuse to destroy a protected stack")
    add_stack_arguments(destroy)
    destroy.add_argument("--allow-protected", action="store_true", help="destroy anyway")
    placeholders = commands.add_parser("placeholders", help="list example values to replace")
    add_stack_arguments(placeholders)
    args = parser.parse_args(argv)
    config = load_config_for_tool("deploy_guard", args.stack, args.stack_file)
    if config is None:
        return 2
    if args.command == "placeholders":
        for line in placeholder_values(config):
            print(f"placeholder: {line}")
        return 0
    refusal = destroy_refusal(args.stack, config)
    if refusal and not args.allow_protected:
        print("\n".join(refusal), file=sys.stderr)
        return PROTECTED_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main())
