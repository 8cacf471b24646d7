"""IAM policy documents as pure functions, so tests can read exactly what is granted."""

from __future__ import annotations

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


def irsa_trust_policy(
    oidc_provider_arn: str, oidc_provider_url: str, namespace: str, service_account: str
) -> dict[str, Any]:
    """Trust one Kubernetes service account (sub and aud both pinned) through the cluster's OIDC."""
    issuer = oidc_provider_url.removeprefix("https://")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": oidc_provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{issuer}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ],
    }
