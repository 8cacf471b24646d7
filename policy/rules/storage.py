"""Storage: the model bucket is private, encrypted, TLS-only and versioned.

pulumi-aws v7 splits a bucket's settings into separate resources that each reference the bucket
(`aws:s3/bucketPublicAccessBlock`, `...ServerSideEncryptionConfiguration`, `...Policy`,
`...Versioning`), so these are stack rules: a bucket passes when a setting resource that
depends on it carries the setting. Dependencies, not the `bucket` id, link them: the id is
unknown during a first preview.

When they report: the engine runs stack rules once every step has run, on each resource's
outputs (pulumi/pulumi:pkg/resource/deploy/step_generator.go@1b59498 `AnalyzeResources`),
at the end of `pulumi preview` and again at the end of `pulumi up` (so `up`'s own preview
refuses before anything is created). A setting whose checked value is unknown at preview (the
bucket policy's JSON holds the bucket's ARN) makes the rule skip with an advisory there; the
rule then reports at the end of `up`, after the resources exist, and fails the update.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import PolicyResource

from .base import (
    ADVISORY,
    MANDATORY,
    StackRule,
    as_list,
    display,
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
]
