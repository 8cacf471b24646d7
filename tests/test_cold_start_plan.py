"""The image snapshot, Fast Snapshot Restore and warm slots in the offline plan: what exists in
which configuration, what waits for what, and what `make plan` prints."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from components.image_mirror import GPU_PATH_IMAGES
from components.karpenter.builder_script import BUILDER_TAG, RESULT_TAG
from tests.plan_support import NODE_POOL, Plan, render

SNAPSHOT = "pulumi-python:dynamic/kserve-fluid:ImageSnapshot"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
FSR = "aws:ebs/fastSnapshotRestore:FastSnapshotRestore"
JOB = "kubernetes:batch/v1:Job"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
ZONES = ["eu-central-1a", "eu-central-1b"]


@pytest.fixture(scope="module")
def fast_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    """dev with Fast Snapshot Restore in two zones and one warm slot."""
    return render(
        tmp_path_factory.mktemp("plan-fast"),
        stack="dev",
        sets={
            "gpuNodes": {
                "gpuLimit": 3,
                "coldStart": {"fastSnapshotRestoreZones": ZONES, "warmSlots": 1},
            }
        },
    )


@pytest.fixture(scope="module")
def mirror_off_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return render(tmp_path_factory.mktemp("plan-off"), stack="dev", sets={"imageMirror": False})


def image_mapping(plan: Plan) -> dict[str, Any] | None:
    mappings = plan.one(NODE_CLASS)["inputs"]["spec"]["blockDeviceMappings"]
    return next((m for m in mappings if m["deviceName"] == "/dev/xvdb"), None)


def test_dev_builds_the_snapshot_after_every_gpu_image_is_in_ecr(dev_plan: Plan) -> None:
    snapshot = dev_plan.one(SNAPSHOT)
    # The copy Job of every image the snapshot bakes that the mirror copies (`.../copy/<upstream>`);
    # the data nodes' and the Knative control plane's copies are not on the GPU path.
    copied = [
        re.split(r"[:@]", image.split("/copy/", 1)[1], maxsplit=1)[0]
        for image in snapshot["inputs"]["images"]
        if "/copy/" in image
    ]
    copies = {job["name"]: job for job in dev_plan.of_type(JOB)}
    assert copied, "dev copies GPU images (no Docker Hub credential)"
    for upstream in copied:
        job = copies["images-copy-" + upstream.replace("/", "-")]
        assert dev_plan.depends_on(snapshot, job), job["name"]
    inputs = snapshot["inputs"]
    assert inputs["volumeGiB"] == 100
    assert inputs["amiParameter"] == (
        "/aws/service/eks/optimized-ami/1.34/amazon-linux-2023/x86_64/standard/"
        "amazon-eks-node-al2023-x86_64-standard-1.34-v20260714/image_id"
    )
    assert len(inputs["images"]) == len(GPU_PATH_IMAGES)
    assert all(image.startswith("123456789012.dkr.ecr.eu-central-1.") for image in inputs["images"])
    private = sorted(
        f"{s['name']}-id"
        for s in dev_plan.of_type("aws:ec2/subnet:Subnet")
        if "-private-" in s["name"]
    )
    assert inputs["subnetId"] == private[0]


def test_dev_node_class_restores_the_snapshot_at_300_mibps(dev_plan: Plan) -> None:
    node_class, snapshot = dev_plan.one(NODE_CLASS), dev_plan.one(SNAPSHOT)
    assert dev_plan.depends_on(node_class, snapshot)
    mapping = image_mapping(dev_plan)
    assert mapping is not None
    assert mapping["ebs"]["snapshotID"] == "snap-gpu-images-snapshot"
    assert mapping["ebs"]["volumeInitializationRate"] == 300
    assert dev_plan.of_type(FSR) == []
    assert dev_plan.of_type(DEPLOYMENT) == []


def test_builder_can_pull_and_tag_itself_only(dev_plan: Plan) -> None:
    policy = json.loads(dev_plan.one("aws:iam/rolePolicy:RolePolicy")["inputs"]["policy"])
    actions = {
        statement["Sid"]: (statement["Action"], statement["Resource"])
        for statement in policy["Statement"]
    }
    assert actions["EcrLogin"] == ("ecr:GetAuthorizationToken", "*")
    assert actions["PullStackImages"] == (
        ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
        "arn:aws:ecr:eu-central-1:123456789012:repository/kserve-fluid-dev/*",
    )
    [tagging] = [s for s in policy["Statement"] if s["Sid"] == "BuildResultOnItself"]
    assert tagging["Condition"] == {
        "StringEquals": {f"aws:ResourceTag/{BUILDER_TAG}": "kserve-fluid-dev"},
        "ForAllValues:StringEquals": {"aws:TagKeys": [RESULT_TAG]},
    }
    group = next(
        r for r in dev_plan.of_type("aws:ec2/securityGroup:SecurityGroup")
        if r["name"] == "gpu-images-builder-sg"
    )  # fmt: skip
    assert "ingress" not in group["inputs"] or group["inputs"]["ingress"] == []
    assert [(e["fromPort"], e["toPort"]) for e in group["inputs"]["egress"]] == [(443, 443)]


def test_fsr_zones_enable_fsr_limit_the_pool_and_drop_the_rate(fast_plan: Plan) -> None:
    restores = fast_plan.of_type(FSR)
    assert sorted(r["inputs"]["availabilityZone"] for r in restores) == ZONES
    assert {r["inputs"]["snapshotId"] for r in restores} == {"snap-gpu-images-snapshot"}
    node_class = fast_plan.one(NODE_CLASS)
    for restore in restores:
        assert fast_plan.depends_on(node_class, restore)
    mapping = image_mapping(fast_plan)
    assert mapping is not None and "volumeInitializationRate" not in mapping["ebs"]
    requirements = fast_plan.one(NODE_POOL)["inputs"]["spec"]["template"]["spec"]["requirements"]
    assert {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ZONES} in requirements


def test_warm_slots_go_before_the_node_pool_on_destroy(fast_plan: Plan) -> None:
    [placeholders] = fast_plan.of_type(DEPLOYMENT)
    assert placeholders["inputs"]["spec"]["replicas"] == 1
    assert fast_plan.depends_on(placeholders, fast_plan.one(NODE_POOL))
    priority = fast_plan.one("kubernetes:scheduling.k8s.io/v1:PriorityClass")
    assert priority["inputs"]["value"] == -10
    [container] = placeholders["inputs"]["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith("123456789012.dkr.ecr.eu-central-1.amazonaws.com/")


def test_mirror_off_builds_no_snapshot(mirror_off_plan: Plan) -> None:
    assert mirror_off_plan.of_type(SNAPSHOT) == []
    assert image_mapping(mirror_off_plan) is None
    lines = mirror_off_plan.outputs["coldStartBudget"]["lines"]
    assert lines[0] == "image snapshot: off (needs provisioner karpenter and imageMirror)"


def test_node_group_builds_no_snapshot(node_group_plan: Plan) -> None:
    assert node_group_plan.of_type(SNAPSHOT) == []
    assert node_group_plan.of_type(NODE_CLASS) == []


def test_plan_prints_budgets_costs_and_the_warning(fast_plan: Plan) -> None:
    report = fast_plan.outputs["coldStartBudget"]
    assert report["lines"][0] == (
        "image snapshot: on (100 GiB, Fast Snapshot Restore in eu-central-1a, eu-central-1b)"
    )
    cold = report["models"]["llama-31-8b-instruct"]["cache"]["cold"]
    assert cold["phases"]["image"]["high"] == 0
    assert any("$1,095.00/month" in line for line in report["costs"])
    assert any("$1,787.04/month" in line for line in report["costs"])


def test_make_plan_prints_the_budget(prod_plan: Plan) -> None:
    out = prod_plan.output
    assert "pending pod -> first token, low-high seconds (node, image, weights, engine):" in out
    assert "  llama-31-8b-instruct [cache] warm: 27-29 s" in out
    assert "  source node: Karpenter batching window" in out
    assert '  warning: model "llama-31-8b-instruct" [cache]: a cold GPU node can take' in out
