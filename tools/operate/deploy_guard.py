"""What `make destroy` and `make plan` must say before a real deploy or teardown.

    python -m tools.operate.deploy_guard destroy --stack prod [--allow-protected]
    python -m tools.operate.deploy_guard placeholders --stack prod

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
import sys
from collections.abc import Sequence

from components.config.model import StackConfig
from tools.plan.placeholders import placeholder_values
from tools.plan.stack_config import add_stack_arguments, load_config_for_tool

PROTECTED_EXIT = 3


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
            "the EKS cluster with what it depends on (the VPC and its subnets, the KMS key and "
            "the control-plane log group; the NAT gateways, route tables and endpoints go)"
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.operate.deploy_guard", description=__doc__
    )
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
