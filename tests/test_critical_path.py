"""`tools/plan/critical_path.py` over the committed stacks' plans: `pulumi up` waits for no more
than what each resource needs (within 5 %), and the check catches the edges that used to cost
time."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tests.plan_support import Plan
from tools.plan import critical_path as cp

MAX_RATIO = 1.05


def _report(document: dict, extra: dict[str, cp.Step] | None = None) -> cp.Report:
    return cp.critical_paths(document["resources"], {**cp.load_durations(None), **(extra or {})})


@pytest.mark.parametrize("stack", ["dev", "prod", "node_group", "kourier"])
def test_pulumi_up_waits_for_what_it_needs(stack: str, request: pytest.FixtureRequest) -> None:
    plan: Plan = request.getfixturevalue(f"{stack}_plan")
    report = _report(plan.document)
    assert report.unknown_types == ()
    assert report.ratio <= MAX_RATIO, cp.render(report, stack)
    # The control plane dominates: it is on the path, right after the VPC and a subnet.
    assert report.modelled.chain[2].startswith("eks:index:Cluster cluster-eks")


def _resource(document: dict, typ: str, name: str | None = None) -> dict:
    return next(r for r in document["resources"] if r["type"] == typ and name in (None, r["name"]))


def test_a_cluster_waiting_for_the_nat_gateway_is_caught(dev_plan: Plan) -> None:
    """awsx's Vpc made EKS wait for the NAT gateway: put that edge back and the check fails."""
    document = copy.deepcopy(dev_plan.document)
    nat = _resource(document, "aws:ec2/natGateway:NatGateway")
    _resource(document, "eks:index:Cluster")["dependencies"].append(nat["urn"])
    report = _report(document)
    assert report.ratio > MAX_RATIO
    assert "aws:ec2/natGateway:NatGateway network-nat-1 (105 s)" in report.modelled.chain
    assert "aws:ec2/natGateway:NatGateway network-nat-1 (105 s)" not in report.lower_bound.chain


def test_fluid_waiting_for_the_node_pool_is_on_the_path(dev_plan: Plan) -> None:
    """Fluid's release used to wait for Karpenter's NodePool (ordering only)."""
    document = copy.deepcopy(dev_plan.document)
    # The Knative operator's image copy (gcr.io, issue 18) is on today's longest chain; take it
    # off so the chain this test is about, through Fluid, is the longest one.
    operator = _resource(document, "kubernetes:helm.sh/v3:Release", "knative-operator")
    operator["dependencies"] = [u for u in operator["dependencies"] if "images-copy-" not in u]
    # The GPU image snapshot's build (issue 23) ends another long chain, at the EC2NodeClass:
    # take it off too.
    document["resources"] = [
        r
        for r in document["resources"]
        if "ImageSnapshot" not in r["type"] and "fastSnapshotRestore" not in r["type"]
    ]
    node_class = _resource(document, "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass")
    node_class["dependencies"] = [
        u
        for u in node_class["dependencies"]
        if "ImageSnapshot" not in u and "FastSnapshot" not in u
    ]
    baseline = _report(copy.deepcopy(document)).modelled.seconds
    pool = _resource(document, "kubernetes:karpenter.sh/v1:NodePool")
    fluid = _resource(document, "kubernetes:helm.sh/v3:Release", "fluid")
    fluid["dependencies"].append(pool["urn"])
    report = _report(document)
    assert "kubernetes:karpenter.sh/v1:NodePool gpu-node-pool (2 s)" in report.modelled.chain
    assert report.modelled.seconds > baseline


def test_an_unknown_type_is_named_and_a_durations_file_prices_it(
    dev_plan: Plan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The model is data: a new resource type (an image snapshot builder, say) is listed until
    it has a duration, and a JSON file can give one without touching the tool."""
    document = copy.deepcopy(dev_plan.document)
    cluster = _resource(document, "eks:index:Cluster")
    snapshot = {
        "urn": "urn:pulumi:dev::kserve-fluid::aws:ebs/snapshot:Snapshot::gpu-images",
        "type": "aws:ebs/snapshot:Snapshot",
        "name": "gpu-images",
        "custom": True,
        "provider": "",
        "dependencies": [],
        "inputs": {},
    }
    document["resources"].append(snapshot)
    cluster["dependencies"].append(snapshot["urn"])
    assert _report(document).unknown_types == ("aws:ebs/snapshot:Snapshot",)
    plan_file = tmp_path / "resources.json"
    plan_file.write_text(json.dumps(document))
    assert cp.main(["--plan", str(plan_file)]) == 0
    assert "no duration (counted 0 s): aws:ebs/snapshot:Snapshot" in capsys.readouterr().out
    durations = tmp_path / "durations.json"
    durations.write_text(json.dumps({"aws:ebs/snapshot:Snapshot": 900}))
    report = _report(document, cp.load_durations(durations))
    assert report.modelled.chain[0] == "aws:ebs/snapshot:Snapshot gpu-images (900 s)"
    assert report.modelled.seconds > _report(dev_plan.document).modelled.seconds + 800
    assert report.ratio == 1.0  # the cluster needs it: on both paths


def test_the_command_prints_both_paths_and_passes_within_the_ratio(
    dev_plan: Plan, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_file = dev_plan.folder / "resources.json"
    assert cp.main(["--plan", str(plan_file), "--stack", "dev"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("critical path of `pulumi up` (dev, p50 create times):\n  modelled: ")
    assert "\n  lower bound: " in out and "\n  ratio: 1.000\n" in out
