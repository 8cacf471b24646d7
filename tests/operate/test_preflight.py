"""`tools/operate/preflight.py` against moto as a real server, plus the stub for what moto lacks."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from tests.operate.conftest import AwsStub, make_clients
from tools.operate import preflight
from tools.operate.preflight import Check
from tools.plan.stack_config import ROOT, load_typed_config

ZONES = "eu-central-1a, eu-central-1b, eu-central-1c"
MOTO_CALLER = "arn:aws:iam::123456789012:user/moto"
ENOUGH_QUOTAS = {"L-1216C47A": 640.0, "L-DB2E81BA": 96.0}


@pytest.fixture(scope="module")
def dev_config() -> Any:
    """dev with the GPU node group these checks are about (Karpenter: see the next file)."""
    config = load_typed_config("dev")
    node_group = config.gpu_nodes.model_copy(update={"provisioner": "nodeGroup"})
    return config.model_copy(update={"gpu_nodes": node_group})


def _with_gpu(config: Any, **changes: Any) -> Any:
    return config.model_copy(update={"gpu_nodes": config.gpu_nodes.model_copy(update=changes)})


def _stack_file(tmp_path: Path, **config: Any) -> Path:
    """Pulumi.dev.yaml with some project keys replaced (for the whole command)."""
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    for key, value in config.items():
        document["config"][f"kserve-fluid:{key}"] = value
    path = tmp_path / "Pulumi.check.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


# --- instance types (moto's offering data) ----------------------------------------------------


def test_instance_type_offered_in_every_zone(aws: str) -> None:
    check = preflight.check_instance_type(
        make_clients("eu-central-1", aws), "gpuNodes.instanceTypes", "g5.8xlarge", 3
    )
    assert check == Check(
        "instance type g5.8xlarge",
        "pass",
        f"gpuNodes.instanceTypes: offered in 3 of the stack's 3 zones ({ZONES})",
    )


def test_instance_type_not_offered_in_region(aws: str) -> None:
    # moto's offering data has no p5.48xlarge in eu-central-1.
    check = preflight.check_instance_type(
        make_clients("eu-central-1", aws), "gpuNodes.instanceTypes", "p5.48xlarge", 3
    )
    assert check == Check(
        "instance type p5.48xlarge",
        "fail",
        "gpuNodes.instanceTypes: p5.48xlarge is offered in 0 of the stack's 3 zones in "
        "eu-central-1; EKS node groups need it in at least 2; pick another instance type or region",
    )


def test_instance_type_offered_in_one_zone(aws: str) -> None:
    # moto offers p4d.24xlarge only in eu-west-1c.
    check = preflight.check_instance_type(
        make_clients("eu-west-1", aws), "gpuNodes.instanceTypes", "p4d.24xlarge", 3
    )
    assert check.status == "fail"
    assert check.detail == (
        "gpuNodes.instanceTypes: p4d.24xlarge is offered in 1 of the stack's 3 zones in "
        "eu-west-1 (eu-west-1c); EKS node groups need it in at least 2; "
        "pick another instance type or region"
    )


def test_instance_type_counts_only_the_stacks_zones(aws: str) -> None:
    # us-east-1 has six zones; a two-zone VPC uses the first two, and both sell g6e.
    clients = make_clients("us-east-1", aws)
    assert preflight.stack_zones(clients, 2) == ["us-east-1a", "us-east-1b"]
    check = preflight.check_instance_type(clients, "gpuNodes.instanceTypes", "g6e.xlarge", 2)
    assert check.detail == (
        "gpuNodes.instanceTypes: offered in 2 of the stack's 2 zones (us-east-1a, us-east-1b)"
    )


# --- vCPU quotas ------------------------------------------------------------------------------


def test_quota_demands_of_the_dev_stack(dev_config: Any) -> None:
    demands, skipped = preflight.quota_demands(dev_config)
    assert skipped == []
    assert [(d.quota_code, d.vcpus, d.describe()) for d in demands] == [
        ("L-1216C47A", 12, "dataNodeGroup.maxSize 3 x m5n.xlarge 4 vCPUs"),
        ("L-DB2E81BA", 64, "gpuNodes.maxSize 2 x g5.8xlarge 32 vCPUs"),
    ]


@pytest.mark.parametrize(
    ("instance_type", "capacity", "code"),
    [
        ("g5.8xlarge", "ON_DEMAND", "L-DB2E81BA"),
        ("g6e.xlarge", "SPOT", "L-3819A6DF"),
        ("p4d.24xlarge", "ON_DEMAND", "L-417A185B"),
        ("p5.48xlarge", "SPOT", "L-7212CCBC"),
    ],
)
def test_quota_code_follows_class_and_capacity(
    dev_config: Any, instance_type: str, capacity: str, code: str
) -> None:
    config = _with_gpu(dev_config, instance_types=(instance_type,), capacity_type=capacity)
    demands, _ = preflight.quota_demands(config)
    assert demands[1].quota_code == code


def test_gpu_quota_too_low(aws: str, aws_stub: AwsStub, dev_config: Any) -> None:
    # moto has no EC2 quotas (Service Quotas only knows "vpc"): the stub answers.
    aws_stub.quotas = {"L-1216C47A": 640.0, "L-DB2E81BA": 32.0}
    clients = make_clients("eu-central-1", aws, aws_stub.endpoints())
    data, gpu = preflight.check_vcpu_quotas(clients, dev_config)
    assert data == Check(
        "vCPU quota L-1216C47A",
        "pass",
        '"Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances" is 640 vCPUs; '
        "needs 12 (dataNodeGroup.maxSize 3 x m5n.xlarge 4 vCPUs)",
    )
    assert gpu == Check(
        "vCPU quota L-DB2E81BA",
        "fail",
        '"Running On-Demand G and VT instances" is 32 vCPUs in eu-central-1; needs 64 '
        "(gpuNodes.maxSize 2 x g5.8xlarge 32 vCPUs); request an increase "
        "(Service Quotas, ec2 L-DB2E81BA) or lower gpuNodes.maxSize",
    )
    assert ("GetServiceQuota", {"ServiceCode": "ec2", "QuotaCode": "L-DB2E81BA"}) in aws_stub.calls


def test_quota_exactly_enough_passes(aws: str, aws_stub: AwsStub, dev_config: Any) -> None:
    aws_stub.quotas = dict(ENOUGH_QUOTAS)
    clients = make_clients("eu-central-1", aws, aws_stub.endpoints())
    assert [c.status for c in preflight.check_vcpu_quotas(clients, dev_config)] == ["pass", "pass"]


def test_quota_falls_back_to_the_aws_default(aws: str, aws_stub: AwsStub, dev_config: Any) -> None:
    aws_stub.default_quotas = {"L-1216C47A": 5.0, "L-DB2E81BA": 64.0}
    clients = make_clients("eu-central-1", aws, aws_stub.endpoints())
    data, gpu = preflight.check_vcpu_quotas(clients, dev_config)
    assert data.status == "fail"
    assert data.detail.startswith(
        '"Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances" is 5 vCPUs '
        "(the AWS default; no account value was returned) in eu-central-1; needs 12"
    )
    assert gpu.status == "pass"


def test_quota_unreadable_in_moto_is_skipped(aws: str, dev_config: Any) -> None:
    clients = make_clients("eu-central-1", aws)
    checks = preflight.check_vcpu_quotas(clients, dev_config)
    assert [c.status for c in checks] == ["skip", "skip"]
    assert checks[1].detail == (
        '"Running On-Demand G and VT instances" cannot be read here '
        "(GetAWSDefaultServiceQuota: HTTP 500 without an AWS error); "
        "it must allow 64 vCPUs (gpuNodes.maxSize 2 x g5.8xlarge 32 vCPUs)"
    )


def test_quota_access_denied_is_skipped(dev_config: Any) -> None:
    class DeniedQuotas:
        def get_service_quota(self, **_: Any) -> Any:
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetServiceQuota"
            )

    clients = preflight.AwsClients(boto3.Session(), "eu-central-1")
    clients._clients["service-quotas"] = DeniedQuotas()
    demand = preflight.quota_demands(dev_config)[0][1]
    check = preflight.check_vcpu_quota(clients, "L-DB2E81BA", [demand])
    assert check == Check(
        "vCPU quota L-DB2E81BA",
        "skip",
        "the caller may not read Service Quotas (servicequotas:GetServiceQuota); "
        '"Running On-Demand G and VT instances" must allow 64 vCPUs '
        "(gpuNodes.maxSize 2 x g5.8xlarge 32 vCPUs)",
    )


# --- EKS version ------------------------------------------------------------------------------


def test_eks_version_unsupported_api_is_skipped(aws: str) -> None:
    check = preflight.check_eks_version(make_clients("eu-central-1", aws), "1.34")
    assert check == Check(
        "EKS version 1.34",
        "skip",
        "neither DescribeClusterVersions nor DescribeAddonVersions is available here "
        "(DescribeClusterVersions: HTTP 404 without an AWS error; "
        "DescribeAddonVersions: HTTP 404 without an AWS error)",
    )


def test_eks_version_in_standard_support(aws_stub: AwsStub, aws: str) -> None:
    end = datetime(2026, 12, 2, tzinfo=UTC).timestamp()
    aws_stub.eks_versions = {
        "1.34": {"clusterVersion": "1.34", "versionStatus": "STANDARD_SUPPORT",
                 "endOfStandardSupportDate": end},
        "1.29": {"clusterVersion": "1.29", "versionStatus": "UNSUPPORTED"},
    }  # fmt: skip
    clients = make_clients("eu-central-1", aws, aws_stub.endpoints())
    assert preflight.check_eks_version(clients, "1.34") == Check(
        "EKS version 1.34",
        "pass",
        "kubernetesVersion: 1.34 is in standard support until 2026-12-02",
    )
    assert aws_stub.calls[0] == (
        "DescribeClusterVersions",
        {"clusterVersions": ["1.34"], "includeAll": ["true"]},
    )
    assert preflight.check_eks_version(clients, "1.29") == Check(
        "EKS version 1.29",
        "fail",
        "kubernetesVersion: 1.29 is no longer supported by EKS in eu-central-1",
    )
    assert preflight.check_eks_version(clients, "1.35") == Check(
        "EKS version 1.35", "fail", "kubernetesVersion: 1.35 is not offered in eu-central-1"
    )


def test_eks_version_falls_back_to_addon_versions(aws_stub: AwsStub, aws: str) -> None:
    # A partition without DescribeClusterVersions: the vpc-cni add-on's compatibility decides.
    aws_stub.cluster_versions_error = "UnknownOperationException"
    aws_stub.vpc_cni_versions = ["1.33", "1.34"]
    clients = make_clients("eu-central-1", aws, aws_stub.endpoints())
    assert preflight.check_eks_version(clients, "1.34") == Check(
        "EKS version 1.34", "pass", "kubernetesVersion: the vpc-cni add-on supports 1.34"
    )
    assert aws_stub.calls[-1] == (
        "DescribeAddonVersions",
        {"kubernetesVersion": ["1.34"], "addonName": ["vpc-cni"]},
    )
    assert preflight.check_eks_version(clients, "1.35") == Check(
        "EKS version 1.35",
        "fail",
        "kubernetesVersion: no vpc-cni add-on version supports 1.35 in eu-central-1; "
        "EKS does not offer it there",
    )


# --- model bucket -----------------------------------------------------------------------------


def test_generated_bucket_name_is_skipped(aws: str) -> None:
    assert preflight.check_bucket_name(make_clients("eu-central-1", aws), "") == Check(
        "model bucket", "skip", "modelBucket.name is empty: Pulumi generates a unique name"
    )


def test_free_bucket_name_passes(aws: str) -> None:
    check = preflight.check_bucket_name(make_clients("eu-central-1", aws), "kserve-fluid-free")
    assert check == Check("model bucket", "pass", 'modelBucket.name: "kserve-fluid-free" is free')


def test_our_bucket_passes_in_our_region_only(aws: str) -> None:
    clients = make_clients("eu-central-1", aws)
    clients.client("s3").create_bucket(
        Bucket="kserve-fluid-ours",
        CreateBucketConfiguration={"LocationConstraint": "eu-central-1"},
    )
    assert preflight.check_bucket_name(clients, "kserve-fluid-ours").status == "pass"
    elsewhere = make_clients("eu-west-1", aws)
    assert preflight.check_bucket_name(elsewhere, "kserve-fluid-ours") == Check(
        "model bucket",
        "fail",
        'modelBucket.name: bucket "kserve-fluid-ours" is ours but in eu-central-1, not in the '
        "stack's region eu-west-1",
    )


def _other_account_session(endpoint: str) -> boto3.Session:
    """Credentials of account 111111111111: moto maps assumed-role keys to the role's account."""
    sts = boto3.client("sts", region_name="eu-central-1", endpoint_url=endpoint)
    credentials = sts.assume_role(
        RoleArn="arn:aws:iam::111111111111:role/someone-else", RoleSessionName="other"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name="eu-central-1",
    )


def test_bucket_of_another_account_fails(aws: str) -> None:
    # With MOTO_S3_ALLOW_CROSSACCOUNT_ACCESS=false moto answers HeadBucket with 403, as S3 does.
    other = make_clients("eu-central-1", aws, session=_other_account_session(aws))
    assert other.client("sts").get_caller_identity()["Account"] == "111111111111"
    other.client("s3").create_bucket(
        Bucket="kserve-fluid-theirs",
        CreateBucketConfiguration={"LocationConstraint": "eu-central-1"},
    )
    check = preflight.check_bucket_name(make_clients("eu-central-1", aws), "kserve-fluid-theirs")
    assert check == Check(
        "model bucket",
        "fail",
        'modelBucket.name: bucket "kserve-fluid-theirs" exists and is not ours (HeadBucket: 403 '
        "Forbidden: another account owns it, or this identity lacks s3:ListBucket on it); "
        "bucket names are global, choose another or leave it empty",
    )


# --- permissions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caller", "principal"),
    [
        ("arn:aws:iam::123456789012:user/dev", "arn:aws:iam::123456789012:user/dev"),
        ("arn:aws:iam::123456789012:user/ops/dev", "arn:aws:iam::123456789012:user/ops/dev"),
        ("arn:aws:sts::123456789012:user/moto", "arn:aws:iam::123456789012:user/moto"),
        (
            "arn:aws:sts::123456789012:assumed-role/Admin/jane@example.com",
            "arn:aws:iam::123456789012:role/Admin",
        ),
        (
            "arn:aws-cn:sts::123456789012:assumed-role/Deployer/ci",
            "arn:aws-cn:iam::123456789012:role/Deployer",
        ),
        ("arn:aws:iam::123456789012:root", None),
        ("arn:aws:sts::123456789012:federated-user/bob", None),
        ("not-an-arn", None),
    ],
)
def test_simulation_principal(caller: str, principal: str | None) -> None:
    assert preflight.simulation_principal(caller) == principal


def test_role_path_is_resolved_with_get_role(aws: str) -> None:
    clients = make_clients("eu-central-1", aws)
    clients.client("iam").create_role(
        RoleName="AWSReservedSSO_Admin_0123",
        Path="/aws-reserved/sso.amazonaws.com/",
        AssumeRolePolicyDocument="{}",
    )
    assert preflight.resolve_role_arn(
        clients, "arn:aws:iam::123456789012:role/AWSReservedSSO_Admin_0123"
    ) == ("arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123")
    missing = "arn:aws:iam::123456789012:role/Gone"
    assert preflight.resolve_role_arn(clients, missing) == missing


def test_simulation_unavailable_in_moto_is_skipped(aws: str) -> None:
    check = preflight.check_permissions(make_clients("eu-central-1", aws))
    assert check == Check(
        "IAM permissions",
        "skip",
        "the simulation failed (the endpoint's answer is not an AWS response); "
        f"permissions of {MOTO_CALLER} not checked",
    )


def test_all_actions_allowed(aws: str, aws_stub: AwsStub) -> None:
    check = preflight.check_permissions(make_clients("eu-central-1", aws, aws_stub.endpoints()))
    assert check == Check(
        "IAM permissions", "pass", f"{MOTO_CALLER} may perform all 18 checked actions"
    )
    action, form = aws_stub.calls[-1]
    assert action == "SimulatePrincipalPolicy"
    assert form["PolicySourceArn"] == MOTO_CALLER
    assert form["ActionNames.member.1"] == "ec2:CreateVpc"


def test_denied_actions_fail(aws: str, aws_stub: AwsStub) -> None:
    aws_stub.denied = {"iam:CreateUser": "implicitDeny", "iam:CreateAccessKey": "explicitDeny"}
    check = preflight.check_permissions(make_clients("eu-central-1", aws, aws_stub.endpoints()))
    assert check == Check(
        "IAM permissions",
        "fail",
        f"{MOTO_CALLER} may not perform: iam:CreateAccessKey (explicitDeny), "
        "iam:CreateUser (implicitDeny)",
    )


def test_assumed_role_is_simulated_as_its_role(aws: str, aws_stub: AwsStub) -> None:
    sts = boto3.client("sts", region_name="eu-central-1", endpoint_url=aws)
    credentials = sts.assume_role(
        RoleArn="arn:aws:iam::123456789012:role/deployer", RoleSessionName="ci"
    )["Credentials"]
    session = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    clients = make_clients("eu-central-1", aws, aws_stub.endpoints(), session=session)
    assert preflight.check_permissions(clients).status == "pass"
    sources = [
        form["PolicySourceArn"] for action, form in aws_stub.calls if "PolicySourceArn" in form
    ]
    assert sources == ["arn:aws:iam::123456789012:role/deployer"]


def test_simulation_not_allowed_is_skipped(aws: str, aws_stub: AwsStub) -> None:
    aws_stub.simulate_error = "AccessDenied"
    check = preflight.check_permissions(make_clients("eu-central-1", aws, aws_stub.endpoints()))
    assert check == Check(
        "IAM permissions",
        "skip",
        "the caller may not call iam:SimulatePrincipalPolicy on itself; "
        f"permissions of {MOTO_CALLER} not checked",
    )


# --- the whole command ------------------------------------------------------------------------


def _command(aws: str, stub: AwsStub, *extra: str) -> tuple[int, str]:
    stdout = io.StringIO()
    argv = ["--stack", "dev", "--endpoint-url", aws]
    for service, url in stub.endpoints().items():
        argv += ["--service-endpoint", f"{service}={url}"]
    code = preflight.main([*argv, *extra], stdout=stdout)
    return code, stdout.getvalue()


def _rows(output: str) -> dict[str, tuple[str, str]]:
    """The plain report as check name -> (status, detail)."""
    rows = {}
    for line in output.splitlines()[1:-1]:
        name, status, detail = re.split(r" {2,}", line, maxsplit=2)
        rows[name] = (status, detail)
    return rows


def _docker_hub_secret(aws: str, region: str = "eu-central-1") -> str:
    """The Docker Hub credential the mirror requires, in moto (created once per region)."""
    client = boto3.client("secretsmanager", region_name=region, endpoint_url=aws)
    name = "ecr-pullthroughcache/docker-hub"
    try:
        return str(client.describe_secret(SecretId=name)["ARN"])
    except client.exceptions.ResourceNotFoundException:
        value = '{"username": "acme", "accessToken": "dckr_pat_x"}'
        return str(client.create_secret(Name=name, SecretString=value)["ARN"])


def _stub_all_good(stub: AwsStub) -> None:
    stub.quotas = dict(ENOUGH_QUOTAS)
    stub.eks_versions = {"1.34": {"clusterVersion": "1.34", "versionStatus": "STANDARD_SUPPORT"}}


def test_command_passes_and_skips_with_exit_zero(
    aws: str, aws_stub: AwsStub, tmp_path: Path
) -> None:
    _stub_all_good(aws_stub)
    stack_file = _stack_file(tmp_path, dockerHubCredentialArn=_docker_hub_secret(aws))
    code, output = _command(aws, aws_stub, "--stack-file", str(stack_file))
    assert code == 0
    lines = output.splitlines()
    assert lines[0].split() == ["check", "status", "detail"]
    assert [line.split("  ")[0].strip() for line in lines[1:-1]] == [
        "credentials",
        "instance type m5n.xlarge",
        "instance type g5.8xlarge",
        "vCPU quota L-1216C47A",
        "vCPU quota L-DB2E81BA",
        "EKS version 1.34",
        "model bucket",
        "cluster creator",
        "IAM permissions",
        "Docker Hub credential",
    ]
    assert _rows(output)["model bucket"] == (
        "skip",
        "modelBucket.name is empty: Pulumi generates a unique name",
    )
    assert _rows(output)["EKS version 1.34"] == (
        "pass",
        "kubernetesVersion: 1.34 is in standard support",
    )
    assert _rows(output)["Docker Hub credential"][0] == "pass"
    assert lines[-1] == "preflight: 0 failed, 9 passed, 1 skipped"


def test_command_fails_on_low_quota_and_taken_bucket(
    aws: str, aws_stub: AwsStub, tmp_path: Path
) -> None:
    _stub_all_good(aws_stub)
    aws_stub.quotas["L-DB2E81BA"] = 32.0
    other = _other_account_session(aws).client("s3", endpoint_url=aws)
    other.create_bucket(
        Bucket="kserve-fluid-taken",
        CreateBucketConfiguration={"LocationConstraint": "eu-central-1"},
    )
    bucket = {"name": "kserve-fluid-taken", "forceDestroy": True, "retainOnDelete": False,
              "protect": False}  # fmt: skip
    stack_file = _stack_file(
        tmp_path,
        modelBucket=bucket,
        gpuNodes={"provisioner": "nodeGroup"},
        dockerHubCredentialArn=_docker_hub_secret(aws),
    )
    code, output = _command(aws, aws_stub, "--stack-file", str(stack_file))
    assert code == 1
    rows = _rows(output)
    assert rows["vCPU quota L-DB2E81BA"] == (
        "fail",
        '"Running On-Demand G and VT instances" is 32 vCPUs in eu-central-1; needs 64 '
        "(gpuNodes.maxSize 2 x g5.8xlarge 32 vCPUs); request an increase "
        "(Service Quotas, ec2 L-DB2E81BA) or lower gpuNodes.maxSize",
    )
    assert rows["model bucket"][0] == "fail"
    assert rows["model bucket"][1].startswith(
        'modelBucket.name: bucket "kserve-fluid-taken" exists'
    )
    assert output.splitlines()[-1] == "preflight: 2 failed, 8 passed, 0 skipped"


def test_command_fails_on_a_type_the_region_lacks(
    aws: str, aws_stub: AwsStub, tmp_path: Path
) -> None:
    _stub_all_good(aws_stub)
    secret = _docker_hub_secret(aws, "eu-west-1")  # ECR reads it in the stack's region
    same = _stack_file(tmp_path, dockerHubCredentialArn=secret)
    code, output = _command(aws, aws_stub, "--region", "eu-west-1", "--stack-file", str(same))
    # moto sells g5.8xlarge in eu-west-1 too: only --region changed, so all still pass.
    assert (code, output.splitlines()[-1]) == (0, "preflight: 0 failed, 9 passed, 1 skipped")
    stack_file = _stack_file(
        tmp_path,
        gpuNodes={"provisioner": "nodeGroup", "instanceTypes": ["g6e.8xlarge"]},
        dockerHubCredentialArn=secret,
    )
    code, output = _command(aws, aws_stub, "--region", "eu-west-1", "--stack-file", str(stack_file))
    assert code == 1
    assert _rows(output)["instance type g6e.8xlarge"] == (
        "fail",
        "gpuNodes.instanceTypes: g6e.8xlarge is offered in 0 of the stack's 3 zones in "
        "eu-west-1; EKS node groups need it in at least 2; pick another instance type or region",
    )
    assert output.splitlines()[-1] == "preflight: 1 failed, 8 passed, 1 skipped"


def test_command_without_credentials_fails(
    aws: str, aws_stub: AwsStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, output = _command(aws, aws_stub)
    assert code == 1
    assert output.splitlines()[1] == (
        "credentials  fail    no AWS credentials found (set AWS_PROFILE or run aws sso login)"
    )


def test_command_reports_config_errors_with_exit_two(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack_file = _stack_file(tmp_path, availabilityZoneCount=1)
    assert preflight.main(["--stack", "dev", "--stack-file", str(stack_file)]) == 2
    assert capsys.readouterr().err == (
        "preflight: availabilityZoneCount: 1 must be an integer from 2 to 4 "
        "(EKS needs subnets in at least two zones)\n"
    )


def test_rich_table_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    preflight.render([Check("credentials", "pass", "arn:aws:iam::1:user/x")], terminal)
    text = terminal.getvalue()
    assert "preflight" in text
    assert "credentials" in text
    assert "preflight: 0 failed, 1 passed, 0 skipped" in text


# --- the deploying identity and clusterAdminArns (pulumi/pulumi-eks#2373) ----------------------


def _assumed_role_clients(aws: str, role_arn: str) -> preflight.AwsClients:
    sts = boto3.client("sts", region_name="eu-central-1", endpoint_url=aws)
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="ci")["Credentials"]
    session = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    return make_clients("eu-central-1", aws, session=session)


def test_creator_listed_in_cluster_admins_fails(aws: str) -> None:
    iam = boto3.client("iam", region_name="eu-central-1", endpoint_url=aws)
    iam.create_role(RoleName="deployer", Path="/ci/", AssumeRolePolicyDocument="{}")
    clients = _assumed_role_clients(aws, "arn:aws:iam::123456789012:role/ci/deployer")
    listed = "arn:aws:iam::123456789012:role/ci/deployer"
    check = preflight.check_creator_not_listed(clients, [listed])
    assert check == preflight.Check(
        "cluster creator",
        "fail",
        f"clusterAdminArns: {listed} is the identity running pulumi up "
        "(arn:aws:sts::123456789012:assumed-role/deployer/ci); pulumi-eks already gives the "
        "cluster creator admin access and EKS refuses a second access entry for it "
        "(pulumi/pulumi-eks#2373); remove it from the list",
    )


def test_other_admins_pass(aws: str) -> None:
    clients = _assumed_role_clients(aws, "arn:aws:iam::123456789012:role/deployer")
    check = preflight.check_creator_not_listed(
        clients, ["arn:aws:iam::123456789012:role/platform-admins"]
    )
    assert check.status == "pass"
    assert check.detail.startswith("arn:aws:iam::123456789012:role/deployer gets admin")


def test_creator_as_iam_user_is_compared_exactly(aws: str) -> None:
    clients = make_clients("eu-central-1", aws)
    caller = boto3.client("sts", region_name="eu-central-1", endpoint_url=aws)
    user_arn = caller.get_caller_identity()["Arn"].replace(":sts::", ":iam::")
    assert preflight.check_creator_not_listed(clients, [user_arn]).status == "fail"
    assert preflight.check_creator_not_listed(clients, []).status == "pass"
