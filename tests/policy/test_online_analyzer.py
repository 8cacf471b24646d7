"""The pack through pulumi-policy's own analyzer servicer, fed what the Pulumi engine sends.

tools/plan/policy_feed.py shapes the requests as the engine does (pulumi/pulumi@1b59498
pkg/resource/plugin/analyzer_plugin.go, step_generator.go): `Analyze` gets inputs, with
pulumi-eks's components as props {} and their children synthesized from the component's
inputs the way pulumi-eks creates them (tools/plan/pulumi_eks_children.py); `AnalyzeStack` gets
outputs, parents and dependencies; references arrive as IDs, secrets wrapped; the preview
variant is the program rendered with every ID and computed output unknown. The servicer
deserializes, wraps values in its unknown-checking proxies and applies policy config exactly as
under `pulumi preview --policy-pack policy`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from google.protobuf import json_format

from tests.policy.support import mutate, record
from tools.plan.policy_feed import Diagnostic, EngineResource, analyze, engine_resources, to_struct
from tools.plan.render import SECRET_SIG, SIG_KEY, UNKNOWN

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
PREVIEW_SKIP = "during preview: "


def run(
    document: Mapping[str, Any], preview: bool = False, config: Mapping[str, Any] | None = None
) -> list[Diagnostic]:
    return analyze(engine_resources(document, preview), config)


def mandatory(diagnostics: list[Diagnostic]) -> list[tuple[str, str]]:
    return [(d.policy, d.message.split("\n", 1)[1]) for d in diagnostics if d.level == "mandatory"]


def one(resources: list[EngineResource], typ: str) -> EngineResource:
    found = [r for r in resources if r.type == typ]
    assert len(found) == 1, f"{typ}: {len(found)}"
    return found[0]


@pytest.mark.parametrize("stack", ["dev", "prod", "dev_staging", "dev_node_group"])
def test_committed_stacks_pass_as_up_feeds_them(stack: str, request: pytest.FixtureRequest) -> None:
    """No diagnostic at all on the outputs `pulumi up` would hand the stack rules."""
    assert run(request.getfixturevalue(stack)) == []


@pytest.mark.parametrize("stack", ["dev_preview", "prod_preview"])
def test_committed_stacks_pass_a_first_preview(stack: str, request: pytest.FixtureRequest) -> None:
    """At a first preview nothing is mandatory; what reads a value not known yet is skipped
    by the SDK with an advisory (the IAM documents hold ARNs, the bucket policy its bucket)."""
    found = run(request.getfixturevalue(stack), preview=True)
    assert mandatory(found) == []
    assert found and all(PREVIEW_SKIP in d.message for d in found)
    assert {d.policy for d in found} == {
        "iam-no-wildcard-admin",
        "iam-reader-read-only",
        "iam-trust-pinned",
        # The EC2NodeClass's restored image volume names a snapshot that does not exist yet
        # (issue 23); `pulumi up` checks it with the id known (test above).
        "nodes-encrypted-volumes",
        "s3-tls-only",
    }


def test_pulumi_eks_components_arrive_empty_with_their_children(prod: dict[str, Any]) -> None:
    """The shapes the rules now read: {} for the components, the data on the children."""
    resources = engine_resources(prod)
    assert one(resources, "eks:index:Cluster").inputs == {}
    assert {r.inputs == {} for r in resources if r.type == "eks:index:ManagedNodeGroup"} == {True}
    cluster = one(resources, EKS_CLUSTER)
    assert cluster.name == "cluster-eks-eksCluster"
    assert cluster.urn == (
        "urn:pulumi:prod::kserve-fluid::kserve-fluid:cluster:Cluster$eks:index:Cluster"
        "$aws:eks/cluster:Cluster::cluster-eks-eksCluster"
    )
    assert cluster.protect is True
    assert cluster.inputs["deletionProtection"] is True
    assert cluster.inputs["vpcConfig"]["publicAccessCidrs"] == [
        "203.0.113.0/24",
        "198.51.100.10/32",
    ]
    group = one(resources, NODE_GROUP)
    assert group.parent == record(prod, "eks:index:ManagedNodeGroup", "cluster-data")["urn"]
    assert group.inputs["launchTemplate"] == {"id": "cluster-data-lt-id", "version": "1"}
    assert "cluster" not in group.inputs and "nodeRole" not in group.inputs


def test_references_are_ids_and_unknown_in_a_first_preview(
    dev: dict[str, Any], dev_preview: dict[str, Any]
) -> None:
    up = one(engine_resources(dev), "aws:s3/bucketPolicy:BucketPolicy")
    assert up.inputs["bucket"] == "models-bucket-id"
    preview = engine_resources(dev_preview, preview=True)
    assert one(preview, "aws:s3/bucketPolicy:BucketPolicy").inputs["bucket"] == UNKNOWN
    assert one(preview, NODE_GROUP).inputs["launchTemplate"]["id"] == UNKNOWN


def test_imdsv1_launch_template_is_refused(prod: dict[str, Any]) -> None:
    broken = mutate(
        prod,
        lambda d: record(d, LAUNCH_TEMPLATE, "cluster-data-lt")["inputs"]["metadataOptions"].update(
            httpTokens="optional"
        ),
    )
    assert mandatory(run(broken)) == [
        (
            "nodes-imdsv2-hop-limit",
            "aws:ec2/launchTemplate:LaunchTemplate cluster-data-lt: metadataOptions.httpTokens "
            "is 'optional', not \"required\"",
        )
    ]


@pytest.mark.parametrize("preview", [False, True])
def test_node_class_with_hop_limit_two_is_refused(
    preview: bool, dev: dict[str, Any], dev_preview: dict[str, Any]
) -> None:
    """Also at a first preview: only the role is unknown in the spec, so the refusal comes
    before anything is created."""
    document = dev_preview if preview else dev
    broken = mutate(
        document,
        lambda d: record(d, NODE_CLASS)["inputs"]["spec"]["metadataOptions"].update(
            httpPutResponseHopLimit=2
        ),
    )
    assert mandatory(run(broken, preview)) == [
        (
            "nodes-imdsv2-hop-limit",
            f"{NODE_CLASS} gpu-node-class: metadataOptions.httpPutResponseHopLimit is 2, above 1",
        )
    ]


@pytest.mark.parametrize("preview", [False, True])
def test_open_endpoint_on_the_prod_cluster_child_is_refused(
    preview: bool, prod: dict[str, Any], prod_preview: dict[str, Any]
) -> None:
    document = prod_preview if preview else prod
    broken = mutate(
        document,
        lambda d: record(d, "eks:index:Cluster")["inputs"].update(publicAccessCidrs=["0.0.0.0/0"]),
    )
    assert mandatory(run(broken, preview)) == [
        (
            "eks-endpoint-restricted",
            "aws:eks/cluster:Cluster cluster-eks-eksCluster: the public API endpoint is open to "
            "the internet; set vpcConfig.publicAccessCidrs to known ranges",
        )
    ]


def test_node_group_without_our_launch_template_is_refused_on_the_child(
    dev: dict[str, Any],
) -> None:
    broken = mutate(
        dev, lambda d: record(d, "eks:index:ManagedNodeGroup")["inputs"].pop("launchTemplate")
    )
    assert mandatory(run(broken)) == [
        (
            "nodes-imdsv2-hop-limit",
            "aws:eks/nodeGroup:NodeGroup cluster-data: no launchTemplate of ours (IMDSv2)",
        )
    ]


def test_unprotected_prod_cluster_is_refused_at_preview(prod_preview: dict[str, Any]) -> None:
    """production-retention is a resource rule: `protect` and deletionProtection reach it in
    `Analyze`, so a preview refuses."""

    def unprotect(d: dict[str, Any]) -> None:
        cluster = record(d, "eks:index:Cluster")
        cluster["protect"] = False
        cluster["inputs"]["deletionProtection"] = False

    assert mandatory(run(mutate(prod_preview, unprotect), preview=True)) == [
        (
            "production-retention",
            "aws:eks/cluster:Cluster cluster-eks-eksCluster: a production stack must protect it "
            "(protect or retainOnDelete; for the cluster also deletionProtection)",
        )
    ]


def test_stack_config_lowers_or_disables_a_rule(prod: dict[str, Any]) -> None:
    broken = mutate(
        prod,
        lambda d: record(d, LAUNCH_TEMPLATE, "cluster-data-lt")["inputs"]["metadataOptions"].update(
            httpPutResponseHopLimit=2
        ),
    )
    lowered = run(broken, config={"nodes-imdsv2-hop-limit": "advisory"})
    assert [(d.policy, d.level) for d in lowered] == [("nodes-imdsv2-hop-limit", "advisory")]
    assert run(broken, config={"nodes-imdsv2-hop-limit": "disabled"}) == []
    assert run(broken, config={"nodes-imdsv2-hop-limit": {"maxHopLimit": 2}}) == []


def test_list_valued_rules_see_proxied_lists(prod: dict[str, Any]) -> None:
    """Online lists are `_ListProxy`: the restricted profile's capability list still counts."""
    broken = mutate(
        prod,
        lambda d: record(d, "kubernetes:batch/v1:Job", "wait-for-kserve-webhook")["inputs"]["spec"][
            "template"
        ]["spec"]["containers"][0]["securityContext"]["capabilities"].update(drop=["NET_RAW"]),
    )
    assert mandatory(run(broken)) == [
        (
            "workloads-restricted",
            "kubernetes:batch/v1:Job wait-for-kserve-webhook: container wait: capabilities.drop "
            "does not contain ALL",
        )
    ]


def test_secret_wrapped_inputs_pass(dev: dict[str, Any]) -> None:
    """The Secret's stringData arrives secret-wrapped; the SDK unwraps it before the rule runs,
    so only the dependency half of secrets-stay-secret applies online."""
    secret = one(engine_resources(dev), "kubernetes:core/v1:Secret")

    wrapped = json_format.MessageToDict(to_struct(secret.inputs))["stringData"]
    assert wrapped[SIG_KEY] == SECRET_SIG
    assert run(dev) == []


def test_a_stack_rule_reading_an_unknown_defers_to_up(prod: dict[str, Any]) -> None:
    """A stack rule that reads a value unknown at preview is skipped with an advisory; at the
    end of `pulumi up` it runs on the real value."""
    unknown = mutate(
        prod,
        lambda d: record(d, "aws:s3/bucketPolicy:BucketPolicy")["inputs"].update(policy=UNKNOWN),
    )
    found = run(unknown)
    assert [(d.policy, d.level) for d in found] == [("s3-tls-only", "advisory")]
    assert "can't run policy 's3-tls-only'" in found[0].message
    assert "during preview: string value at .policy can't be known during preview" in (
        found[0].message
    )
