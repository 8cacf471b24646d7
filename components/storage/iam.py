"""IAM policy documents as pure functions, so tests can read exactly what is granted."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

READ_ACTIONS = ("s3:GetObject",)
WRITE_ACTIONS = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)


def model_prefix_policy(
    bucket_arn: str, prefixes: Sequence[str], object_actions: Sequence[str]
) -> dict[str, Any]:
    """Listing of the model bucket and `object_actions` on the models' prefixes, nothing else.

    ListBucket is granted on the whole bucket, which holds only models: S3 answers a GET or
    HEAD of a missing key with 403 instead of 404 unless the caller may list the bucket, and
    such requests carry no `s3:prefix` to match a prefix condition against. Staging reads its
    manifest before the first upload, and readers probe keys that may not exist.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListModelBucket",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": bucket_arn,
            },
            {
                "Sid": "ModelObjects",
                "Effect": "Allow",
                "Action": list(object_actions),
                "Resource": [f"{bucket_arn}/{prefix}/*" for prefix in prefixes],
            },
        ],
    }


def model_read_policy(bucket_arn: str, prefixes: Sequence[str]) -> dict[str, Any]:
    """Read-only: list the model bucket and get objects under the models' prefixes."""
    return model_prefix_policy(bucket_arn, prefixes, READ_ACTIONS)


def tls_only_bucket_policy(bucket_arn: str) -> dict[str, Any]:
    """Deny every request to the bucket that does not use TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def staging_iam_policy(
    bucket: str, prefixes: list[str] | tuple[str, ...], *, partition: str = "aws"
) -> dict[str, Any]:
    """IAM policy for the staging role: list the model bucket, and read/write objects
    (including multipart uploads) only under ``bucket/<prefix>/*``. Nothing else: no delete,
    no other bucket."""
    if not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", bucket):
        raise ValueError(f"bucket: {bucket!r} is not a valid S3 bucket name")
    cleaned = [p.strip("/") for p in prefixes]
    bad = [p for p in prefixes if not p.strip("/") or any(c in p for c in "*?")]
    if not cleaned or bad:
        raise ValueError(f"prefixes: {list(prefixes)!r}; give non-empty prefixes without * or ?")
    unique = sorted(set(cleaned))
    return model_prefix_policy(f"arn:{partition}:s3:::{bucket}", unique, WRITE_ACTIONS)
