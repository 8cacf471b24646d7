"""Who may assume a role: the trust documents more than one layer's roles use.

Pure functions, so tests read exactly what is trusted (the layers' own permission documents
live beside their components: storage/iam.py, karpenter/iam.py, images/copy_job.py).
"""

from __future__ import annotations

from typing import Any


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


def node_role_trust() -> dict[str, Any]:
    """EC2 instances (Karpenter's GPU nodes) assume the node role; nothing else."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
