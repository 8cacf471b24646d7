"""Storage: the model bucket is private, encrypted, TLS-only, versioned, and kept in production.

pulumi-aws v7 splits a bucket's settings into separate resources that each reference the bucket
(`aws:s3/bucketPublicAccessBlock`, `...ServerSideEncryptionConfiguration`, `...Policy`,
`...Versioning`), so these are stack rules: a bucket passes when a setting resource that
depends on it carries the setting. Dependencies, not the `bucket` id, link them: the id is
unknown during a first preview.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import PolicyResource

from .base import (
    ADVISORY,
    MANDATORY,
    PRODUCTION_STACKS,
    StackRule,
    as_list,
    display,
    is_production,
    policy_document,
    statements,
    truthy,
)

BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
CLUSTER_TYPES = ("eks:index:Cluster", "aws:eks/cluster:Cluster")
PUBLIC_ACCESS_FLAGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)
SSE_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")


def _settings(
    resources: list[PolicyResource], bucket: PolicyResource, typ: str
) -> list[PolicyResource]:
    return [
        r
        for r in resources
        if r.resource_type == typ and any(d.urn == bucket.urn for d in r.dependencies)
    ]


def _per_bucket(
    typ: str, good: Callable[[PolicyResource], bool], missing: str
) -> Callable[[list[PolicyResource], Mapping[str, Any]], list[tuple[str, str]]]:
    def check(resources: list[PolicyResource], config: Mapping[str, Any]) -> list[tuple[str, str]]:
        found = []
        for bucket in resources:
            if bucket.resource_type not in BUCKET_TYPES:
                continue
            if not any(good(s) for s in _settings(resources, bucket, typ)):
                found.append((f"{display(bucket)}: {missing}", bucket.urn))
        return found

    return check


def _blocks_everything(setting: PolicyResource) -> bool:
    return all(truthy(setting.props.get(flag)) for flag in PUBLIC_ACCESS_FLAGS)


def _encrypts(setting: PolicyResource) -> bool:
    for rule in as_list(setting.props.get("rules")):
        default = (rule or {}).get("applyServerSideEncryptionByDefault") or {}
        if default.get("sseAlgorithm") in SSE_ALGORITHMS:
            return True
    return False


def _denies_plain_http(setting: PolicyResource) -> bool:
    for statement in statements(policy_document(setting.props.get("policy"))):
        condition = (statement.get("Condition") or {}).get("Bool") or {}
        if (
            statement.get("Effect") == "Deny"
            and statement.get("Principal") in ("*", {"AWS": "*"})
            and set(as_list(statement.get("Action"))) & {"s3:*", "*"}
            and str(condition.get("aws:SecureTransport", "")).lower() == "false"
        ):
            return True
    return False


def _versioned(setting: PolicyResource) -> bool:
    return (setting.props.get("versioningConfiguration") or {}).get("status") == "Enabled"


def check_retention(
    resources: list[PolicyResource], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """In production, `pulumi destroy` must not delete the model bucket or the cluster.

    `protect` is visible to policies online (`PolicyResourceOptions.protect`); `retainOnDelete`
    is not in pulumi-policy 1.21.0's options, so it counts only where known (the offline plan).
    EKS `deletionProtection` counts for the cluster.
    """
    found = []
    for resource in resources:
        if resource.resource_type not in (*BUCKET_TYPES, *CLUSTER_TYPES):
            continue
        if not is_production(resource.urn, config):
            continue
        kept = resource.opts.protect or getattr(resource, "retain_on_delete", None) is True
        if resource.resource_type in CLUSTER_TYPES:
            kept = kept or truthy(resource.props.get("deletionProtection"))
        if not kept:
            found.append(
                (
                    f"{display(resource)}: a production stack must protect it "
                    "(protect or retainOnDelete; for the cluster also deletionProtection)",
                    resource.urn,
                )
            )
    return found


RULES = [
    StackRule(
        "s3-public-access-blocked",
        "Every S3 bucket has a public access block with all four settings on.",
        MANDATORY,
        _per_bucket(
            PUBLIC_ACCESS_BLOCK,
            _blocks_everything,
            "no BucketPublicAccessBlock with blockPublicAcls, blockPublicPolicy, "
            "ignorePublicAcls and restrictPublicBuckets all true",
        ),
    ),
    StackRule(
        "s3-encrypted",
        "Every S3 bucket has default server-side encryption.",
        MANDATORY,
        _per_bucket(
            ENCRYPTION,
            _encrypts,
            "no BucketServerSideEncryptionConfiguration with an AES256 or aws:kms default",
        ),
    ),
    StackRule(
        "s3-tls-only",
        "Every S3 bucket's policy denies requests without TLS (aws:SecureTransport false).",
        MANDATORY,
        _per_bucket(
            BUCKET_POLICY,
            _denies_plain_http,
            'no BucketPolicy statement denying "s3:*" to "*" when aws:SecureTransport is false',
        ),
    ),
    StackRule(
        "s3-versioned",
        "Every S3 bucket has versioning enabled (an overwritten model can be restored).",
        ADVISORY,
        _per_bucket(VERSIONING, _versioned, "no BucketVersioning with status Enabled"),
    ),
    StackRule(
        "production-retention",
        "In production stacks the bucket and the EKS cluster are protected from deletion.",
        MANDATORY,
        check_retention,
        PRODUCTION_STACKS,
    ),
]
