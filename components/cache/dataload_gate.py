"""A Job per DataLoad that succeeds when the DataLoad completes and fails as soon as it fails.

Why not `pulumi.com/waitFor` on the DataLoad: pulumi-kubernetes only waits for a condition to
hold; while awaiting it ignores the evaluation result and keeps going until the timeout
(pulumi/pulumi-kubernetes:provider/pkg/await/internal/awaiter.go@v4.32.0, `if done, _ :=
aw.condition.Satisfied()`), so a DataLoad in phase `Failed` would block `pulumi up` for its full
timeout. A Job, by contrast, is awaited natively and a Job whose `Failed` condition is true fails
the update at once (provider/pkg/await/job.go@v4.32.0: "If this condition is set, we should fail
the Job immediately"). The Job reads the DataLoad through the API with a get-only Role and exits
1 on `Failed`, printing the DataLoad's status.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from components.cache.manifests import dataload, dataload_name, dataload_timeout_seconds
from components.config.model import ModelConfig, StackConfig
from components.restricted import restricted_container_security, restricted_pod_security

GATE_ROLE = "dataload-reader"
SPEC_ANNOTATION = "kserve-fluid/dataload-spec"
POLL_SECONDS = 10


def gate_name(model: ModelConfig) -> str:
    return f"{dataload_name(model)}-gate"


def reader_role(config: StackConfig) -> dict[str, Any]:
    """Read-only access to the namespace's DataLoads, for the gate Jobs."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": GATE_ROLE, "namespace": config.model_namespace},
        "rules": [{"apiGroups": ["data.fluid.io"], "resources": ["dataloads"], "verbs": ["get"]}],
    }


def reader_account(config: StackConfig) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": GATE_ROLE, "namespace": config.model_namespace},
    }


def reader_binding(config: StackConfig) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": GATE_ROLE, "namespace": config.model_namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": GATE_ROLE},
        "subjects": [
            {"kind": "ServiceAccount", "name": GATE_ROLE, "namespace": config.model_namespace}
        ],
    }


def gate_script(namespace: str, dataload: str) -> str:
    """POSIX sh for the curl image: poll `.status.phase` until Complete (0) or Failed (1).

    API_SERVER, SA_DIR and POLL_SECONDS default to the in-cluster values; tests point them at
    a local stand-in.
    """
    path = f"/apis/data.fluid.io/v1alpha1/namespaces/{namespace}/dataloads/{dataload}"
    return (
        "api=${API_SERVER:-https://kubernetes.default.svc}; "
        "sa=${SA_DIR:-/var/run/secrets/kubernetes.io/serviceaccount}; "
        f"poll=${{POLL_SECONDS:-{POLL_SECONDS}}}; "
        'while true; do body=$(curl -sS --fail --cacert "$sa/ca.crt" '
        f'-H "Authorization: Bearer $(cat "$sa/token")" "$api{path}") '
        '|| { sleep "$poll"; continue; }; '
        "phase=$(printf '%s' \"$body\" | tr -d ' \\n' "
        '| sed -n \'s/.*"phase":"\\([A-Za-z]*\\)".*/\\1/p\'); '
        f'echo "DataLoad {namespace}/{dataload}: ${{phase:-no phase yet}}"; '
        'case "$phase" in Complete) exit 0;; Failed) '
        f"echo 'DataLoad {dataload} failed:' >&2; printf '%s\\n' \"$body\" >&2; exit 1;; "
        'esac; sleep "$poll"; done'
    )


def gate_job(config: StackConfig, model: ModelConfig, image: str) -> dict[str, Any]:
    """The Job Pulumi awaits instead of the DataLoad itself."""
    namespace = config.model_namespace
    script = gate_script(namespace, dataload_name(model))
    # A Job's pod template is immutable, so a changed DataLoad replaces the gate, which then
    # waits for the new load instead of reporting the old one's success.
    spec = json.dumps(dataload(config, model)["spec"], sort_keys=True)
    digest = hashlib.sha256(spec.encode()).hexdigest()[:16]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": gate_name(model), "namespace": namespace},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": dataload_timeout_seconds(model),
            "template": {
                "metadata": {"annotations": {SPEC_ANNOTATION: digest}},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": GATE_ROLE,
                    # The restricted Pod Security profile (policy rule workloads-restricted); the
                    # script keeps everything in shell variables, so the root stays read-only.
                    "securityContext": restricted_pod_security(100),
                    "containers": [
                        {
                            "name": "wait",
                            "image": image,
                            "command": ["/bin/sh", "-c", script],
                            "resources": {
                                "requests": {"cpu": "10m", "memory": "16Mi"},
                                "limits": {"cpu": "100m", "memory": "64Mi"},
                            },
                            "securityContext": restricted_container_security(),
                        }
                    ],
                },
            },
        },
    }
