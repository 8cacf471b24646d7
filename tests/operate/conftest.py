"""Fixtures for the operator tools: moto as a real server, and a stub for what moto lacks.

moto 5.2.5 answers EC2 offerings, STS, S3 (cross-account 403 with
MOTO_S3_ALLOW_CROSSACCOUNT_ACCESS=false) and IAM roles, but not: Service Quotas for EC2 (only
the "vpc" service code), EKS DescribeClusterVersions/DescribeAddonVersions (HTTP 404), IAM
SimulatePrincipalPolicy (HTTP 500). `AwsStub` is a small local HTTP server answering just those
calls in the wire formats boto3 expects, so the checks' pass/fail logic is tested too.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
import pytest

from tests.local_aws import moto_server
from tools.operate.preflight import AwsClients

MOTO_START_SECONDS = 30


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A moto server on 127.0.0.1 for the session (one per xdist worker)."""
    with moto_server(MOTO_START_SECONDS, {"MOTO_S3_ALLOW_CROSSACCOUNT_ACCESS": "false"}) as url:
        yield url


@pytest.fixture()
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Fake credentials in the environment and a freshly reset moto; returns moto's URL."""
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    request = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    return moto_url


def make_clients(
    region: str,
    endpoint_url: str,
    service_endpoints: dict[str, str] | None = None,
    session: boto3.Session | None = None,
) -> AwsClients:
    """Clients without retries: an emulator's 500 should not cost back-off time in tests."""
    return AwsClients(
        session or boto3.Session(),
        region,
        endpoint_url=endpoint_url,
        service_endpoints=service_endpoints,
        max_attempts=1,
    )


@dataclass
class AwsStub:
    """State of the stub: quotas by code, simulated denials, EKS versions; calls it saw."""

    url: str = ""
    quotas: dict[str, float] = field(default_factory=dict)
    default_quotas: dict[str, float] = field(default_factory=dict)
    denied: dict[str, str] = field(default_factory=dict)
    simulate_error: str = ""
    eks_versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    cluster_versions_error: str = ""
    vpc_cni_versions: list[str] | None = None  # None: DescribeAddonVersions answers 404
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def endpoints(self) -> dict[str, str]:
        return {"service-quotas": self.url, "iam": self.url, "eks": self.url}


_IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"


def _handler(stub: AwsStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, content_type: str, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            if url.path == "/addons/supported-versions" and stub.vpc_cni_versions is not None:
                stub.calls.append(("DescribeAddonVersions", query))
                compatible = [{"clusterVersion": v} for v in stub.vpc_cni_versions]
                addon = {"addonName": "vpc-cni", "addonVersions": [
                    {"addonVersion": "v1.20.0-eksbuild.1", "compatibilities": compatible}
                ]}  # fmt: skip
                self._send(200, "application/json", json.dumps({"addons": [addon]}))
                return
            if url.path != "/cluster-versions":
                self._send(404, "text/plain", "not stubbed")
                return
            stub.calls.append(("DescribeClusterVersions", query))
            if stub.cluster_versions_error:
                data = json.dumps({"message": "no such operation"}).encode()
                self.send_response(400)
                self.send_header("x-amzn-ErrorType", stub.cluster_versions_error)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            wanted = query.get("clusterVersions", list(stub.eks_versions))
            found = [stub.eks_versions[v] for v in wanted if v in stub.eks_versions]
            self._send(200, "application/json", json.dumps({"clusterVersions": found}))

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            target = self.headers.get("X-Amz-Target", "")
            if target.startswith("ServiceQuotasV20190624."):
                self._quota(target.split(".", 1)[1], json.loads(body))
            else:
                form = {key: values[0] for key, values in parse_qs(body).items()}
                self._iam(form)

        def _quota(self, operation: str, request: dict[str, Any]) -> None:
            stub.calls.append((operation, request))
            code = request["QuotaCode"]
            table = stub.quotas if operation == "GetServiceQuota" else stub.default_quotas
            if code not in table:
                error = {"__type": "NoSuchResourceException", "message": f"no quota {code}"}
                self._send(400, "application/x-amz-json-1.1", json.dumps(error))
                return
            quota = {"ServiceCode": "ec2", "QuotaCode": code, "Value": table[code]}
            self._send(200, "application/x-amz-json-1.1", json.dumps({"Quota": quota}))

        def _iam_error(self, status: int, code: str, message: str) -> None:
            self._send(
                status,
                "text/xml",
                f'<ErrorResponse xmlns="{_IAM_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
                f"<Message>{message}</Message></Error><RequestId>stub</RequestId></ErrorResponse>",
            )

        def _iam(self, form: dict[str, str]) -> None:
            action = form.get("Action", "")
            stub.calls.append((action, form))
            if action == "GetRole":
                self._iam_error(404, "NoSuchEntity", f"role {form.get('RoleName')} not found")
                return
            if action != "SimulatePrincipalPolicy":
                self._iam_error(400, "InvalidAction", f"{action} is not stubbed")
                return
            if stub.simulate_error:
                self._iam_error(403, stub.simulate_error, "not authorized to simulate")
                return
            names = [form[key] for key in sorted(form) if key.startswith("ActionNames.member.")]
            members = "".join(
                f"<member><EvalActionName>{name}</EvalActionName>"
                "<EvalResourceName>*</EvalResourceName>"
                f"<EvalDecision>{stub.denied.get(name, 'allowed')}</EvalDecision></member>"
                for name in names
            )
            self._send(
                200,
                "text/xml",
                f'<SimulatePrincipalPolicyResponse xmlns="{_IAM_NS}">'
                "<SimulatePrincipalPolicyResult>"
                f"<IsTruncated>false</IsTruncated><EvaluationResults>{members}</EvaluationResults>"
                "</SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>stub</RequestId>"
                "</ResponseMetadata></SimulatePrincipalPolicyResponse>",
            )

    return Handler


@pytest.fixture()
def aws_stub() -> Iterator[AwsStub]:
    """The stub on 127.0.0.1, serving Service Quotas, IAM simulation and EKS versions."""
    stub = AwsStub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
