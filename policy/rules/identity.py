"""Identity: no admin wildcards, a read-only model reader, and web-identity trust pinned to one
service account.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs

from .base import MANDATORY, ResourceRule, as_list, display, policy_document, statements

ROLE = "aws:iam/role:Role"
POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
POLICY = "aws:iam/policy:Policy"
# Each type with the properties holding a policy document.
POLICY_DOCUMENTS: dict[str, tuple[str, ...]] = {
    POLICY: ("policy",),
    "aws:iam/rolePolicy:RolePolicy": ("policy",),
    "aws:iam/userPolicy:UserPolicy": ("policy",),
    "aws:iam/groupPolicy:GroupPolicy": ("policy",),
    ROLE: ("assumeRolePolicy",),
}
_OBJECT_ARN = re.compile(r"^arn:aws[a-z-]*:s3:::[^/*]+/(?P<prefix>.+)$")
_BUCKET_ARN = re.compile(r"^arn:aws[a-z-]*:s3:::[^/*]+$")
_SERVICE_ACCOUNT = re.compile(r"^system:serviceaccount:[a-z0-9-]+:[a-z0-9.-]+$")

READER = {
    "readerPolicies": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["models-read-models"],
        "description": "Names of the IAM policies that grant the model readers their access.",
    }
}


def _documents(args: ResourceValidationArgs) -> Iterator[tuple[str, dict[str, Any]]]:
    for prop in POLICY_DOCUMENTS.get(args.resource_type, ()):
        yield prop, policy_document(args.props.get(prop))
    if args.resource_type == ROLE:
        for index, inline in enumerate(as_list(args.props.get("inlinePolicies"))):
            yield f"inlinePolicies[{index}]", policy_document((inline or {}).get("policy"))


def check_no_wildcard_admin(args: ResourceValidationArgs, config: Mapping[str, Any]) -> list[str]:
    found = []
    for prop, document in _documents(args):
        for statement in statements(document):
            actions = set(as_list(statement.get("Action")))
            resources = set(as_list(statement.get("Resource")))
            if statement.get("Effect") == "Allow" and actions & {"*", "*:*"} and "*" in resources:
                found.append(f'{display(args)}: {prop} allows action "*" on resource "*"')
    return found


def check_reader_read_only(args: ResourceValidationArgs, config: Mapping[str, Any]) -> list[str]:
    """The model readers may list the bucket and get objects under a model prefix, nothing more."""
    if args.resource_type != POLICY or args.name not in set(config.get("readerPolicies") or []):
        return []
    found = []
    for statement in statements(policy_document(args.props.get("policy"))):
        if statement.get("Effect") != "Allow":
            continue
        for action in as_list(statement.get("Action")):
            resources = as_list(statement.get("Resource"))
            if action == "s3:GetObject":
                for arn in resources:
                    match = _OBJECT_ARN.match(str(arn))
                    if not match or match.group("prefix").startswith("*"):
                        found.append(
                            f"{display(args)}: s3:GetObject on {arn!r} is not a model prefix"
                        )
            elif action == "s3:ListBucket":
                for arn in resources:
                    if not _BUCKET_ARN.match(str(arn)):
                        found.append(f"{display(args)}: s3:ListBucket on {arn!r} is not one bucket")
            else:
                found.append(
                    f"{display(args)}: {action!r} is not a read of the model prefixes "
                    "(allowed: s3:GetObject, s3:ListBucket)"
                )
    return found


def check_trust_pinned(args: ResourceValidationArgs, config: Mapping[str, Any]) -> list[str]:
    """A role assumed with an OIDC web identity names one service account and the STS audience.

    EKS IRSA: the trust policy's `<issuer>:sub` is `system:serviceaccount:<ns>:<name>` and
    `<issuer>:aud` is `sts.amazonaws.com` (aws/aws-eks-best-practices iam.adoc "scope the IAM
    role trust policy for IRSA roles to the service account name"). Pod Identity pins the service
    account in `aws:eks/podIdentityAssociation`, whose namespace and serviceAccount are required.
    """
    if args.resource_type == POD_IDENTITY:
        namespace = str(args.props.get("namespace") or "")
        account = str(args.props.get("serviceAccount") or "")
        if not namespace or not account or "*" in namespace + account:
            return [f"{display(args)}: not pinned to one namespace and service account"]
        return []
    if args.resource_type != ROLE:
        return []
    found = []
    for statement in statements(policy_document(args.props.get("assumeRolePolicy"))):
        if "sts:AssumeRoleWithWebIdentity" not in as_list(statement.get("Action")):
            continue
        if statement.get("Effect") != "Allow":
            continue
        equals = (statement.get("Condition") or {}).get("StringEquals") or {}
        subjects = [v for k, v in equals.items() if k.endswith(":sub")]
        audiences = [v for k, v in equals.items() if k.endswith(":aud")]
        if len(subjects) != 1 or not _SERVICE_ACCOUNT.match(str(subjects[0])):
            found.append(
                f"{display(args)}: web-identity trust is not pinned to one service account "
                "(StringEquals <issuer>:sub = system:serviceaccount:<namespace>:<name>)"
            )
        if audiences != ["sts.amazonaws.com"]:
            found.append(
                f"{display(args)}: web-identity trust lacks StringEquals "
                '<issuer>:aud = "sts.amazonaws.com"'
            )
    return found


RULES = [
    ResourceRule(
        "iam-no-wildcard-admin",
        'No IAM policy allows action "*" on resource "*".',
        MANDATORY,
        check_no_wildcard_admin,
    ),
    ResourceRule(
        "iam-reader-read-only",
        "The model readers' policy only lists the bucket and reads objects under model prefixes.",
        MANDATORY,
        check_reader_read_only,
        READER,
    ),
    ResourceRule(
        "iam-trust-pinned",
        "Roles assumed through the cluster's OIDC provider trust one service account only.",
        MANDATORY,
        check_trust_pinned,
    ),
]
