"""Storage rules: each fails on its own mutation of the committed plans, with its message."""

from __future__ import annotations

import json
from typing import Any

from tests.policy.support import add_record, mutate, record, violations

BUCKET = "aws:s3/bucket:Bucket"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
CLUSTER = "eks:index:Cluster"


def test_public_access_block_must_block_everything(dev: dict[str, Any]) -> None:
    broken = mutate(dev, lambda d: record(d, PAB)["inputs"].update(ignorePublicAcls=False))
    assert violations("s3-public-access-blocked", broken) == [
        f"{BUCKET} models-bucket: no BucketPublicAccessBlock with blockPublicAcls, "
        "blockPublicPolicy, ignorePublicAcls and restrictPublicBuckets all true"
    ]


def test_public_access_block_must_belong_to_the_bucket(dev: dict[str, Any]) -> None:
    """A block that does not depend on the bucket does not count for it."""
    broken = mutate(dev, lambda d: record(d, PAB).update(dependencies=[]))
    assert len(violations("s3-public-access-blocked", broken)) == 1


def test_bucket_must_be_encrypted(dev: dict[str, Any]) -> None:
    broken = mutate(dev, lambda d: d["resources"].remove(record(d, SSE)))
    assert violations("s3-encrypted", broken) == [
        f"{BUCKET} models-bucket: no BucketServerSideEncryptionConfiguration with an AES256 "
        "or aws:kms default"
    ]


def test_bucket_policy_must_deny_plain_http(dev: dict[str, Any]) -> None:
    def allow_http(document: dict[str, Any]) -> None:
        policy = record(document, POLICY)["inputs"]
        parsed = json.loads(policy["policy"])
        parsed["Statement"][0]["Condition"]["Bool"]["aws:SecureTransport"] = "true"
        policy["policy"] = json.dumps(parsed)

    assert violations("s3-tls-only", mutate(dev, allow_http)) == [
        f'{BUCKET} models-bucket: no BucketPolicy statement denying "s3:*" to "*" when '
        "aws:SecureTransport is false"
    ]


def test_bucket_must_be_versioned(dev: dict[str, Any]) -> None:
    broken = mutate(
        dev,
        lambda d: record(d, VERSIONING)["inputs"].update(
            versioningConfiguration={"status": "Suspended"}
        ),
    )
    assert violations("s3-versioned", broken) == [
        f"{BUCKET} models-bucket: no BucketVersioning with status Enabled"
    ]


def test_production_bucket_must_be_kept(prod: dict[str, Any]) -> None:
    broken = mutate(prod, lambda d: record(d, BUCKET).update(protect=False, retainOnDelete=False))
    assert violations("production-retention", broken) == [
        f"{BUCKET} models-bucket: a production stack must protect it (protect or "
        "retainOnDelete; for the cluster also deletionProtection)"
    ]


def test_production_cluster_must_be_kept(prod: dict[str, Any]) -> None:
    def unprotect(document: dict[str, Any]) -> None:
        cluster = record(document, CLUSTER)
        cluster["protect"] = False
        cluster["inputs"]["deletionProtection"] = False

    assert violations("production-retention", mutate(prod, unprotect)) == [
        f"{CLUSTER} cluster-eks: a production stack must protect it (protect or "
        "retainOnDelete; for the cluster also deletionProtection)"
    ]


def test_either_protection_is_enough(prod: dict[str, Any]) -> None:
    """protect alone, retainOnDelete alone, or EKS deletionProtection alone keeps a resource."""
    only_retain = mutate(prod, lambda d: record(d, BUCKET).update(protect=False))
    only_flag = mutate(prod, lambda d: record(d, CLUSTER).update(protect=False))
    assert violations("production-retention", only_retain) == []
    assert violations("production-retention", only_flag) == []


def test_retention_applies_to_the_stacks_named_in_config(dev: dict[str, Any]) -> None:
    """dev keeps nothing; naming it a production stack in policy config makes that a failure."""
    assert violations("production-retention", dev) == []
    assert len(violations("production-retention", dev, {"productionStacks": ["dev"]})) == 2


def test_online_cluster_child_shape(prod: dict[str, Any]) -> None:
    """Online, the aws:eks/cluster:Cluster child of pulumi-eks's component is checked too; its
    `deletionProtection` (pulumi-aws schema) or `protect` keeps it."""

    def child(protected: bool) -> dict[str, Any]:
        return mutate(
            prod,
            lambda d: add_record(
                d,
                "aws:eks/cluster:Cluster",
                "cluster-eks-eksCluster",
                {"deletionProtection": protected},
                parent=record(d, CLUSTER)["urn"],
            ),
        )

    assert violations("production-retention", child(True)) == []
    assert violations("production-retention", child(False)) == [
        "aws:eks/cluster:Cluster cluster-eks-eksCluster: a production stack must protect it "
        "(protect or retainOnDelete; for the cluster also deletionProtection)"
    ]
