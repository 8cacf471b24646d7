"""The Docker Hub pull-through credential check, against moto's Secrets Manager."""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3
import pytest
import yaml

from tests.operate.conftest import AwsStub, make_clients
from tools.operate import preflight
from tools.operate.preflight import Check
from tools.plan.stack_config import ROOT

NAME = "Docker Hub credential"


def _secret(aws: str, name: str, value: str, region: str = "eu-central-1") -> str:
    client = boto3.client("secretsmanager", region_name=region, endpoint_url=aws)
    return str(client.create_secret(Name=name, SecretString=value)["ARN"])


def _settings(arn: str, enabled: bool = True) -> preflight.MirrorSettings:
    return preflight.MirrorSettings(enabled=enabled, docker_hub_credential_arn=arn)


def test_complete_secret_passes(aws: str) -> None:
    arn = _secret(aws, "ecr-pullthroughcache/docker-hub",
                  json.dumps({"username": "acme", "accessToken": "dckr_pat_x"}))  # fmt: skip
    check = preflight.check_docker_hub_credential(make_clients("eu-central-1", aws), _settings(arn))
    assert check == Check(NAME, "pass", f"dockerHubCredentialArn: {arn} is readable and complete")
    assert "dckr_pat_x" not in check.detail


def test_missing_secret_fails(aws: str) -> None:
    arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:ecr-pullthroughcache/none-AbCdEf"
    check = preflight.check_docker_hub_credential(make_clients("eu-central-1", aws), _settings(arn))
    assert check == Check(NAME, "fail", f"dockerHubCredentialArn: no secret {arn}")


def test_secret_without_the_token_fails(aws: str) -> None:
    arn = _secret(aws, "ecr-pullthroughcache/half", json.dumps({"username": "acme"}))
    check = preflight.check_docker_hub_credential(make_clients("eu-central-1", aws), _settings(arn))
    assert check == Check(
        NAME,
        "fail",
        "dockerHubCredentialArn: the secret is not JSON with non-empty username and "
        "accessToken (missing: accessToken)",
    )


def test_plain_text_secret_fails(aws: str) -> None:
    arn = _secret(aws, "ecr-pullthroughcache/plain", "acme:dckr_pat_x")
    check = preflight.check_docker_hub_credential(make_clients("eu-central-1", aws), _settings(arn))
    assert check.status == "fail" and "missing: username, accessToken" in check.detail
    assert "dckr_pat_x" not in check.detail


def test_secret_in_another_region_fails(aws: str) -> None:
    complete = json.dumps({"username": "a", "accessToken": "b"})
    arn = _secret(aws, "ecr-pullthroughcache/elsewhere", complete, region="us-east-1")
    check = preflight.check_docker_hub_credential(make_clients("eu-central-1", aws), _settings(arn))
    assert check == Check(
        NAME,
        "fail",
        "dockerHubCredentialArn: the secret is in us-east-1; ECR needs it in the stack's "
        "region eu-central-1",
    )


def test_unset_fails_and_mirror_off_is_skipped(aws: str) -> None:
    clients = make_clients("eu-central-1", aws)
    empty = preflight.check_docker_hub_credential(clients, _settings(""))
    assert empty == Check(
        NAME,
        "fail",
        "dockerHubCredentialArn is empty: the stack's Docker Hub images come through ECR's "
        "cache, which needs the credential (docs/image-mirror.md)",
    )
    off = preflight.check_docker_hub_credential(clients, _settings("x", enabled=False))
    assert off == Check(NAME, "skip", "imageMirror is off: images come from their upstreams")


def test_command_reads_the_arn_from_the_stack(aws: str, aws_stub: AwsStub, tmp_path: Path) -> None:
    arn = _secret(aws, "ecr-pullthroughcache/docker-hub",
                  json.dumps({"username": "acme", "accessToken": "t"}))  # fmt: skip
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    document["config"]["kserve-fluid:dockerHubCredentialArn"] = arn
    stack_file = tmp_path / "Pulumi.check.yaml"
    stack_file.write_text(yaml.safe_dump(document))
    stdout = io.StringIO()
    argv = ["--stack", "dev", "--stack-file", str(stack_file), "--endpoint-url", aws]
    for service, url in aws_stub.endpoints().items():
        argv += ["--service-endpoint", f"{service}={url}"]
    preflight.main(argv, stdout=stdout)
    row = next(line for line in stdout.getvalue().splitlines() if line.startswith(NAME))
    assert row.split()[3] == "pass" and arn in row


def test_command_refuses_a_bad_arn_with_exit_two(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    document["config"]["kserve-fluid:dockerHubCredentialArn"] = "docker-hub"
    stack_file = tmp_path / "Pulumi.check.yaml"
    stack_file.write_text(yaml.safe_dump(document))
    assert preflight.main(["--stack", "dev", "--stack-file", str(stack_file)]) == 2
    assert capsys.readouterr().err == (
        'preflight: dockerHubCredentialArn: "docker-hub" must be empty or the ARN of a Secrets '
        "Manager secret named ecr-pullthroughcache/<name> (ECR refuses other names)\n"
    )
