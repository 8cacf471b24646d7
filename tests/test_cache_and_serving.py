"""Model cache and InferenceServices: schemas, wiring between objects, and destroy order."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from components.serving.manifests import WARMUP_SOURCE
from tests.nodes import data_shapes, gpu_shapes, landing, node_shapes
from tests.plan_support import Plan, render
from tests.schemas import validate_custom_object

KIND_PREFIX = "kubernetes:"
DATASET = "kubernetes:data.fluid.io/v1alpha1:Dataset"
RUNTIME = "kubernetes:data.fluid.io/v1alpha1:JindoRuntime"
DATALOAD = "kubernetes:data.fluid.io/v1alpha1:DataLoad"
CSR = "kubernetes:serving.kserve.io/v1alpha1:ServingRuntime"
ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
CUSTOM_TYPES = (DATASET, RUNTIME, DATALOAD, CSR, ISVC,
                "kubernetes:operator.knative.dev/v1beta1:KnativeServing")  # fmt: skip

THREE_MODELS = [
    {
        "name": name,
        "s3Prefix": f"models/{name}",
        "sizeGiB": size,
        "vllmArgs": ["--max-model-len=2048"],
        "resources": {"cpu": "8", "memory": "32Gi", "gpu": 1},
        "minReplicas": 0,
        "maxReplicas": 2,
        "cacheReplicas": replicas,
        "loader": loader,
        "compareLoaders": compare,
        "warmStart": warm,
    }
    for name, size, replicas, loader, compare, warm in (
        ("llama-31-8b-instruct", 15, 2, "cache", ["download"], False),
        # Not in the cache at all: no Dataset mount, no DataLoad.
        ("mistral-7b-instruct", 14, 1, "stream", [], True),
        ("qwen25-3b-instruct", 6, 3, "download", ["cache", "stream"], False),
    )
]


@pytest.fixture(scope="module")
def three_model_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    # qwen's three InferenceServices may start at once: a GPU each.
    return render(
        tmp_path_factory.mktemp("plan-three"),
        sets={"models": THREE_MODELS, "gpuNodes": {"gpuLimit": 3}},
    )


@pytest.fixture(params=["dev", "three"])
def plan(request: pytest.FixtureRequest, dev_plan: Plan, three_model_plan: Plan) -> Plan:
    return dev_plan if request.param == "dev" else three_model_plan


def objects(plan: Plan, typ: str) -> list[dict[str, Any]]:
    return [r["inputs"] for r in plan.of_type(typ)]


def isvcs(plan: Plan) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects(plan, ISVC)}


def loaders(plan: Plan) -> dict[str, tuple[str, str]]:
    """InferenceService name -> (model, loader), from the stack output `inferenceServices`."""
    return {
        entry["name"]: (model, loader)
        for model, by_loader in plan.outputs["inferenceServices"].items()
        for loader, entry in by_loader.items()
    }


def test_every_custom_object_fits_its_crd(plan: Plan) -> None:
    checked = 0
    for typ in CUSTOM_TYPES:
        for document in objects(plan, typ):
            validate_custom_object(document)
            checked += 1
    assert checked >= 6


def test_schema_check_refuses_unknown_and_wrong_fields(dev_plan: Plan) -> None:
    runtime = objects(dev_plan, RUNTIME)[0]
    with pytest.raises(jsonschema.ValidationError, match="'cleanpolicy' was unexpected"):
        validate_custom_object({**runtime, "spec": {**runtime["spec"], "cleanpolicy": "x"}})
    dataload = objects(dev_plan, DATALOAD)[0]
    bad = json.loads(json.dumps(dataload))
    bad["spec"]["policy"] = "Sometimes"
    with pytest.raises(jsonschema.ValidationError, match="'Sometimes' is not one of"):
        validate_custom_object(bad)


def test_storage_uri_matches_dataset_mount(plan: Plan) -> None:
    dataset = objects(plan, DATASET)[0]
    mounts = {m["name"]: m for m in dataset["spec"]["mounts"]}
    bucket = plan.outputs["bucketName"]
    by_name = loaders(plan)
    for name, service in isvcs(plan).items():
        model, loader = by_name[name]
        spec = service["spec"]["predictor"]["model"]
        if loader == "download":
            assert spec["storageUri"] == plan.outputs["modelUris"][model]
            continue
        if loader == "stream":
            # No storageUri, so KServe injects no storage initializer; vLLM reads the s3:// URI.
            assert "storageUri" not in spec
            assert spec["args"][:2] == [
                f"--model_dir={plan.outputs['modelUris'][model]}",
                "--load-format=runai_streamer",
            ]
            continue
        assert spec["storageUri"] == f"pvc://{dataset['metadata']['name']}{mounts[model]['path']}"
        assert mounts[model]["mountPoint"] == f"{plan.outputs['modelUris'][model]}/"
        assert mounts[model]["mountPoint"].startswith(f"s3://{bucket}/")
    # Exactly the models some loader reads through the cache are mounted.
    cached = {model for model, loader in by_name.values() if loader == "cache"}
    assert set(mounts) == cached


def test_dataload_targets_match_mounts(plan: Plan) -> None:
    dataset = objects(plan, DATASET)[0]
    paths = {m["path"] for m in dataset["spec"]["mounts"]}
    loads = objects(plan, DATALOAD)
    assert len(loads) == len(dataset["spec"]["mounts"])
    for load in loads:
        assert load["spec"]["dataset"]["name"] == dataset["metadata"]["name"]
        assert {t["path"] for t in load["spec"]["target"]} <= paths
        # Awaited by its gate Job, which fails fast (components/cache/dataload_gate.py).
        gate = plan.one("kubernetes:batch/v1:Job", f"{load['metadata']['name']}-gate")
        assert (
            load["metadata"]["name"]
            in gate["inputs"]["spec"]["template"]["spec"]["containers"][0]["command"][2]
        )


def test_three_models_keep_their_cache_replicas(three_model_plan: Plan) -> None:
    loads = {d["metadata"]["name"]: d for d in objects(three_model_plan, DATALOAD)}
    # mistral streams from S3 only: the cache holds no copy of it.
    assert {n: d["spec"]["target"][0]["replicas"] for n, d in loads.items()} == {
        "llama-31-8b-instruct-dataload": 2,
        "qwen25-3b-instruct-dataload": 3,
    }
    services = isvcs(three_model_plan)
    assert loaders(three_model_plan) == {
        "llama-31-8b-instruct": ("llama-31-8b-instruct", "cache"),
        "llama-31-8b-instruct-download": ("llama-31-8b-instruct", "download"),
        "mistral-7b-instruct": ("mistral-7b-instruct", "stream"),
        "qwen25-3b-instruct": ("qwen25-3b-instruct", "download"),
        "qwen25-3b-instruct-cache": ("qwen25-3b-instruct", "cache"),
        "qwen25-3b-instruct-stream": ("qwen25-3b-instruct", "stream"),
    }
    assert set(services) == set(loaders(three_model_plan))
    scale = {
        n: s["spec"]["predictor"]["annotations"]["autoscaling.knative.dev/initial-scale"]
        for n, s in services.items()
    }
    assert scale["mistral-7b-instruct"] == "1"
    assert scale["llama-31-8b-instruct"] == "0"
    assert set(three_model_plan.outputs["inferenceServices"]["mistral-7b-instruct"]) == {"stream"}


def test_dev_compares_three_loaders(dev_plan: Plan) -> None:
    assert loaders(dev_plan) == {
        "llama-31-8b-instruct": ("llama-31-8b-instruct", "cache"),
        "llama-31-8b-instruct-stream": ("llama-31-8b-instruct", "stream"),
        "llama-31-8b-instruct-download": ("llama-31-8b-instruct", "download"),
    }


def test_stream_isvc_streams_from_s3_with_irsa(plan: Plan) -> None:
    """The stream service: built-in huggingfaceserver runtime, IRSA account, the streamer's
    settings, and none of the variables that would break IRSA (components/manifests/serving.py)."""
    by_name = loaders(plan)
    streams = [s for n, s in isvcs(plan).items() if by_name[n][1] == "stream"]
    assert streams
    region = plan.outputs["region"]
    for service in streams:
        predictor = service["spec"]["predictor"]
        assert predictor["serviceAccountName"] == "model-reader"
        model = predictor["model"]
        assert model["runtime"] == "kserve-huggingfaceserver"
        env = {e["name"]: e["value"] for e in model["env"]}
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == region
        assert int(env["RUNAI_STREAMER_CONCURRENCY"]) >= 16
        # The buffer leaves most of the pod's memory to vLLM.
        limit = int(env["RUNAI_STREAMER_MEMORY_LIMIT"])
        memory = model["resources"]["limits"]["memory"]
        assert memory.endswith("Gi") and limit <= int(memory[:-2]) * 2**30 // 2
        assert json.loads(env["STORAGE_ALLOW_PATTERNS"]) == [
            "tokenizer.json",
            "tokenizer_config.json",
            "special_tokens_map.json",
            "vocab.json",
            "merges.txt",
            "config.json",
            "generation_config.json",
        ]
        for forbidden in (
            "RUNAI_STREAMER_NO_BOTO3_SESSION",
            "AWS_EC2_METADATA_DISABLED",
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
        ):
            assert forbidden not in env


def test_cache_is_on_the_data_nodes(plan: Plan) -> None:
    """Placement is matched against the labels and taints the node groups set in the plan."""
    data_group = plan.one("eks:index:ManagedNodeGroup", "cluster-data")["inputs"]
    shapes = node_shapes(plan)
    data_nodes = {s.source for s in data_shapes(plan)}
    dataset = objects(plan, DATASET)[0]
    required = dataset["spec"]["nodeAffinity"]["required"]
    as_pod = {
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}
    }
    assert landing(as_pod, shapes) == data_nodes
    runtime = objects(plan, RUNTIME)[0]["spec"]
    for part in ("master", "worker"):
        assert landing(runtime[part], shapes) == data_nodes, part
    for load in objects(plan, DATALOAD):
        assert landing(load["spec"], shapes) == data_nodes, load["metadata"]["name"]
    assert runtime["replicas"] == data_group["scalingConfig"]["desiredSize"]
    level = runtime["tieredstore"]["levels"][0]
    assert level["path"] == "/mnt/ssd0/cache" and level["quota"] == "100Gi"
    assert level["mediumtype"] == "SSD"
    assert runtime["fuse"]["cleanPolicy"] == "OnDemand"


def test_isvcs_land_on_gpu_nodes(plan: Plan) -> None:
    shapes = node_shapes(plan)
    gpu_nodes = {s.source for s in gpu_shapes(plan)}
    fuse = objects(plan, RUNTIME)[0]["spec"]["fuse"]
    for name, service in isvcs(plan).items():
        predictor = service["spec"]["predictor"]
        assert landing(predictor, shapes) == gpu_nodes, name
        assert predictor["minReplicas"] == 0
        limits = predictor["model"]["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == "1"
    # The FUSE pods serve the model pods' mounts: on the GPU nodes, through their taint.
    assert landing(fuse, shapes) == gpu_nodes


def test_dev_isvc_carries_the_seed_args(dev_plan: Plan) -> None:
    service = isvcs(dev_plan)["llama-31-8b-instruct"]["spec"]["predictor"]
    assert service["model"]["args"] == [
        "--gpu-memory-utilization=0.95",
        "--max-model-len=1024",
        "--tensor-parallel-size=1",
        "--enforce-eager",
        "--disable-log-stats",
    ]
    assert service["model"]["resources"]["requests"] == {
        "cpu": "24",
        "memory": "48Gi",
        "nvidia.com/gpu": "1",
    }
    assert service["annotations"]["autoscaling.knative.dev/initial-scale"] == "0"


def test_secret_keys_match_encrypt_options(plan: Plan) -> None:
    secret = plan.one("kubernetes:core/v1:Secret")
    assert "$.stringData" in secret["secretPaths"]
    refs = {
        (o["valueFrom"]["secretKeyRef"]["name"], o["valueFrom"]["secretKeyRef"]["key"])
        for mount in objects(plan, DATASET)[0]["spec"]["mounts"]
        for o in mount["encryptOptions"]
    }
    name = secret["inputs"]["metadata"]["name"]
    assert refs == {(name, "AWS_ACCESS_KEY_ID"), (name, "AWS_SECRET_ACCESS_KEY")}
    assert all(
        "Key" not in k for m in objects(plan, DATASET)[0]["spec"]["mounts"] for k in m["options"]
    )


def test_runtime_name_and_warmup_delivery(plan: Plan) -> None:
    runtime = objects(plan, CSR)[0]
    container = runtime["spec"]["containers"][0]
    assert runtime["spec"]["supportedModelFormats"][0]["autoSelect"] is False
    # The -gpu build, from the stack's ECR (tests/test_image_inventory.py checks the mirror).
    assert container["image"].endswith("/kserve/huggingfaceserver:v0.20.0-gpu")
    assert container["command"][:2] == ["python3", "/opt/warmup/warmup.py"]
    assert container["command"][2:] == ["--", "python3", "-m", "huggingfaceserver"]
    by_name = loaders(plan)
    for name, service in isvcs(plan).items():
        model = service["spec"]["predictor"]["model"]
        loader = by_name[name][1]
        if loader == "download":
            assert "runtime" not in model
            assert service["spec"]["predictor"]["serviceAccountName"] == "model-reader"
        elif loader == "cache":
            assert model["runtime"] == runtime["metadata"]["name"]
    configmap = plan.one("kubernetes:core/v1:ConfigMap")["inputs"]
    volume = next(v for v in runtime["spec"]["volumes"] if v["name"] == "warmup")
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    # Issue 20: no cluster-scoped object mounts a namespace's ConfigMap. The runtime lives in
    # the namespace of the ConfigMap it mounts and of every InferenceService that selects it.
    assert runtime["kind"] == "ServingRuntime"
    assert runtime["metadata"]["namespace"] == configmap["metadata"]["namespace"]
    assert {s["metadata"]["namespace"] for s in isvcs(plan).values()} == {
        runtime["metadata"]["namespace"]
    }
    assert not plan.of_type("kubernetes:serving.kserve.io/v1alpha1:ClusterServingRuntime")
    assert configmap["data"]["warmup.py"] == WARMUP_SOURCE.read_text()


def test_model_reader_service_account_uses_irsa(dev_plan: Plan) -> None:
    account = dev_plan.one("kubernetes:core/v1:ServiceAccount", "baseline-service-account")
    account = account["inputs"]["metadata"]
    role = dev_plan.one("aws:iam/role:Role", "models-storage-initializer")
    assert account["annotations"]["eks.amazonaws.com/role-arn"] == (
        f"arn:aws:iam::123456789012:role/{role['inputs'].get('name', role['name'])}"
    )
    trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"][0]
    subject = next(v for k, v in trust["Condition"]["StringEquals"].items() if k.endswith(":sub"))
    assert subject == f"system:serviceaccount:{account['namespace']}:{account['name']}"


def test_dependencies_and_destroy_order(plan: Plan) -> None:
    fluid = next(r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if r["name"] == "fluid")
    kserve = next(r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if r["name"] == "kserve")
    serving = plan.one("kubernetes:operator.knative.dev/v1beta1:KnativeServing")
    data = plan.one("eks:index:ManagedNodeGroup", "cluster-data")
    dataset = plan.of_type(DATASET)[0]
    runtime = plan.of_type(RUNTIME)[0]
    for load in plan.of_type(DATALOAD):
        # Destroy runs dependents first: ISVC -> DataLoad -> JindoRuntime -> Dataset -> Fluid.
        assert plan.depends_on(load, runtime)
        assert plan.depends_on(load, dataset)
    assert plan.depends_on(runtime, dataset)
    assert plan.depends_on(dataset, fluid)
    assert plan.depends_on(fluid, data)
    loader_of = loaders(plan)
    for service in plan.of_type(ISVC):
        assert plan.depends_on(service, kserve)
        assert plan.depends_on(service, serving)
        assert plan.depends_on(service, data)
        model, loader = loader_of[service["inputs"]["metadata"]["name"]]
        # The cache variant waits for its model in the cache; the others read S3 only.
        cached = loader == "cache"
        for load in plan.of_type(DATALOAD):
            if load["name"] == f"{model}-dataload":
                assert plan.depends_on(service, load) == cached
        if cached:
            assert plan.depends_on(service, plan.of_type(CSR)[0])
    # Namespaces and CRD-only releases need only the API server (issue 10); every other object
    # is created after, and deleted before, the data nodes that run its controller.
    api_server_only = {"kubernetes:core/v1:Namespace"}
    # CRDs only, and the DataLoad gates' reader identity (RBAC objects run nothing).
    by_name = {"kserve-crd", "istio-base", "dataload-reader"}
    for resource in plan.resources:
        if resource["type"].startswith(KIND_PREFIX) and resource["custom"]:
            if resource["type"] in api_server_only or resource["name"] in by_name:
                assert not plan.depends_on(resource, data), resource["urn"]
                continue
            assert plan.depends_on(resource, data), resource["urn"]


def test_endpoint_outputs(dev_plan: Plan) -> None:
    services = dev_plan.outputs["inferenceServices"]["llama-31-8b-instruct"]
    assert set(services) == {"cache", "stream", "download"}
    assert services["stream"]["host"] == "llama-31-8b-instruct-stream.kserve-fluid-demo.example.com"
    fluid = services["cache"]
    # Istio: KServe's VirtualService host, `<isvc>.<namespace>.<domain>` (components/hostnames.py).
    assert fluid["host"] == "llama-31-8b-instruct.kserve-fluid-demo.example.com"
    assert fluid["curl"].startswith(
        "curl -sS http://ingress-service.elb.example/openai/v1/completions"
    )
    assert "-H 'Host: llama-31-8b-instruct.kserve-fluid-demo.example.com'" in fluid["curl"]


def test_dataset_is_not_awaited_before_its_runtime_exists(dev_plan: Plan) -> None:
    """Fluid binds a Dataset only once its runtime runs, and the runtime is created after it."""
    dataset = dev_plan.one(DATASET)
    annotations = dataset["inputs"]["metadata"].get("annotations", {})
    assert "pulumi.com/waitFor" not in annotations
    assert dev_plan.depends_on(dev_plan.one(RUNTIME), dataset)


def test_model_namespace_admits_the_jindo_pods(dev_plan: Plan) -> None:
    labels = dev_plan.one("kubernetes:core/v1:Namespace", "models")["inputs"]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
    assert labels["pod-security.kubernetes.io/warn"] == "baseline"
