"""Pure builders for serving: the warm-up runtime and the InferenceServices of every model.

One InferenceService per model and loader (components/config/model.py `LOADERS`): `cache` reads the
Fluid PVC through the warm-up runtime, `download` lets KServe's storage initializer copy the
model from S3 first, `stream` hands vLLM the `s3://` URI and its Run:ai Model Streamer loads
the weights straight from S3 into the GPU (components/serving/loaders.py models how fast each
is).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from components.cache.manifests import DATASET_NAME, irsa_s3_annotations, mount_path
from components.config.kserve_names import isvc_name
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
MODEL_READER_SERVICE_ACCOUNT = "model-reader"
MODEL_DIR = "/mnt/models"
BUILTIN_RUNTIME = "kserve-huggingfaceserver"
"""The built-in ClusterServingRuntime of kserve-runtime-configs (the `download` loader selects it
by `autoSelect`; `stream` names it, having no storageUri)."""

STREAM_CONCURRENCY = 32
"""Streamer worker threads, each issuing ranged GETs of one chunk at a time through the S3 CRT
client, which keeps its own connection pool (cpp/s3/client/client.cc@0.15.9), so workers are not
TCP flows one for one. The streamer reads object storage with 8 by default
(run-ai/runai-model-streamer:cpp/streamer/impl/config/config.cc@0.15.9 `RUNAI_STREAMER_CONCURRENCY`,
docs/src/env-vars.md); Run:ai's own S3 benchmark loaded Llama-3-8B fastest at 32 (4.88 s; 8.45 s
at 16, 5.01 s at 64: docs/src/benchmarks.md Appendix C)."""

STREAM_MEMORY_LIMIT_BYTES = 8 * 2**30
"""The streamer's CPU buffer (`RUNAI_STREAMER_MEMORY_LIMIT`, bytes). Its default is 40 GB, but the
buffer it allocates is min(limit, bytes streamed) (py/runai_model_streamer/.../file_streamer/
requests_iterator.py@0.15.9 `with_memory_cap`): about the model's size (16 GB for the dev model)
next to vLLM in the seed's 48Gi pod. 8 GiB bounds that; it must exceed the largest tensor
(~1.05 GB here), and a model larger than it streams in batches, each read once the previous one
has been copied to the GPU, which the modeled time (loaders.py) does not count."""

STORAGE_ALLOW_PATTERNS = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "config.json",
    "generation_config.json",
)
"""What huggingfaceserver may copy of the `stream` model before vLLM starts. It calls
`Storage.download(--model_dir)` in-process, twice, before vLLM starts
(kserve/kserve:python/huggingfaceserver/huggingfaceserver/__main__.py@v0.20.0
`get_model_id_or_path`, at import and in `load_model`), and only reads `config.json` from the copy
(`infer_vllm_supported_from_model_architecture`); `STORAGE_ALLOW_PATTERNS` limits that copy
(python/storage/kserve_storage/kserve_storage.py@v0.20.0 `_parse_patterns_from_env`). The list is
KServe's own for an LLMInferenceService that downloads only the tokenizer
(pkg/controller/v1alpha2/llmisvc/workload_storage.go@v0.20.0 `tokenizerOnlyDownload`)."""


def warmup_configmap(config: StackConfig) -> dict[str, Any]:
    """Delivers tools/in_cluster/warmup.py to the serving pods (the runtime mounts it from here)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": WARMUP_CONFIGMAP, "namespace": config.model_namespace},
        "data": {"warmup.py": WARMUP_SOURCE.read_text()},
    }


def serving_runtime(config: StackConfig, mirror: ImageMirror = UPSTREAM) -> dict[str, Any]:
    """huggingfaceserver (vLLM) that first reads every model file through the cache.

    A namespaced ServingRuntime in the models' namespace, beside the ConfigMap it mounts: a
    cluster-scoped runtime would offer that mount to InferenceServices of every namespace, where
    the ConfigMap does not exist and the pod hangs in ContainerCreating. KServe looks the name up
    in the InferenceService's namespace first, then among ClusterServingRuntimes
    (kserve/kserve:pkg/controller/v1beta1/inferenceservice/utils/utils.go@v0.20.0
    GetServingRuntime), so elsewhere the name resolves to nothing instead of to a broken pod.

    `autoSelect: false`: the built-in kserve-huggingfaceserver claims the same model format and
    priority, and KServe's webhook rejects a second auto-selectable one (facts §0.1).
    """
    return {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ServingRuntime",
        "metadata": {"name": RUNTIME_NAME, "namespace": config.model_namespace},
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


def model_reader_service_account(config: StackConfig, role_arn: str) -> dict[str, Any]:
    """IRSA identity of the `download` storage initializer and of the `stream` server (replaces
    the seed's key-holding `s3sa`): read-only on the models' prefixes, `s3:ListBucket`."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": MODEL_READER_SERVICE_ACCOUNT,
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


def cache_inference_service(config: StackConfig, model: ModelConfig) -> dict[str, Any]:
    """`cache`: reads the model through the Fluid PVC with the warm-up runtime."""
    predictor = _predictor(config, model)
    predictor["model"]["runtime"] = RUNTIME_NAME
    predictor["model"]["storageUri"] = f"pvc://{DATASET_NAME}{mount_path(model)}"
    return _isvc(config, model, isvc_name(model, "cache"), predictor)


def download_inference_service(
    config: StackConfig, model: ModelConfig, bucket: str
) -> dict[str, Any]:
    """`download` (the seed's comparison): KServe's storage initializer copies the model from S3
    to the pod at every start, then vLLM reads the copy."""
    predictor = _predictor(config, model)
    predictor["serviceAccountName"] = MODEL_READER_SERVICE_ACCOUNT
    predictor["model"]["storageUri"] = f"s3://{bucket}/{model.s3_prefix}"
    return _isvc(config, model, isvc_name(model, "download"), predictor)


def stream_env(config: StackConfig) -> list[dict[str, str]]:
    """The `stream` server's environment.

    Credentials come from IRSA through boto3's chain: the streamer's Python layer resolves a
    boto3 Session and hands its credentials to the C++ reader unless
    `RUNAI_STREAMER_NO_BOTO3_SESSION` is set (run-ai/runai-model-streamer:py/
    runai_model_streamer_s3/runai_model_streamer_s3/credentials/credentials.py@0.15.9
    `get_credentials`; the C++ SDK alone has no web identity, PR #42), so neither that variable
    nor `AWS_EC2_METADATA_DISABLED` is set (runai-model-streamer#46), nor `AWS_ENDPOINT_URL`,
    which botocore also applies to STS and which breaks IRSA (kserve#3482). The region is the
    bucket's: the stack's own (components/cache/manifests.py `s3_endpoint`).
    """
    return [
        {"name": "AWS_REGION", "value": config.region},
        # boto3, which kserve_storage uses for the config.json copy, reads AWS_DEFAULT_REGION
        # (kserve_storage.py@v0.20.0 `_download_s3` builds a default-chain client).
        {"name": "AWS_DEFAULT_REGION", "value": config.region},
        {"name": "STORAGE_ALLOW_PATTERNS", "value": json.dumps(list(STORAGE_ALLOW_PATTERNS))},
        # Read by the streamer's C++ config (config.cc@0.15.9); vLLM's loader would set the same
        # variables from --model-loader-extra-config (vllm-project/vllm:vllm/model_executor/
        # model_loader/runai_streamer_loader.py@v0.24.0 `RunaiModelStreamerLoader.__init__`).
        {"name": "RUNAI_STREAMER_CONCURRENCY", "value": str(STREAM_CONCURRENCY)},
        {"name": "RUNAI_STREAMER_MEMORY_LIMIT", "value": str(STREAM_MEMORY_LIMIT_BYTES)},
        # vLLM copies the config and tokenizer files of an s3:// model into its assets cache
        # (vllm/transformers_utils/runai_utils.py@v0.24.0 `ObjectStorageModel`, default under
        # ~/.cache): keep it and Hugging Face's cache on a path uid 1000 can write.
        {"name": "VLLM_ASSETS_CACHE", "value": "/tmp/vllm-assets"},
        {"name": "HF_HOME", "value": "/tmp/huggingface"},
    ]


def stream_inference_service(
    config: StackConfig, model: ModelConfig, bucket: str
) -> dict[str, Any]:
    """`stream`: vLLM's Run:ai Model Streamer reads the safetensors straight from S3.

    The same huggingfaceserver image (its vLLM is installed with the `runai` extra:
    kserve/kserve:python/huggingface_server.Dockerfile@v0.20.0, `vllm[runai,...]==0.24.0`), the
    built-in runtime, and no `storageUri`, so KServe adds no storage initializer (it does only
    for a storageUri: pkg/controller/v1beta1/inferenceservice/components/predictor.go@v0.20.0
    `addStorageInitializerAnnotations`). `--model_dir=s3://…` becomes vLLM's `model`
    (huggingfaceserver `load_model`: `args.model = args.model_id or args.model_dir`); vLLM pulls
    the small files and streams `*.safetensors` with `--load-format=runai_streamer`
    (vllm/config/model.py@v0.24.0 `maybe_pull_model_tokenizer_for_runai`,
    runai_streamer_loader.py `_prepare_weights`). The served name and the `/openai/v1` routes are
    huggingfaceserver's, as for the other loaders.
    """
    predictor = _predictor(config, model)
    predictor["serviceAccountName"] = MODEL_READER_SERVICE_ACCOUNT
    predictor["model"]["runtime"] = BUILTIN_RUNTIME
    predictor["model"]["args"] = [
        f"--model_dir=s3://{bucket}/{model.s3_prefix}",
        "--load-format=runai_streamer",
        *model.vllm_args,
    ]
    predictor["model"]["env"] = stream_env(config)
    return _isvc(config, model, isvc_name(model, "stream"), predictor)


def inference_service(
    config: StackConfig, model: ModelConfig, loader: str, bucket: str
) -> dict[str, Any]:
    """The model's InferenceService for `loader`."""
    if loader == "cache":
        return cache_inference_service(config, model)
    if loader == "download":
        return download_inference_service(config, model, bucket)
    if loader == "stream":
        return stream_inference_service(config, model, bucket)
    raise ValueError(f"unknown loader {loader!r}")
