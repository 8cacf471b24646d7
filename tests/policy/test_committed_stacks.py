"""Every rule passes on the offline plan of each committed stack (and of dev with staging)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.policy.support import ALL_RULES, violations

RULE_NAMES = [r.name for r in ALL_RULES]


@pytest.mark.parametrize("name", RULE_NAMES)
def test_dev_passes(dev: dict[str, Any], name: str) -> None:
    assert violations(name, dev) == []


@pytest.mark.parametrize("name", RULE_NAMES)
def test_prod_passes(prod: dict[str, Any], name: str) -> None:
    assert violations(name, prod) == []


@pytest.mark.parametrize("name", RULE_NAMES)
def test_dev_with_gpu_node_group_passes(dev_node_group: dict[str, Any], name: str) -> None:
    assert violations(name, dev_node_group) == []


@pytest.mark.parametrize("name", RULE_NAMES)
def test_dev_with_staging_passes(dev_staging: dict[str, Any], name: str) -> None:
    assert violations(name, dev_staging) == []


def test_the_plans_hold_what_the_rules_check(
    dev: dict[str, Any], prod: dict[str, Any], dev_staging: dict[str, Any]
) -> None:
    """A rule passing on a plan without its resources would prove nothing."""
    for document in (dev, prod):
        types = {r["type"] for r in document["resources"]}
        assert {
            "aws:s3/bucket:Bucket",
            "aws:ec2/launchTemplate:LaunchTemplate",
            "eks:index:ManagedNodeGroup",
            "aws:iam/policy:Policy",
            "aws:iam/role:Role",
            "aws:iam/accessKey:AccessKey",
            "kubernetes:core/v1:Secret",
            "kubernetes:batch/v1:Job",
            "kubernetes:helm.sh/v3:Release",
            "kubernetes:data.fluid.io/v1alpha1:Dataset",
            "aws:ec2/vpc:Vpc",
            "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass",
            "kubernetes:karpenter.sh/v1:NodePool",
            "aws:eks/podIdentityAssociation:PodIdentityAssociation",
        } <= types
    jobs = [r["name"] for r in dev_staging["resources"] if r["type"] == "kubernetes:batch/v1:Job"]
    assert {"llama-31-8b-instruct-staging", "wait-for-kserve-webhook"} <= set(jobs)
