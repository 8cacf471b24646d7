"""Preflight for Karpenter GPU nodes, against moto as a real server (and the quota stub)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config.model import GpuNodesConfig
from tests.operate.conftest import AwsStub, make_clients
from tools.operate import preflight
from tools.operate.preflight import Check
from tools.plan.stack_config import ROOT, load_typed_config

SETTINGS = GpuNodesConfig()  # Pulumi.yaml's defaults: karpenter, g5.8xlarge, 2 GPUs


@pytest.fixture(scope="module")
def dev_config() -> Any:
    return load_typed_config("dev")


def test_type_offered_in_the_private_subnets_zones(aws: str) -> None:
    check = preflight.check_karpenter_instance_type(
        make_clients("eu-central-1", aws), "g5.8xlarge", 3
    )
    assert check == Check(
        "instance type g5.8xlarge",
        "pass",
        "gpuNodes.instanceTypes: offered in 3 of the private subnets' 3 zones "
        "(eu-central-1a, eu-central-1b, eu-central-1c)",
    )


def test_one_zone_is_enough_for_karpenter(aws: str) -> None:
    # moto sells p4d.24xlarge only in eu-west-1c: a node group refuses it, Karpenter can launch.
    clients = make_clients("eu-west-1", aws)
    assert preflight.check_karpenter_instance_type(clients, "p4d.24xlarge", 3) == Check(
        "instance type p4d.24xlarge",
        "pass",
        "gpuNodes.instanceTypes: offered in 1 of the private subnets' 3 zones (eu-west-1c)",
    )
    node_group = preflight.check_instance_type(clients, "gpuNodes.instanceTypes", "p4d.24xlarge", 3)
    assert node_group.status == "fail"


def test_type_offered_outside_the_subnets_zones_fails(aws: str) -> None:
    # Two zones: eu-west-1a and eu-west-1b; the type is only in eu-west-1c.
    check = preflight.check_karpenter_instance_type(
        make_clients("eu-west-1", aws), "p4d.24xlarge", 2
    )
    assert check == Check(
        "instance type p4d.24xlarge",
        "fail",
        "gpuNodes.instanceTypes: p4d.24xlarge is offered in none of the private subnets' 2 zones "
        "in eu-west-1 (eu-west-1a, eu-west-1b), so Karpenter can never launch it; the region "
        "offers it only in eu-west-1c",
    )


def test_type_offered_nowhere_fails(aws: str) -> None:
    check = preflight.check_karpenter_instance_type(
        make_clients("eu-central-1", aws), "p5.48xlarge", 3
    )
    assert check.status == "fail"
    assert check.detail.endswith(
        "so Karpenter can never launch it; drop it from the list or pick another region"
    )


def test_quota_demand_is_the_gpu_limit_on_the_hungriest_type(dev_config: Any) -> None:
    demands, skipped = preflight.quota_demands(dev_config)
    assert skipped == []
    assert [(d.quota_code, d.vcpus, d.describe()) for d in demands] == [
        ("L-1216C47A", 12, "dataNodeGroup.maxSize 3 x m5n.xlarge 4 vCPUs"),
        ("L-DB2E81BA", 96, "gpuNodes.gpuLimit 3 = 3 x g5.8xlarge 32 vCPUs"),
    ]
    # gpuLimit 4: four 1-GPU g5.8xlarge (128 vCPUs) need more than one 4-GPU g5.12xlarge (48).
    mixed = SETTINGS.model_copy(
        update={"instance_types": ("g5.12xlarge", "g5.8xlarge"), "gpu_limit": 4}
    )
    demand = preflight.karpenter_quota_demand(mixed)
    assert demand is not None and (demand.instance_type, demand.vcpus) == ("g5.8xlarge", 128)
    spot = preflight.karpenter_quota_demand(SETTINGS.model_copy(update={"capacity_type": "SPOT"}))
    assert spot is not None and spot.quota_code == "L-3819A6DF"


def test_gpu_quota_below_the_gpu_limit_fails(aws: str, aws_stub: AwsStub, dev_config: Any) -> None:
    aws_stub.quotas = {"L-1216C47A": 640.0, "L-DB2E81BA": 32.0}
    clients = make_clients("eu-central-1", aws, aws_stub.endpoints())
    _, gpu = preflight.check_vcpu_quotas(clients, dev_config)
    assert gpu == Check(
        "vCPU quota L-DB2E81BA",
        "fail",
        '"Running On-Demand G and VT instances" is 32 vCPUs in eu-central-1; needs 96 '
        "(gpuNodes.gpuLimit 3 = 3 x g5.8xlarge 32 vCPUs); request an increase "
        "(Service Quotas, ec2 L-DB2E81BA) or lower gpuNodes.gpuLimit",
    )
    aws_stub.quotas["L-DB2E81BA"] = 96.0
    assert preflight.check_vcpu_quotas(clients, dev_config)[1].status == "pass"


def _rows(output: str) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in output.splitlines()[1:-1]:
        name, status, detail = re.split(r" {2,}", line, maxsplit=2)
        rows[name] = (status, detail)
    return rows


def _command(aws: str, stub: AwsStub, stack_file: Path | None = None) -> tuple[int, str]:
    stdout = io.StringIO()
    argv = ["--stack", "dev", "--endpoint-url", aws]
    if stack_file:
        argv += ["--stack-file", str(stack_file)]
    for service, url in stub.endpoints().items():
        argv += ["--service-endpoint", f"{service}={url}"]
    return preflight.main(argv, stdout=stdout), stdout.getvalue()


def test_command_checks_the_node_pool_of_the_default_stack(
    aws: str, aws_stub: AwsStub, tmp_path: Path
) -> None:
    aws_stub.quotas = {"L-1216C47A": 640.0, "L-DB2E81BA": 32.0}
    aws_stub.eks_versions = {
        "1.34": {"clusterVersion": "1.34", "versionStatus": "STANDARD_SUPPORT"}
    }
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    document["config"]["kserve-fluid:gpuNodes"] = {
        "instanceTypes": ["g5.8xlarge", "p5.48xlarge"],
        "gpuLimit": 8,
    }
    stack_file = tmp_path / "Pulumi.check.yaml"
    stack_file.write_text(yaml.safe_dump(document))
    code, output = _command(aws, aws_stub, stack_file)
    assert code == 1
    rows = _rows(output)
    assert rows["instance type g5.8xlarge"][0] == "pass"
    assert rows["instance type p5.48xlarge"][0] == "fail"
    assert rows["vCPU quota L-DB2E81BA"][1].endswith("or lower gpuNodes.gpuLimit")
    assert (
        "needs 256 (gpuNodes.gpuLimit 8 = 8 x g5.8xlarge 32 vCPUs)"
        in rows["vCPU quota L-DB2E81BA"][1]
    )
    assert "gpuNodeGroup" not in output
    permissions = [form for action, form in aws_stub.calls if action == "SimulatePrincipalPolicy"]
    assert permissions and "sqs:CreateQueue" in permissions[-1].values()


def test_command_refuses_bad_gpu_nodes(
    aws: str, aws_stub: AwsStub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    document["config"]["kserve-fluid:gpuNodes"] = {"provisioner": "fargate"}
    stack_file = tmp_path / "Pulumi.check.yaml"
    stack_file.write_text(yaml.safe_dump(document))
    code, _ = _command(aws, aws_stub, stack_file)
    assert code == 2
    assert capsys.readouterr().err == (
        'preflight: gpuNodes.provisioner: "fargate" is not allowed; '
        "use one of karpenter, nodeGroup\n"
    )


# --- Spot under Karpenter needs the account's EC2 Spot service-linked role --------------------


def test_spot_without_the_service_linked_role_fails_with_the_command(aws: str) -> None:
    assert preflight.check_spot_service_linked_role(make_clients("eu-central-1", aws)) == Check(
        "spot service-linked role",
        "fail",
        "gpuNodes.capacityType: SPOT needs the role AWSServiceRoleForEC2Spot, which Karpenter "
        "may not create; run once per account: aws iam create-service-linked-role "
        "--aws-service-name spot.amazonaws.com",
    )


def test_spot_with_the_service_linked_role_passes(aws: str) -> None:
    clients = make_clients("eu-central-1", aws)
    # The role as AWS names it (step06-add-spot-role.sh@v1.14.1 quotes "Service role name
    # AWSServiceRoleForEC2Spot has been taken"); moto's create_service_linked_role derives
    # another name, so the role is created with AWS's name and path directly.
    clients.client("iam").create_role(
        RoleName="AWSServiceRoleForEC2Spot",
        Path="/aws-service-role/spot.amazonaws.com/",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "spot.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    assert preflight.check_spot_service_linked_role(clients) == Check(
        "spot service-linked role",
        "pass",
        "gpuNodes.capacityType: SPOT: AWSServiceRoleForEC2Spot exists",
    )


@pytest.mark.parametrize(("capacity", "checked"), [("SPOT", True), ("ON_DEMAND", False)])
def test_run_checks_asks_for_the_spot_role_only_for_spot(
    aws: str, dev_config: Any, capacity: str, checked: bool
) -> None:
    gpu_nodes = GpuNodesConfig.model_validate({"capacityType": capacity})
    config = dev_config.model_copy(update={"gpu_nodes": gpu_nodes})
    checks = preflight.run_checks(make_clients("eu-central-1", aws), config)
    names = [check.name for check in checks]
    assert ("spot service-linked role" in names) is checked
