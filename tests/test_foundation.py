"""The AWS half of the dev and prod stacks, asserted on the offline plan's JSON."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

from tests.plan_support import Plan, PlanFailure, run_plan

MNG = "eks:index:ManagedNodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


def node_group(plan: Plan, role: str) -> dict:
    return plan.one(MNG, f"cluster-{role}")


def launch_template_of(plan: Plan, group: dict) -> dict:
    template_urn = next(urn for urn in group["dependencies"] if LAUNCH_TEMPLATE in urn)
    return plan.by_urn()[template_urn]


def test_gpu_node_group_matches_the_gpu_recipe(node_group_plan: Plan) -> None:
    gpu = node_group(node_group_plan, "gpu")["inputs"]
    assert gpu["instanceTypes"] == ["g5.8xlarge"]
    assert gpu["amiType"] == "AL2023_x86_64_NVIDIA"
    assert gpu["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert gpu["labels"]["nvidia.com/gpu.present"] == "true"
    assert gpu["scalingConfig"] == {"minSize": 0, "desiredSize": 1, "maxSize": 2}
    assert gpu["nodeGroupName"] == "kserve-fluid-dev-gpu"
    assert gpu["version"] == "1.34", "with a launch template pulumi-eks does not follow the cluster"
    assert "diskSize" not in gpu, "disk size belongs in the launch template when one is used"


def test_data_node_group_matches_the_seed(dev_plan: Plan) -> None:
    data = node_group(dev_plan, "data")["inputs"]
    assert data["instanceTypes"] == ["m5n.xlarge"]
    assert data["amiType"] == "AL2023_x86_64_STANDARD"
    assert data["scalingConfig"] == {"minSize": 3, "desiredSize": 3, "maxSize": 3}
    assert "taints" not in data
    assert data["subnetIds"] == [f"network-private-{zone}-id" for zone in (1, 2, 3)]


def test_launch_templates_require_imdsv2_and_encrypt_disks(node_group_plan: Plan) -> None:
    for role, root_size in (("data", 50), ("gpu", 100)):
        group = node_group(node_group_plan, role)
        template = launch_template_of(node_group_plan, group)["inputs"]
        assert group["inputs"]["launchTemplate"]["id"] == f"cluster-{role}-lt-id"
        metadata = template["metadataOptions"]
        assert metadata["httpTokens"] == "required"
        assert metadata["httpPutResponseHopLimit"] == 1
        devices = {d["deviceName"]: d["ebs"] for d in template["blockDeviceMappings"]}
        assert devices["/dev/xvda"]["volumeSize"] == root_size
        assert all(ebs["encrypted"] == "true" for ebs in devices.values())
        assert "imageId" not in template, "EKS must pick the AMI from amiType"


def test_data_nodes_mount_the_cache_volume_at_the_cache_path(dev_plan: Plan) -> None:
    template = launch_template_of(dev_plan, node_group(dev_plan, "data"))["inputs"]
    cache = next(d for d in template["blockDeviceMappings"] if d["deviceName"] == "/dev/xvdb")
    assert cache["ebs"] | {} == {
        "volumeSize": 120,
        "volumeType": "gp3",
        "iops": 3000,
        "throughput": 250,
        "encrypted": "true",
        "deleteOnTermination": "true",
    }
    user_data = base64.b64decode(template["userData"]).decode()
    assert "Content-Type: text/x-shellscript" in user_data
    assert "mkfs.xfs -L modelcache /dev/xvdb" in user_data
    assert "LABEL=modelcache /mnt/ssd0/cache xfs" in user_data


def test_gpu_nodes_put_containerd_on_the_instance_store(node_group_plan: Plan) -> None:
    template = launch_template_of(node_group_plan, node_group(node_group_plan, "gpu"))["inputs"]
    user_data = base64.b64decode(template["userData"]).decode()
    assert "Content-Type: application/node.eks.aws" in user_data
    assert "strategy: RAID0" in user_data


def test_cluster_uses_api_access_oidc_kms_and_logs(dev_plan: Plan) -> None:
    cluster = dev_plan.one("eks:index:Cluster")
    inputs = cluster["inputs"]
    key = dev_plan.one("aws:kms/key:Key")
    log_group = dev_plan.one("aws:cloudwatch/logGroup:LogGroup")
    assert inputs["authenticationMode"] == "API"
    assert inputs["createOidcProvider"] is True
    assert inputs["skipDefaultNodeGroup"] is True
    assert inputs["encryptionConfigKeyArn"] == (
        "arn:aws:kms:eu-central-1:123456789012:cluster-secrets-key"
    )
    assert key["urn"] in cluster["dependencies"]
    assert key["inputs"]["enableKeyRotation"] is True
    assert set(inputs["enabledClusterLogTypes"]) == {"api", "audit", "authenticator"}
    assert log_group["inputs"]["name"] == "/aws/eks/kserve-fluid-dev/cluster"
    assert log_group["urn"] in cluster["dependencies"]
    assert inputs["version"] == "1.34"


def test_model_bucket_is_hardened(dev_plan: Plan) -> None:
    bucket = dev_plan.one("aws:s3/bucket:Bucket")
    block = dev_plan.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")["inputs"]
    assert {k: block[k] for k in block if k != "bucket"} == {
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    sse = dev_plan.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )["inputs"]["rules"][0]["applyServerSideEncryptionByDefault"]
    assert sse["sseAlgorithm"] == "AES256"
    versioning = dev_plan.one("aws:s3/bucketVersioning:BucketVersioning")["inputs"]
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    lifecycle = dev_plan.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")[
        "inputs"
    ]["rules"][0]
    assert lifecycle["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 3
    policy = json.loads(dev_plan.one("aws:s3/bucketPolicy:BucketPolicy")["inputs"]["policy"])
    deny = policy["Statement"][0]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert bucket["inputs"]["forceDestroy"] is True
    assert bucket["protect"] is False and bucket["retainOnDelete"] is False


def test_reader_policy_only_reads_the_model_bucket(dev_plan: Plan) -> None:
    reader = dev_plan.one("aws:iam/policy:Policy", "models-read-models")
    policy = json.loads(reader["inputs"]["policy"])
    actions = sorted(
        a
        for s in policy["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )
    assert actions == ["s3:GetObject", "s3:ListBucket"]
    bucket = dev_plan.outputs["bucketName"]
    objects = next(s for s in policy["Statement"] if s["Action"] == ["s3:GetObject"])
    assert objects["Resource"] == [
        f"arn:aws:s3:::{bucket}/models/meta-llama--Meta-Llama-3.1-8B-Instruct/*"
    ]
    # Listing the (models-only) bucket keeps a missing key a 404 rather than a 403.
    listing = next(s for s in policy["Statement"] if s["Action"] == "s3:ListBucket")
    assert listing["Resource"] == f"arn:aws:s3:::{bucket}"
    assert len(policy["Statement"]) == 2


def test_storage_initializer_role_trusts_one_service_account(dev_plan: Plan) -> None:
    role = dev_plan.one("aws:iam/role:Role", "models-storage-initializer")
    trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"][0]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    conditions = trust["Condition"]["StringEquals"]
    issuer = "oidc.eks.eu-central-1.amazonaws.com/id/KSERVE-FLUID-DEV"
    assert conditions == {
        f"{issuer}:sub": "system:serviceaccount:kserve-fluid-demo:model-reader",
        f"{issuer}:aud": "sts.amazonaws.com",
    }


def test_stack_outputs_and_secret_kubeconfig(dev_plan: Plan) -> None:
    outputs = dev_plan.outputs
    assert outputs["clusterName"] == "kserve-fluid-dev"
    assert outputs["kubeconfig"] == "[secret]"
    assert outputs["dataNodeGroupName"] == "kserve-fluid-dev-data"
    assert outputs["gpuNodePool"] == "gpu"
    assert "gpuNodeGroupName" not in outputs, "no GPU node group under Karpenter"
    assert outputs["modelUris"] == {
        "llama-31-8b-instruct": f"s3://{outputs['bucketName']}/models/meta-llama--Meta-Llama-3.1-8B-Instruct"
    }


def test_every_kubernetes_object_uses_the_explicit_provider(dev_plan: Plan) -> None:
    provider = dev_plan.one("pulumi:providers:kubernetes")
    assert provider["inputs"]["enableServerSideApply"] == "true"
    assert provider["inputs"]["clusterIdentifier"] == "kserve-fluid-dev"
    kubernetes = [r for r in dev_plan.resources if r["type"].startswith("kubernetes:")]
    for resource in kubernetes:
        assert resource["provider"].startswith(provider["urn"] + "::"), resource["urn"]


def test_prod_protects_the_bucket_and_restricts_the_endpoint(prod_plan: Plan) -> None:
    bucket = prod_plan.one("aws:s3/bucket:Bucket")
    assert bucket["protect"] is True
    assert bucket["retainOnDelete"] is True
    assert bucket["inputs"]["bucket"] == "acme-llm-models-prod-eu-central-1"
    assert bucket["inputs"]["forceDestroy"] is False
    for hardening in (
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketVersioning:BucketVersioning",
    ):
        child = prod_plan.one(hardening)
        assert child["protect"] is True and child["retainOnDelete"] is True, hardening
    cluster = prod_plan.one("eks:index:Cluster")
    assert cluster["protect"] is True
    assert cluster["inputs"]["publicAccessCidrs"] == ["203.0.113.0/24", "198.51.100.10/32"]
    node_pool = prod_plan.one("kubernetes:karpenter.sh/v1:NodePool")["inputs"]["spec"]
    assert node_pool["limits"] == {"nvidia.com/gpu": "8"}
    assert node_pool["disruption"]["consolidateAfter"] == "60m"


def test_bad_config_exits_before_any_resource(scratch: Path) -> None:
    result = run_plan(
        scratch,
        sets={
            "networking": "nginx",
            "gpuNodes": {"provisioner": "nodeGroup", "instanceTypes": ["m5.large"]},
        },
    )
    assert isinstance(result, PlanFailure)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("invalid stack configuration (")
    # The partial gpuNodes (as `pulumi config set --path` writes it) is completed from the
    # defaults, so only the two real problems are reported.
    assert lines[1:] == [
        'gpuNodes.instanceTypes[0]: "m5.large" has no GPU; use a g4dn/g5/g6/g6e/p4d/p5 type',
        'networking: "nginx" is not allowed; use one of istio, kourier',
    ]
    assert not (scratch / "resources.json").exists()


def test_secrets_never_reach_state_in_plain_text(tmp_path: Path) -> None:
    sentinel = "SENTINEL-d1c2b3a4"
    plan = run_plan(
        tmp_path / "plan",
        sets={"staging": "job"},
        secrets={"hfToken": f"hf_{sentinel}"},
        secret_value=sentinel,
    )
    assert isinstance(plan, Plan), getattr(plan, "stderr", "")
    leaks = [
        str(path.relative_to(tmp_path))
        for path in (tmp_path / "plan").rglob("*")
        if path.is_file() and sentinel in path.read_text()
    ]
    assert leaks == []


def test_iam_tag_values_use_only_allowed_characters(dev_plan: Plan) -> None:
    allowed = re.compile(r"^[\w\s.:/=+\-@]*$")
    for resource in dev_plan.resources:
        if resource["type"].startswith("aws:iam/"):
            for key, value in (resource["inputs"].get("tags") or {}).items():
                assert allowed.match(value), f"{resource['name']}: tag {key}={value!r}"
