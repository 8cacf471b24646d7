"""tools/plan/diff.py on real plans: the dev stack with Istio (base) and with Kourier (head)."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from tests.plan_support import Plan
from tools.plan.diff import diff_folders, load_plan, main, report
from tools.plan.policy_feed import verdict

RELEASE = "kubernetes:helm.sh/v3:Release"


def test_switching_to_kourier_shows_what_would_change(dev_plan: Plan, kourier_plan: Plan) -> None:
    (diff,) = diff_folders(dev_plan.folder, kourier_plan.folder)
    assert diff.added == []
    assert {(r["type"], r["name"]) for r in diff.removed} == {
        (RELEASE, "istio-base"),
        (RELEASE, "istiod"),
        (RELEASE, "istio-ingressgateway"),
    }
    changes = {c.name: c for c in diff.changed}
    kserve_paths = {path: (old, new) for path, old, new in changes["kserve"].inputs}
    assert kserve_paths["$.values.kserve.controller.gateway.disableIstioVirtualHost"] == (
        False,
        True,
    )
    serving_paths = {path for path, _, _ in changes["knative-serving"].inputs}
    assert "$.spec.ingress.istio.enabled" in serving_paths
    (dependencies,) = [o for o in changes["knative-operator"].options if o[0] == "dependencies"]
    assert [u.rsplit("::", 1)[-1] for u in dependencies[1]] == ["istio-base"]
    assert diff.manifests_removed == [
        "release-istio-system-istio-base",
        "release-istio-system-istio-ingressgateway",
        "release-istio-system-istiod",
    ]
    assert "release-kserve-kserve" in diff.manifests_changed
    # The unchanged parts of the stack are not reported.
    assert "cluster-data" not in changes and "fluid" not in changes

    markdown = report([diff])
    assert "0 to add, 3 to remove" in markdown
    assert "| `kubernetes:helm.sh/v3:Release` | `istiod` |" in markdown
    assert "`$.values.kserve.controller.gateway.disableIstioVirtualHost`: `false` → `true`" in (
        markdown
    )
    assert "- removed `release-istio-system-istiod`" in markdown
    assert "dependencies: dropped `istio-base`; added none" in markdown


def _shuffled_copy(plan: Plan, target: Path) -> Path:
    """The same plan with registrations in another order and manifests renumbered."""
    shutil.copytree(plan.folder, target)
    document = json.loads((target / "resources.json").read_text())
    random.Random(11).shuffle(document["resources"])
    (target / "resources.json").write_text(json.dumps(document))
    manifests = sorted((target / "manifests").glob("*.yaml"))
    order = list(range(len(manifests)))
    random.Random(12).shuffle(order)
    for path, number in zip(manifests, order, strict=True):
        stem = path.name.split("-", 1)[1]
        path.rename(path.with_name(f"{number + 100:03d}-{stem}"))
    return target


def test_order_does_not_count(dev_plan: Plan, tmp_path: Path) -> None:
    shuffled = _shuffled_copy(dev_plan, tmp_path / "dev")
    (diff,) = diff_folders(dev_plan.folder, shuffled)
    assert diff.empty, report([diff])
    assert "No changes." in report([diff])


def test_folders_of_stacks_and_missing_sides(
    dev_plan: Plan, kourier_plan: Plan, tmp_path: Path
) -> None:
    base, head = tmp_path / "base", tmp_path / "head"
    shutil.copytree(dev_plan.folder, base / "dev")
    shutil.copytree(kourier_plan.folder, head / "dev")
    shutil.copytree(dev_plan.folder, head / "newstack")
    diffs = {d.stack: d for d in diff_folders(base, head)}
    assert set(diffs) == {"dev", "newstack"}
    assert len(diffs["dev"].removed) == 3
    assert diffs["newstack"].base_missing
    assert len(diffs["newstack"].added) == len(load_plan(dev_plan.folder).resources)
    text = report(list(diffs.values()))
    assert "Stacks with changes: `dev`, `newstack`." in text
    assert "No plan for the base" in text

    (head / "dev" / "resources.json").unlink()  # the head's plan failed to render
    diffs = {d.stack: d for d in diff_folders(base, head)}
    assert "**No plan for the head**" in report([diffs["dev"]])


def test_command_line(dev_plan: Plan, kourier_plan: Plan, tmp_path: Path) -> None:
    out = tmp_path / "diff.md"
    assert main([str(dev_plan.folder), str(kourier_plan.folder), "--out", str(out)]) == 0
    assert out.read_text().startswith("## Offline plan diff\n")
    assert main([str(tmp_path / "none"), str(tmp_path / "nothing")]) == 2


@pytest.mark.parametrize("value", [{"a": [1, 2]}, "x" * 500])
def test_long_values_are_cut(value: object, dev_plan: Plan, tmp_path: Path) -> None:
    changed = tmp_path / "dev"
    shutil.copytree(dev_plan.folder, changed)
    document = json.loads((changed / "resources.json").read_text())
    document["outputs"]["region"] = value
    (changed / "resources.json").write_text(json.dumps(document))
    (diff,) = diff_folders(dev_plan.folder, changed)
    assert next(p for p, _, _ in diff.outputs_changed).startswith("$.region")
    line = next(x for x in report([diff]).splitlines() if x.startswith("- `$.region"))
    assert len(line) < 220


def test_a_policy_verdict_change_is_shown(prod_plan: Plan, tmp_path: Path) -> None:
    """The head opens the prod endpoint: the diff shows the pack's verdict on the head."""
    head = tmp_path / "head"
    shutil.copytree(prod_plan.folder, head)
    document = json.loads((head / "resources.json").read_text())

    (cluster,) = [r for r in document["resources"] if r["type"] == "eks:index:Cluster"]
    cluster["inputs"]["publicAccessCidrs"] = ["0.0.0.0/0"]
    document["policy"] = verdict(document, Path(__file__).resolve().parent.parent)
    (head / "resources.json").write_text(json.dumps(document))
    (diff,) = diff_folders(prod_plan.folder, head)
    assert prod_plan.document["policy"] == [
        "policy pack: 0 mandatory, 0 advisory (as the engine would feed it this plan)"
    ]
    assert diff.policy_changed
    markdown = report([diff])
    assert (
        "#### Policy pack (head)\n\n```\n"
        "policy pack: 1 mandatory, 0 advisory (as the engine would feed it this plan)\n"
        "  mandatory eks-endpoint-restricted: aws:eks/cluster:Cluster cluster-eks-eksCluster: "
        "the public API endpoint is open to the internet; set vpcConfig.publicAccessCidrs to "
        "known ranges\n```"
    ) in markdown
