"""Mutation check: break one thing the tests claim to check, run those tests, restore.

    python bench/mutation_check.py          # every mutation
    python bench/mutation_check.py 3 7      # only these (by index)

Each mutation replaces one exact snippet of the source (the snippet must occur exactly once, so
a stale entry fails loudly instead of testing nothing), runs the named test files, and prints
CAUGHT (the tests failed, as they must) or SURVIVED (a weakness), with the first failures.
The file is always restored, also when interrupted. Uses the worktree: do not edit while it runs.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (what breaks, file, snippet, replacement, test files that must fail)
MUTATIONS: list[tuple[str, str, str, str, str]] = [
    (
        "rich: TransferSpeedColumn deleted",
        "tools/in_cluster/stage_model/progress.py",
        "            TransferSpeedColumn(),\n",
        "",
        "tests/staging/test_progress.py",
    ),
    (
        "rich: TimeRemainingColumn deleted",
        "tools/in_cluster/stage_model/progress.py",
        "            TimeRemainingColumn(),\n",
        "",
        "tests/staging/test_progress.py",
    ),
    (
        "Dataset affinity label key renamed",
        "components/cache/manifests.py",
        '{"key": NODE_ROLE_LABEL, "operator": "In"',
        '{"key": "kserve-fluid/node-rol", "operator": "In"',
        "tests/test_cache_and_serving.py",
    ),
    (
        "fluid csi.useNodeAuthorization misspelt",
        "components/cache/manifests.py",
        '"csi": {"useNodeAuthorization": False}',
        '"csi": {"useNodeAuthorisation": False}',
        "tests/test_charts.py",
    ),
    (
        "fluid runtime.jindo.enabled false",
        "components/cache/manifests.py",
        '{"runtime": {"jindo": {"enabled": True}}',
        '{"runtime": {"jindo": {"enabled": False}}',
        "tests/test_charts.py",
    ),
    (
        "gateway NLB annotations under service.annotation",
        "components/platform/manifests.py",
        '        "annotations": load_balancer_annotations(internal),\n',
        '        "annotation": load_balancer_annotations(internal),\n',
        "tests/test_charts.py",
    ),
    (
        "gateway Service keeps the chart's 443 and 15021 listeners",
        "components/platform/manifests.py",
        '        "ports": GATEWAY_SERVICE_PORTS,\n',
        "",
        "tests/test_charts.py",
    ),
    (
        "internal ingress through the scheme annotation the cloud provider ignores",
        "components/platform/manifests.py",
        '        annotations[INTERNAL_ANNOTATION] = "true"\n',
        '        annotations["service.beta.kubernetes.io/aws-load-balancer-scheme"] = "internal"\n',
        "tests/test_charts.py",
    ),
    (
        "Knative marks a revision waiting for a node Unschedulable",
        "components/platform/manifests.py",
        '"pod-is-always-schedulable": "true"',
        '"pod-is-always-schedulable": "false"',
        "tests/test_platform.py",
    ),
    (
        "the S3 endpoint leaves the private route tables",
        "components/network/component.py",
        "            route_table_ids=[table.id for table in private_tables],\n",
        "            route_table_ids=[],\n",
        "tests/test_network.py",
    ),
    (
        "device plugin affinity value false",
        "components/platform/manifests.py",
        '{"key": GPU_PRESENT_LABEL, "operator": "In", "values": ["true"]}',
        '{"key": GPU_PRESENT_LABEL, "operator": "In", "values": ["false"]}',
        "tests/test_charts.py",
    ),
    (
        "GPU toleration effect NoExecute",
        "components/platform/manifests.py",
        'return {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}',
        'return {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoExecute"}',
        "tests/test_cache_and_serving.py tests/test_charts.py",
    ),
    (
        "FUSE nodeSelector role gpus",
        "components/cache/manifests.py",
        '"nodeSelector": {NODE_ROLE_LABEL: "gpu"},',
        '"nodeSelector": {NODE_ROLE_LABEL: "gpus"},',
        "tests/test_cache_and_serving.py tests/test_charts.py",
    ),
    (
        "KServe storage resources key misspelt",
        "components/platform/manifests.py",
        '            "storage": {\n                "resources": {',
        '            "storage": {\n                "resource": {',
        "tests/test_charts.py",
    ),
    (
        "cert-manager crds.enabled false",
        "components/platform/manifests.py",
        'return {"crds": {"enabled": True, "keep": True}}',
        'return {"crds": {"enabled": False, "keep": True}}',
        "tests/test_charts.py",
    ),
    (
        "kserve deploymentMode Serverless (legacy name)",
        "components/platform/manifests.py",
        '"controller": {"deploymentMode": "Knative", "gateway": gateway}',
        '"controller": {"deploymentMode": "Serverless", "gateway": gateway}',
        "tests/test_charts.py",
    ),
    (
        "DataLoad nodeSelector on GPU nodes",
        "components/cache/manifests.py",
        '            "nodeSelector": data_node_labels(),\n        },\n    }',
        '            "nodeSelector": {NODE_ROLE_LABEL: "gpu"},\n        },\n    }',
        "tests/test_cache_and_serving.py",
    ),
    (
        "webhook Job unknown field backofLimit",
        "components/platform/manifests.py",
        '"backoffLimit": 2,',
        '"backofLimit": 2,',
        "tests/test_kubernetes_schemas.py",
    ),
    (
        "InferenceService minReplicas as a string",
        "components/serving/manifests.py",
        '"minReplicas": model.min_replicas,',
        '"minReplicas": str(model.min_replicas),',
        "tests/test_kubernetes_schemas.py",
    ),
    (
        "schema version: always the newest shipped",
        "tests/schemas.py",
        "    return usable[-1]\n",
        "    return kubernetes_schema_versions()[-1]\n",
        "tests/test_kubernetes_schemas.py",
    ),
    (
        "plan_diff ignores dependency changes",
        "tools/plan/diff.py",
        "        if old_deps != new_deps:",
        "        if False:",
        "tests/test_plan_diff.py",
    ),
    (
        "plan_diff keys manifests with their NN- index",
        "tools/plan/diff.py",
        '_MANIFEST_INDEX = re.compile(r"^\\d+-")',
        '_MANIFEST_INDEX = re.compile(r"^$")',
        "tests/test_plan_diff.py",
    ),
    (
        "plan-diff renders only the dev stack",
        ".github/workflows/plan-diff.yml",
        'for stack_file in "$side"/Pulumi.*.yaml; do',
        'for stack_file in "$side"/Pulumi.dev.yaml; do',
        "tests/test_plan_diff_workflow.py",
    ),
    (
        "plan-diff-comment trusts the artifact's PR number",
        ".github/workflows/plan-diff-comment.yml",
        'if ! [[ "$pr" =~ ^[0-9]+$ ]]; then',
        'if ! [[ "$pr" =~ ^.+$ ]]; then',
        "tests/test_plan_diff_workflow.py",
    ),
    (
        "ignored-key search: only the removal render",
        "tests/charts.py",
        "        if rendered != baseline:\n            return True\n",
        "        if rendered != baseline:\n            pass\n",
        "tests/test_charts.py",
    ),
]


def run(index: int, label: str, path: str, old: str, new: str, tests: str) -> bool:
    source_file = ROOT / path
    source = source_file.read_text()
    if source.count(old) != 1:
        raise SystemExit(f"{index} {label}: snippet found {source.count(old)} times in {path}")
    source_file.write_text(source.replace(old, new))
    try:
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests.split()],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        lines = result.stdout.splitlines()
        failed = [line for line in lines if line.startswith(("FAILED", "ERROR", "E  "))][:2]
        verdict = "CAUGHT" if result.returncode else "SURVIVED"
        seconds = time.perf_counter() - started
        print(f"{index:2d} {label}: {verdict} ({seconds:.0f} s) {failed}", flush=True)
        return bool(result.returncode)
    finally:
        source_file.write_text(source)


def main(argv: list[str]) -> int:
    chosen = {int(a) for a in argv}
    caught = [
        run(index, *mutation)
        for index, mutation in enumerate(MUTATIONS)
        if not chosen or index in chosen
    ]
    print(f"{sum(caught)}/{len(caught)} mutations caught")
    return 0 if all(caught) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
