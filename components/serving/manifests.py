"""Pure builders for serving: the warm-up runtime and the InferenceServices of every model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components.cache.manifests import DATASET_NAME, irsa_s3_annotations, mount_path
from components.config.kserve_names import baseline_name
from components.config.model import ModelConfig, StackConfig
from components.image_mirror import UPSTREAM, ImageMirror
from components.karpenter.manifests import predictor_annotations
from components.naming import gpu_node_labels, gpu_toleration
from components.timeouts import request_timeout_seconds
from components.versions import HUGGINGFACE_SERVER_GPU_IMAGE

RUNTIME_NAME = "custom-kserve-huggingfaceserver"
WARMUP_CONFIGMAP = "model-cache-warmup"
WARMUP_MOUNT = "/opt/warmup"
WARMUP_SOURCE = Path(__file__).resolve().parents[2] / "tools" / "in_cluster" / "warmup.py"
BASELINE_SERVICE_ACCOUNT = "model-reader"
MODEL_DIR = "/mnt/models"


def warmup_configmap(config: StackConfig) -> dict[str, Any]:
    """Delivers tools/in_cluster/warmup.py to the serving pods (the runtime mounts it from here)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": WARMUP_CONFIGMAP, "namespace": config.model_namespace},
        "data": {"warmup.py": WARMUP_SOURCE.read_text()},
    }


def cluster_serving_runtime(mirror: ImageMirror = UPSTREAM) -> dict[str, Any]:
    """huggingfaceserver (vLLM) that first reads every model file through the cache.

    `autoSelect: false`: the built-in kserve-huggingfaceserver claims the same model format and
    priority, and KServe's webhook rejects a second auto-selectable one (facts §0.1).
    """
    return {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ClusterServingRuntime",
        "metadata": {"name": RUNTIME_NAME},
        "spec": {
            "annotations": {
                "prometheus.kserve.io/path": "/metrics",
                "prometheus.kserve.io/port": "8080",
            },
            "supportedModelFormats": [
                {"name": "huggingface", "version": "1", "autoSelect": False, "priority": 1}
            ],
            "protocolVersions": ["v2", "v1"],
            "containers": [
                {
                    "name": "kserve-container",
                    "image": mirror.ref(HUGGINGFACE_SERVER_GPU_IMAGE),
                    "command": [
                        "python3",
                        f"{WARMUP_MOUNT}/warmup.py",
                        "--",
                        "python3",
                        "-m",
                        "huggingfaceserver",
                    ],
                    "args": ["--model_name={{.Name}}"],
                    "env": [
                        {"name": "WARMUP_DIR", "value": MODEL_DIR},
                        {"name": "WARMUP_CONCURRENCY", "value": "32"},
                        {"name": "WARMUP_BLOCK_SIZE", "value": "16M"},
                        {"name": "WARMUP_RANGE_SIZE", "value": "256M"},
                        {"name": "HF_HOME", "value": "/tmp/huggingface"},
                    ],
                    "resources": {
                        "requests": {"cpu": "1", "memory": "2Gi"},
                        "limits": {"cpu": "1", "memory": "2Gi"},
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "runAsNonRoot": True,
                    },
                    "volumeMounts": [
                        {"name": "devshm", "mountPath": "/dev/shm"},
                        {"name": "warmup", "mountPath": WARMUP_MOUNT, "readOnly": True},
                    ],
                }
            ],
            "volumes": [
                {"name": "devshm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
                {"name": "warmup", "configMap": {"name": WARMUP_CONFIGMAP}},
            ],
        },
    }


def baseline_service_account(config: StackConfig, role_arn: str) -> dict[str, Any]:
    """IRSA identity of the storage initializer (replaces the seed's key-holding `s3sa`)."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": BASELINE_SERVICE_ACCOUNT,
            "namespace": config.model_namespace,
            "annotations": {
                "eks.amazonaws.com/role-arn": role_arn,
                **irsa_s3_annotations(config.region),
            },
        },
    }


def isvc_ready_timeout_seconds(model: ModelConfig) -> int:
    return model.expected_cold_start_seconds + 300


def _predictor(config: StackConfig, model: ModelConfig) -> dict[str, Any]:
    resources = {
        "cpu": model.resources.cpu,
        "memory": model.resources.memory,
        "nvidia.com/gpu": str(model.resources.gpu),
    }
    annotations = {
        "autoscaling.knative.dev/initial-scale": "1" if model.warm_start else "0",
        # Karpenter never voluntarily removes the node under a serving predictor (inert on a
        # managed node group); the pod leaves at scale to zero and the node follows.
        **predictor_annotations(),
    }
    if config.networking == "istio":
        # The seed's setting: S3 traffic bypasses an (optional) mesh sidecar.
        annotations["traffic.sidecar.istio.io/excludeOutboundPorts"] = "443"
    return {
        # Without it the activator drops a cold-start request after 300 s (components/timeouts.py).
        "timeout": request_timeout_seconds(config),
        "minReplicas": model.min_replicas,
        "maxReplicas": model.max_replicas,
        "annotations": annotations,
        "nodeSelector": {k: v for k, v in gpu_node_labels().items()},
        "tolerations": [gpu_toleration()],
        "model": {
            "modelFormat": {"name": "huggingface"},
            "args": list(model.vllm_args),
            "resources": {"requests": resources, "limits": dict(resources)},
        },
    }


def _isvc(config: StackConfig, model: ModelConfig, name: str, predictor: dict[str, Any]) -> dict:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": config.model_namespace,
            "annotations": {
                "pulumi.com/waitFor": "condition=Ready",
                "pulumi.com/timeoutSeconds": str(isvc_ready_timeout_seconds(model)),
            },
        },
        "spec": {"predictor": predictor},
    }


def fluid_inference_service(config: StackConfig, model: ModelConfig) -> dict[str, Any]:
    """Reads the model through the Fluid PVC with the warm-up runtime."""
    predictor = _predictor(config, model)
    predictor["model"]["runtime"] = RUNTIME_NAME
    predictor["model"]["storageUri"] = f"pvc://{DATASET_NAME}{mount_path(model)}"
    return _isvc(config, model, model.name, predictor)


def baseline_inference_service(
    config: StackConfig, model: ModelConfig, bucket: str
) -> dict[str, Any]:
    """The seed's comparison: KServe's storage initializer downloads from S3 at every start."""
    predictor = _predictor(config, model)
    predictor["serviceAccountName"] = BASELINE_SERVICE_ACCOUNT
    predictor["model"]["storageUri"] = f"s3://{bucket}/{model.s3_prefix}"
    return _isvc(config, model, baseline_name(model), predictor)
