"""Each bad configuration is refused with a message naming the key and what is allowed."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.config.model import (
    SECRET_KEYS,
    StackKeys,
    project_key_type,
)
from tests.config_support import parse, problems
from tools.plan.stack_config import load_stack_settings, read_project


def dev_raw() -> dict[str, Any]:
    return load_stack_settings("dev").project_values()


def with_change(path: str, value: Any) -> dict[str, Any]:
    """dev config with one field replaced; path like "gpuNodes.gpuLimit" or "models.0.name"."""
    raw = copy.deepcopy(dev_raw())
    *parents, last = path.split(".")
    target: Any = raw
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return raw


def test_dev_stack_parses_to_the_seed_setup() -> None:
    config = parse(dev_raw())
    assert config.data_node_group.instance_type == "m5n.xlarge"
    assert config.data_node_group.desired_size == 3
    assert config.gpu_nodes.instance_types == ("g5.8xlarge",)
    assert config.gpu_nodes.karpenter
    assert config.models[0].s3_prefix == "models/meta-llama--Meta-Llama-3.1-8B-Instruct"
    assert config.cache_workers == 3


def test_pulumi_yaml_declares_every_key_with_type_default_and_description() -> None:
    declared = read_project()["config"]
    keys = [str(field.alias) for field in StackKeys.model_fields.values()]
    assert set(declared) == set(keys)
    assert not set(declared) & set(SECRET_KEYS)
    for key in keys:
        entry = declared[key]
        assert entry["type"] == project_key_type(key), key
        assert "default" in entry, key
        assert len(entry["description"]) > 20, key
        if entry["type"] == "array":
            assert "type" in entry["items"], key


BAD_INPUTS = [
    (
        "gpuNodes.instanceTypes",
        ["g5.huge"],
        'gpuNodes.instanceTypes[0]: "g5.huge" is not an EC2 instance type like m5n.xlarge',
    ),
    (
        "dataNodeGroup.instanceType",
        "z9.xlarge",
        'dataNodeGroup.instanceType: "z9.xlarge" is not a known instance type; see '
        "components/config/instance_types.py for the supported families",
    ),
    (
        "gpuNodes.instanceTypes",
        ["m5.large"],
        'gpuNodes.instanceTypes[0]: "m5.large" has no GPU; use a g4dn/g5/g6/g6e/p4d/p5 type',
    ),
    (
        "gpuNodes",
        {"provisioner": "nodeGroup", "minSize": 2},
        "gpuNodes: sizes must satisfy minSize <= desiredSize <= maxSize, got 2, 1, 2",
    ),
    (
        "dataNodeGroup.desiredSize",
        5,
        "dataNodeGroup: sizes must satisfy minSize <= desiredSize <= maxSize, got 3, 5, 3",
    ),
    (
        "gpuNodes",
        {"provisioner": "nodeGroup", "maxSize": 0},
        "gpuNodes.maxSize: 0 must be at least 1",
    ),
    ("dataNodeGroup.minSize", -1, "dataNodeGroup.minSize: -1 must be at least 1"),
    (
        "gpuNodes",
        {"provisioner": "nodeGroup", "instanceStoreRaid0": False, "rootDiskGiB": 50},
        "gpuNodes: rootDiskGiB 50 is too small for the serving image on the root volume "
        "(instanceStoreRaid0 false); use at least 100",
    ),
    (
        "gpuNodes",
        {"provisioner": "nodeGroup", "instanceTypes": ["g5.8xlarge", "g6.8xlarge"]},
        "gpuNodes: instanceTypes lists 2 types; the nodeGroup provisioner launches one instance "
        "type, list one (or use provisioner karpenter to pick among several)",
    ),
    ("models.0.sizeGiB", 0, "models[0].sizeGiB: 0 must be greater than 0"),
    (
        "modelBucket.name",
        "My_Bucket",
        'modelBucket.name: "My_Bucket" is not a valid S3 bucket name: 3-63 lowercase letters, '
        "digits, dots or hyphens, starting and ending with a letter or digit",
    ),
    (
        "modelBucket.name",
        "models..prod",
        'modelBucket.name: "models..prod" is not a valid S3 bucket name: no adjacent dots or '
        "dot-hyphen pairs",
    ),
    (
        "modelBucket.name",
        "192.168.1.1",
        'modelBucket.name: "192.168.1.1" is not a valid S3 bucket name: not formatted as an IP '
        "address",
    ),
    (
        "models.0.s3Prefix",
        "/models/llama/",
        'models[0].s3Prefix: "/models/llama/" must not start or end with / or contain //',
    ),
    (
        "models.0.s3Prefix",
        "models/../secrets",
        'models[0].s3Prefix: "models/../secrets" may only use letters, digits and !_.*\'()/- '
        "and no .. segments",
    ),
    (
        "models.0.name",
        "Llama_3",
        'models[0].name: "Llama_3" is not a valid Kubernetes name: lowercase letters, digits '
        "and '-', starting with a letter",
    ),
    ("networking", "linkerd", 'networking: "linkerd" is not allowed; use one of istio, kourier'),
    (
        "knative.progressDeadlineSeconds",
        600,
        # dev starts GPU nodes with Karpenter: its 10 s batching window comes on top.
        "knative.progressDeadlineSeconds: 600 is below the expected cold start of model "
        '"llama-31-8b-instruct" (700 s: 420 s for node and image + 15 GiB x 18 s/GiB + 10 s '
        "Karpenter batching); use at least 700",
    ),
    (
        "modelCache.quotaGiB",
        10,
        "modelCache.quotaGiB: 10 GiB x 3 workers x highWatermark 0.95 = 28.5 GiB is smaller "
        "than the models' size x cacheReplicas = 45 GiB",
    ),
    (
        "models.0.cacheReplicas",
        4,
        "models[0].cacheReplicas: 4 is more than the 3 cache workers (dataNodeGroup.desiredSize)",
    ),
    (
        "models.0.resources.cpu",
        "40",
        "models[0].resources.cpu: 40 CPUs do not fit a g5.8xlarge (32 vCPUs, 31825m "
        "allocatable after kubelet reservations and DaemonSets)",
    ),
    (
        "models.0.resources.gpu",
        2,
        "models[0].resources.gpu: 2 GPUs do not fit a g5.8xlarge (1 GPU)",
    ),
    (
        "vpcCidr",
        "10.0.0.0/8",
        'vpcCidr: "10.0.0.0/8" must be a /16 to /20 block (room for the subnets)',
    ),
    (
        "kubernetesVersion",
        "1.29",
        'kubernetesVersion: "1.29" is not allowed; use one of 1.33, 1.34',
    ),
    (
        "modelCache.fuseCleanPolicy",
        "Never",
        'modelCache.fuseCleanPolicy: "Never" is not allowed; use one of OnDemand, OnRuntimeDeleted',
    ),
    ("staging", "rsync", 'staging: "rsync" is not allowed; use one of job, none'),
    (
        "modelNamespace",
        "Models",
        'modelNamespace: "Models" is not a valid Kubernetes namespace name',
    ),
    (
        "models.0.vllmArgs",
        ["max-model-len=1024"],
        'models[0].vllmArgs[0]: "max-model-len=1024" must be a --flag or --flag=value string',
    ),
    (
        "knative.domain",
        "localhost",
        'knative.domain: "localhost" is not a DNS domain like example.com',
    ),
    (
        "models.0.hfRepo",
        "llama",
        'models[0].hfRepo: "llama" is not a Hugging Face repo id like org/name',
    ),
    (
        "imdsHopLimit",
        3,
        "imdsHopLimit: 3 is not allowed; use one of 1 (pods cannot reach node credentials) or 2",
    ),
    (
        "availabilityZoneCount",
        1,
        "availabilityZoneCount: 1 must be an integer from 2 to 4 (EKS needs subnets in at least "
        "two zones)",
    ),
    (
        "endpointPublicAccessCidrs",
        ["10.0.0.0/33"],
        'endpointPublicAccessCidrs[0]: "10.0.0.0/33" is not a CIDR block',
    ),
    (
        "endpointPublicAccessCidrs",
        [],
        "endpointPublicAccessCidrs: must list at least one CIDR block",
    ),
    (
        "clusterAdminArns",
        ["arn:aws:iam::123456789012:group/admins"],
        'clusterAdminArns[0]: "arn:aws:iam::123456789012:group/admins" is not an IAM role or '
        "user ARN",
    ),
    (
        "modelCache.lowWatermark",
        0.99,
        "modelCache: watermarks must satisfy 0 < lowWatermark < highWatermark <= 1, got 0.99, 0.95",
    ),
    ("models.0.minReplicas", 2, "models[0]: minReplicas 2 is greater than maxReplicas 1"),
    (
        "modelCache.quotaGiB",
        130,
        "modelCache.quotaGiB: 130 GiB does not fit the data nodes' cache volume "
        "(dataNodeGroup.cacheVolumeGiB = 120)",
    ),
    (
        "dataNodeGroup.cacheVolumeIops",
        90000,
        "dataNodeGroup.cacheVolumeIops: 90000 must be at most 80000",
    ),
    ("models.0.sizeGiB", "15", 'models[0].sizeGiB: must be a number, got "15"'),
    ("models", {"a": 1}, 'models: must be a list, got {"a": 1}'),
    ("knative", "fast", 'knative: must be an object, got "fast"'),
]


@pytest.mark.parametrize(
    ("path", "value", "message"), BAD_INPUTS, ids=[b[0] + "=" + str(b[1]) for b in BAD_INPUTS]
)
def test_bad_input_is_refused_with_its_message(path: str, value: Any, message: str) -> None:
    assert message in problems(with_change(path, value))


@pytest.mark.parametrize("region", ["eu-central", "EU-CENTRAL-1", "mars-north-1x"])
def test_unknown_region_format(region: str) -> None:
    assert problems(dev_raw(), region=region) == [
        f'aws:region: "{region}" is not an AWS region like eu-central-1'
    ]


def test_missing_region() -> None:
    assert problems(dev_raw(), region=None) == [
        "aws:region: is not set; set it with `pulumi config set aws:region <region>`"
    ]


def test_duplicated_model_names_and_overlapping_prefixes() -> None:
    raw = dev_raw()
    second = copy.deepcopy(raw["models"][0])
    second["s3Prefix"] = raw["models"][0]["s3Prefix"] + "/v2"
    raw["models"].append(second)
    raw["modelCache"]["quotaGiB"] = 100
    found = problems(raw)
    assert (
        'models[1].name: "llama-31-8b-instruct" is already used by models[0]; '
        "model names must be unique" in found
    )
    assert any(
        p.startswith('models: the S3 prefixes of "llama-31-8b-instruct"') and "overlap" in p
        for p in found
    )


def test_every_problem_is_reported_at_once() -> None:
    raw = with_change("gpuNodes.instanceTypes", ["m5.large"])
    raw["gpuNodes"]["maxSize"] = 3  # a nodeGroup key under Karpenter
    raw["networking"] = "nginx"
    raw["models"][0]["name"] = "Bad"
    found = problems(raw, region="nowhere")
    assert len(found) == 5, found
    assert [p.split(":")[0] for p in found] == [
        "aws",
        "gpuNodes.maxSize",
        "gpuNodes.instanceTypes[0]",
        "models[0].name",
        "networking",
    ]


def test_wrong_types_name_the_key() -> None:
    raw = with_change("gpuNodes", {"provisioner": "nodeGroup", "maxSize": "two"})
    raw["models"][0]["warmStart"] = "yes"
    found = problems(raw)
    assert 'gpuNodes.maxSize: must be an integer, got "two"' in found
    assert 'models[0].warmStart: must be true or false, got "yes"' in found


def test_staging_job_requires_token_and_repo() -> None:
    raw = with_change("staging", "job")
    raw["models"][0]["hfRepo"] = ""
    found = problems(raw, token=False)
    assert found == [
        'hfToken: is required when staging is "job"; set it with '
        "`pulumi config set --secret hfToken <token>`",
        'models[0].hfRepo: is required when staging is "job"',
    ]
    raw["models"][0]["hfRepo"] = "meta-llama/Meta-Llama-3.1-8B-Instruct"
    assert parse(raw, token=True).staging == "job"


def test_missing_key_says_defaults_come_from_pulumi_yaml() -> None:
    raw = dev_raw()
    del raw["knative"]
    assert "knative: is missing; it has a default in Pulumi.yaml, run through the CLI" in problems(
        raw
    )


UNKNOWN_KEYS = [
    ("gpuNode", {}, 'gpuNode: is not a known key; did you mean "gpuNodes"?'),
    ("modelBuckett", {}, 'modelBuckett: is not a known key; did you mean "modelBucket"?'),
    (
        "modelBucket.protcet",
        True,
        'modelBucket.protcet: is not a known key; did you mean "protect"?',
    ),
    (
        "models.0.hfRevison",
        "v2",
        'models[0].hfRevison: is not a known key; did you mean "hfRevision"?',
    ),
    (
        "models.0.resources.gpus",
        1,
        'models[0].resources.gpus: is not a known key; did you mean "gpu"?',
    ),
]


@pytest.mark.parametrize(
    ("path", "value", "message"), UNKNOWN_KEYS, ids=[u[0] for u in UNKNOWN_KEYS]
)
def test_unknown_key_is_refused_with_the_closest_known_one(
    path: str, value: Any, message: str
) -> None:
    assert problems(with_change(path, value)) == [message]


def test_unknown_key_in_a_second_model_names_its_index() -> None:
    raw = dev_raw()
    second = copy.deepcopy(raw["models"][0]) | {"name": "second", "s3Prefix": "models/second"}
    second["hfRevison"] = "v2"
    raw["models"].append(second)
    raw["modelCache"]["quotaGiB"] = 110
    assert problems(raw) == ['models[1].hfRevison: is not a known key; did you mean "hfRevision"?']


def test_unknown_key_without_a_close_one_lists_the_known_keys() -> None:
    found = problems(with_change("knative.zzz", 1))
    assert found == [
        "knative.zzz: is not a known key; known keys: progressDeadlineSeconds, "
        "scaleToZeroGracePeriodSeconds, domain"
    ]


def test_partial_object_is_completed_from_the_documented_defaults() -> None:
    # `pulumi config set --path knative.domain llm.example.org` on a stack without `knative`
    # stores only that field; the rest comes from the defaults Pulumi.yaml documents.
    config = parse(with_change("knative", {"domain": "llm.example.org"}))
    declared = read_project()["config"]["knative"]["default"]
    assert config.knative.domain == "llm.example.org"
    assert config.knative.progress_deadline_seconds == declared["progressDeadlineSeconds"]
    data = parse(with_change("dataNodeGroup", {"cacheVolumeGiB": 200})).data_node_group
    assert data.cache_volume_gib == 200
    assert (
        data.instance_type == read_project()["config"]["dataNodeGroup"]["default"]["instanceType"]
    )


@pytest.mark.parametrize("key", ["dataNodeGroup", "modelCache", "modelBucket", "knative"])
def test_object_defaults_match_pulumi_yaml(key: str) -> None:
    declared = read_project()["config"][key]["default"]
    completed = parse(with_change(key, {}))
    field = next(f for f, info in StackKeys.model_fields.items() if info.alias == key)
    assert getattr(completed, field).model_dump(by_alias=True) == declared


def test_numbers_are_accepted_where_a_quantity_is_expected() -> None:
    raw = with_change("models.0.resources", {"cpu": 16, "memory": 48 * 2**30, "gpu": 1})
    resources = parse(raw).models[0].resources
    assert (resources.cpu, resources.memory) == ("16", "51539607552")
    assert parse(with_change("models.0.resources.cpu", 15.5)).models[0].resources.cpu == "15.5"
    assert problems(with_change("models.0.resources.cpu", "lots")) == [
        'models[0].resources.cpu: "lots" is not a Kubernetes quantity like 24 or 4Gi'
    ]


def test_empty_model_entry_names_each_required_field() -> None:
    assert problems(with_change("models", [{}])) == [
        "models[0].name: is required",
        "models[0].s3Prefix: is required",
        "models[0].sizeGiB: is required",
        "models[0].resources: is required",
    ]
    assert problems(with_change("models", [])) == ["models: must list at least one model"]


@pytest.mark.parametrize("path", ["/var/lib/kubelet/cache", "/mnt", "mnt/cache", "/mnt/../etc"])
def test_cache_path_must_be_below_mnt(path: str) -> None:
    assert problems(with_change("modelCache.path", path)) == [
        f'modelCache.path: "{path}" must be an absolute directory below /mnt'
    ]


def test_cache_path_is_normalised() -> None:
    assert parse(with_change("modelCache.path", "/mnt/ssd0/cache/")).model_cache.path == (
        "/mnt/ssd0/cache"
    )


def test_memory_is_compared_with_what_the_node_can_allocate() -> None:
    # 126Gi is less than a g5.8xlarge's 128 GiB but more than its allocatable memory:
    # 131072 Mi - (11 x 234 max pods + 255) Mi kube-reserved - 100 Mi eviction = 128143 Mi.
    assert problems(with_change("models.0.resources.memory", "126Gi")) == [
        "models[0].resources.memory: 126Gi does not fit a g5.8xlarge (128 GiB, 128143Mi "
        "allocatable after kubelet reservations and eviction)"
    ]
    assert parse(with_change("models.0.resources.memory", "125Gi"))


def test_weights_must_fit_the_gpu_memory_vllm_may_use() -> None:
    assert problems(with_change("models.0.sizeGiB", 23)) == [
        "models[0].sizeGiB: 23 GiB of weights do not fit 1 x A10G (24 GiB) at "
        "--gpu-memory-utilization 0.95 = 22.8 GiB"
    ]


def test_gpu_memory_utilization_must_be_a_fraction() -> None:
    raw = with_change("models.0.vllmArgs", ["--gpu-memory-utilization=1.5"])
    assert problems(raw) == [
        'models[0].vllmArgs: "--gpu-memory-utilization=1.5": vLLM takes a fraction of GPU '
        "memory in (0, 1]"
    ]


def test_max_replicas_must_fit_the_gpu_node_group() -> None:
    raw = with_change("models.0.maxReplicas", 3)
    raw["gpuNodes"] = {"provisioner": "nodeGroup"}  # Karpenter's gpuLimit: test_karpenter.py
    assert problems(raw) == [
        "models[0].maxReplicas: 3 replicas x 1 GPU never fit gpuNodes.maxSize 2 x 1 GPU "
        "per g5.8xlarge = 2 GPUs"
    ]


def test_always_on_replicas_must_fit_at_once() -> None:
    raw = with_change("models.0.minReplicas", 1)
    raw["gpuNodes"] = {"provisioner": "nodeGroup", "maxSize": 1, "desiredSize": 1}
    assert problems(raw) == [
        "models: the minReplicas of all models (comparisons included) need 3 GPUs at once; "
        "gpuNodes.maxSize 1 x 1 GPU per g5.8xlarge = 1"
    ]


def test_sts_session_arn_is_refused_for_access_entries() -> None:
    arn = "arn:aws:sts::123456789012:assumed-role/platform-admins/jane"
    assert problems(with_change("clusterAdminArns", [arn])) == [
        f'clusterAdminArns[0]: "{arn}" is an STS session, which EKS access entries refuse; '
        "use the role ARN (arn:aws:iam::<account>:role/<path/>platform-admins)"
    ]


def test_an_admin_arn_listed_twice_is_refused() -> None:
    arn = "arn:aws:iam::123456789012:role/admins"
    assert problems(with_change("clusterAdminArns", [arn, arn])) == [
        f'clusterAdminArns: "{arn}" is listed twice; EKS takes one access entry per ARN'
    ]


def test_plaintext_hf_token_is_refused() -> None:
    raw = dev_raw() | {"hfToken": "hf_plain"}
    assert problems(raw) == [
        "hfToken: is stored in plain text; set it with `pulumi config set --secret hfToken <value>`"
    ]


def test_baseline_is_refused_with_what_to_write() -> None:
    # `false` asked for nothing: an old stack that says so still parses.
    assert parse(with_change("models.0.baseline", False)).models[0].loaders == (
        "cache",
        "stream",
        "download",
    )
    raw = with_change("models.0.baseline", True)
    assert problems(raw) == [
        "models[0].baseline: is replaced by compareLoaders; write `compareLoaders: [download]` "
        "for the storage-initializer InferenceService (now named <name>-download; "
        "compareLoaders: [stream, download] also deploys the streamer), or remove it"
    ]


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            "models.0.loader",
            "fluid",
            'models[0].loader: "fluid" is not allowed; use one of cache, stream, download',
        ),
        (
            "models.0.compareLoaders",
            ["stream", "s3"],
            'models[0].compareLoaders[1]: "s3" is not allowed; use one of cache, stream, download',
        ),
        (
            "models.0.compareLoaders",
            ["stream", "stream"],
            "models[0].compareLoaders: lists a loader twice",
        ),
        (
            "models.0.compareLoaders",
            ["cache", "stream"],
            'models[0]: compareLoaders lists "cache", the model\'s own loader; list only the '
            "other loaders to deploy beside it",
        ),
    ],
)
def test_loader_settings_are_checked(path: str, value: Any, expected: str) -> None:
    assert problems(with_change(path, value)) == [expected]


def test_every_loader_of_a_model_must_fit_the_gpu_limit() -> None:
    raw = with_change("gpuNodes.gpuLimit", 2)
    assert problems(raw) == [
        "gpuNodes.gpuLimit: 2 GPUs cannot start all InferenceServices of one model at once "
        "(one per loader; needs 3); use at least 3"
    ]


def test_the_longest_loader_name_decides_the_name_length() -> None:
    # "-download-predictor" is the longest suffix: 63 - 19 = 44 characters.
    ok = with_change("models.0.name", "a" * 44)
    assert parse(ok).models[0].name == "a" * 44
    found = problems(with_change("models.0.name", "a" * 45))
    assert found[0].startswith(
        'models[0].name: "'
        + "a" * 45
        + '" is too long: KServe names the Knative Service "'
        + "a" * 45
        + '-download-predictor" (64 characters)'
    )
    # Without the download comparison the stream one is the longest: 63 - 17 = 46.
    raw = with_change("models.0.name", "a" * 46)
    raw["models"][0]["compareLoaders"] = ["stream"]
    assert parse(raw).models[0].name == "a" * 46


def test_a_model_without_the_cache_loader_needs_no_cache_replicas() -> None:
    raw = with_change("models.0.cacheReplicas", 9)
    assert problems(raw)[0].startswith("models[0].cacheReplicas: 9 is more than the 3 cache")
    raw["models"][0]["loader"] = "stream"
    raw["models"][0]["compareLoaders"] = ["download"]
    assert parse(raw).models[0].loaders == ("stream", "download")
