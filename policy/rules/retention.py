"""Retention: in production, `pulumi destroy` must not delete the model bucket or the cluster.

A resource rule: `protect` arrives with every `Analyze` request
(`AnalyzerResourceOptions.protect`), so a preview refuses an unprotected production bucket or
cluster before anything is created. `retainOnDelete` is not among pulumi-policy 1.21.0's
options, so it counts only where known (the offline plan, policy/rules/plan_adapter.py). For the
cluster, EKS `deletionProtection` counts too; online it is on pulumi-eks's
`aws:eks/cluster:Cluster` child (the `eks:index:Cluster` component arrives with props {},
tools/plan/policy_feed.py), which inherits the component's `protect`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs

from .base import MANDATORY, PRODUCTION_STACKS, ResourceRule, display, is_production, truthy

BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
CLUSTER_COMPONENT = "eks:index:Cluster"
CLUSTER_TYPES = (CLUSTER_COMPONENT, "aws:eks/cluster:Cluster")


def check_retention(args: ResourceValidationArgs, config: Mapping[str, Any]) -> list[str]:
    typ = args.resource_type
    if typ not in (*BUCKET_TYPES, *CLUSTER_TYPES) or not is_production(args.urn, config):
        return []
    if typ == CLUSTER_COMPONENT and not args.props:
        return []
    kept = bool(args.opts.protect) or getattr(args, "retain_on_delete", None) is True
    if typ in CLUSTER_TYPES:
        kept = kept or truthy(args.props.get("deletionProtection"))
    if kept:
        return []
    return [
        f"{display(args)}: a production stack must protect it "
        "(protect or retainOnDelete; for the cluster also deletionProtection)"
    ]


RULES = [
    ResourceRule(
        "production-retention",
        "In production stacks the bucket and the EKS cluster are protected from deletion.",
        MANDATORY,
        check_retention,
        PRODUCTION_STACKS,
    ),
]
