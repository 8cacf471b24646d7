"""Each bad configuration is refused with a message naming the key and what is allowed."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.config import PROJECT_KEYS, SECRET_KEYS, ConfigError, StackConfig, parse_config
from tools.stack_config import load_stack_settings, read_project


def dev_raw() -> dict[str, Any]:
    settings = load_stack_settings("dev")
    return {key: settings.raw(key) for key in PROJECT_KEYS}


def parse(
    raw: dict[str, Any], region: str | None = "eu-central-1", token: bool = False
) -> StackConfig:
    return parse_config(raw, project="kserve-fluid", stack="t", region=region, has_hf_token=token)


def problems(raw: dict[str, Any], **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(raw, **kwargs)
    return caught.value.problems


def with_change(path: str, value: Any) -> dict[str, Any]:
    """dev config with one field replaced; path like "gpuNodeGroup.maxSize" or "models.0.name"."""
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
    assert config.gpu_node_group.instance_type == "g5.8xlarge"
    assert config.models[0].s3_prefix == "models/meta-llama--Meta-Llama-3.1-8B-Instruct"
    assert config.cache_workers == 3


def test_pulumi_yaml_declares_every_key_with_type_default_and_description() -> None:
    declared = read_project()["config"]
    assert set(declared) == set(PROJECT_KEYS) | set(SECRET_KEYS)
    for key, kind in PROJECT_KEYS.items():
        entry = declared[key]
        assert entry["type"] == ("array" if kind == "array" else kind), key
        assert "default" in entry, key
        assert len(entry["description"]) > 20, key
        if kind == "array":
            assert "type" in entry["items"], key
    assert declared["hfToken"]["secret"] is True


BAD_INPUTS = [
    (
        "gpuNodeGroup.instanceType",
        "g5.huge",
        'gpuNodeGroup.instanceType: "g5.huge" is not an EC2 instance type like m5n.xlarge',
    ),
    (
        "dataNodeGroup.instanceType",
        "z9.xlarge",
        'dataNodeGroup.instanceType: "z9.xlarge" is not a known instance type; see '
        "components/instance_types.py for the supported families",
    ),
    (
        "gpuNodeGroup.instanceType",
        "m5.large",
        'gpuNodeGroup.instanceType: "m5.large" has no GPU; use a g4dn/g5/g6/g6e/p4d/p5 type',
    ),
    (
        "gpuNodeGroup.minSize",
        2,
        "gpuNodeGroup: sizes must satisfy minSize <= desiredSize <= maxSize, got 2, 1, 2",
    ),
    (
        "dataNodeGroup.desiredSize",
        5,
        "dataNodeGroup: sizes must satisfy minSize <= desiredSize <= maxSize, got 3, 5, 3",
    ),
    ("gpuNodeGroup.maxSize", 0, "gpuNodeGroup.maxSize: 0 must be at least 1"),
    ("dataNodeGroup.minSize", -1, "dataNodeGroup.minSize: -1 must be at least 1"),
    ("gpuNodeGroup.rootDiskGiB", 20, "gpuNodeGroup.rootDiskGiB: 20 must be at least 100"),
    ("models.0.sizeGiB", 0, "models[0].sizeGiB: 0.0 must be greater than 0"),
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
        "knative.progressDeadlineSeconds: 600 is below the expected cold start of model "
        '"llama-31-8b-instruct" (690 s: 420 s for node and image + 15 GiB x 18 s/GiB); '
        "use at least 690",
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
        "models[0].resources.cpu: 40 CPUs do not fit a g5.8xlarge (32 vCPUs)",
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
]


@pytest.mark.parametrize(
    ("path", "value", "message"), BAD_INPUTS, ids=[b[0] + "=" + str(b[1]) for b in BAD_INPUTS]
)
def test_bad_input_is_refused_with_its_message(path: str, value: Any, message: str) -> None:
    assert message in problems(with_change(path, value))


@pytest.mark.parametrize("region", ["eu-central", "EU-CENTRAL-1", "mars-north-1x", None])
def test_unknown_region_format(region: str | None) -> None:
    shown = "None" if region is None else f'"{region}"'
    assert problems(dev_raw(), region=region) == [
        f"aws:region: {shown} is not an AWS region like eu-central-1"
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
    raw = with_change("gpuNodeGroup.instanceType", "m5.large")
    raw["networking"] = "nginx"
    raw["models"][0]["name"] = "Bad"
    found = problems(raw, region="nowhere")
    assert len(found) == 4, found
    assert [p.split(":")[0] for p in found] == [
        "aws",
        "gpuNodeGroup.instanceType",
        "models[0].name",
        "networking",
    ]


def test_wrong_types_name_the_key() -> None:
    raw = with_change("gpuNodeGroup.maxSize", "two")
    raw["models"][0]["baseline"] = "yes"
    found = problems(raw)
    assert 'gpuNodeGroup.maxSize: must be an integer, got "two"' in found
    assert 'models[0].baseline: must be true or false, got "yes"' in found


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
