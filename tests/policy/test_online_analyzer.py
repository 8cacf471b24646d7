"""The rules through pulumi-policy's own analyzer servicer, fed what the engine sends online.

`_PolicyAnalyzerServicer` is the object `PolicyPack` serves over gRPC; calling its `Analyze`,
`AnalyzeStack` and `Configure` directly runs the real SDK path without a server: properties
arrive as a protobuf Struct with secrets wrapped (the engine marshals with KeepSecrets: true,
pulumi/pulumi pkg/resource/plugin/analyzer_plugin.go), are deserialized and wrapped in the SDK's
unknown-checking proxies (lists become `_ListProxy`, not `list`), and config lowers levels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.rules.pack import PACK_NAME, build_policies
from tests.policy.support import mutate, record

SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
LEVELS = {proto.MANDATORY: "mandatory", proto.ADVISORY: "advisory"}


def _engine_value(value: Any, path: str, secret_paths: set[str]) -> Any:
    """The plan's inputs as the engine marshals them: refs as URNs, secrets wrapped."""
    if isinstance(value, dict) and set(value) == {"$resource"}:
        value = value["$resource"]
    elif isinstance(value, dict):
        value = {k: _engine_value(v, f"{path}.{k}", secret_paths) for k, v in value.items()}
    elif isinstance(value, list):
        value = [_engine_value(v, f"{path}[{i}]", secret_paths) for i, v in enumerate(value)]
    if path in secret_paths:
        return {SIG_KEY: SECRET_SIG, "value": value}
    return value


def _struct(resource: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(_engine_value(resource["inputs"], "$", set(resource["secretPaths"])))
    return struct


def _options(resource: Mapping[str, Any]) -> Any:
    return proto.AnalyzerResourceOptions(
        protect=resource["protect"], parent=resource["parent"] or ""
    )


def analyze(
    document: Mapping[str, Any], config: Mapping[str, Any] | None = None
) -> list[tuple[str, str, str]]:
    """(policy, level, message) of every diagnostic for a plan, resource and stack policies."""
    servicer = _PolicyAnalyzerServicer(
        PACK_NAME, "0.1.0", build_policies(), EnforcementLevel.ADVISORY
    )
    if config:
        request = proto.ConfigureAnalyzerRequest()
        for name, value in config.items():
            settings = dict(value) if isinstance(value, Mapping) else {"enforcementLevel": value}
            level = getattr(proto, str(settings.pop("enforcementLevel", "mandatory")).upper())
            entry = proto.PolicyConfig(enforcementLevel=level)
            entry.properties.update(settings)
            request.policyConfig[name].CopyFrom(entry)
        servicer.Configure(request, None)
    diagnostics = []
    for resource in document["resources"]:
        response = servicer.Analyze(
            proto.AnalyzeRequest(
                type=resource["type"],
                properties=_struct(resource),
                urn=resource["urn"],
                name=resource["name"],
                options=_options(resource),
            ),
            None,
        )
        diagnostics += list(response.diagnostics)
    stack = proto.AnalyzeStackRequest(
        resources=[
            proto.AnalyzerResource(
                type=r["type"],
                properties=_struct(r),
                urn=r["urn"],
                name=r["name"],
                options=_options(r),
                parent=r["parent"],
                dependencies=r["dependencies"],
            )
            for r in document["resources"]
        ]
    )
    diagnostics += list(servicer.AnalyzeStack(stack, None).diagnostics)
    return [
        (d.policyName, LEVELS.get(d.enforcementLevel, str(d.enforcementLevel)), d.message)
        for d in diagnostics
    ]


@pytest.mark.parametrize("stack", ["dev", "prod", "dev_staging"])
def test_committed_stacks_have_no_diagnostics(stack: str, request: pytest.FixtureRequest) -> None:
    assert analyze(request.getfixturevalue(stack)) == []


def test_violation_reaches_the_engine_with_its_level(prod: dict[str, Any]) -> None:
    """A mandatory violation (it fails `pulumi up`), message = description + our line."""
    broken = mutate(
        prod,
        lambda d: record(d, "aws:ec2/launchTemplate:LaunchTemplate", "cluster-data-lt")["inputs"][
            "metadataOptions"
        ].update(httpPutResponseHopLimit=2),
    )
    assert analyze(broken) == [
        (
            "nodes-imdsv2-hop-limit",
            "mandatory",
            "Launch templates, node groups and Karpenter node classes require IMDSv2 with hop "
            "limit 1.\naws:ec2/launchTemplate:LaunchTemplate cluster-data-lt: "
            "metadataOptions.httpPutResponseHopLimit is 2, above 1",
        )
    ]


def test_stack_config_lowers_or_disables_a_rule(prod: dict[str, Any]) -> None:
    broken = mutate(
        prod,
        lambda d: record(d, "aws:ec2/launchTemplate:LaunchTemplate", "cluster-data-lt")["inputs"][
            "metadataOptions"
        ].update(httpPutResponseHopLimit=2),
    )
    lowered = analyze(broken, {"nodes-imdsv2-hop-limit": "advisory"})
    assert [(name, level) for name, level, _ in lowered] == [("nodes-imdsv2-hop-limit", "advisory")]
    assert analyze(broken, {"nodes-imdsv2-hop-limit": "disabled"}) == []
    assert analyze(broken, {"nodes-imdsv2-hop-limit": {"maxHopLimit": 2}}) == []


def test_list_valued_rules_see_proxied_lists(prod: dict[str, Any]) -> None:
    """Online lists are `_ListProxy`: the restricted profile's capability list still counts."""
    broken = mutate(
        prod,
        lambda d: record(d, "kubernetes:batch/v1:Job", "wait-for-kserve-webhook")["inputs"]["spec"][
            "template"
        ]["spec"]["containers"][0]["securityContext"]["capabilities"].update(drop=["NET_RAW"]),
    )
    assert [m.split("\n")[1] for _, _, m in analyze(broken)] == [
        "kubernetes:batch/v1:Job wait-for-kserve-webhook: container wait: capabilities.drop "
        "does not contain ALL"
    ]


def test_secret_wrapped_inputs_pass(dev: dict[str, Any]) -> None:
    """The Secret's stringData arrives secret-wrapped; the SDK unwraps it before the rule runs,
    so only the dependency half of secrets-stay-secret applies online."""
    secret = record(dev, "kubernetes:core/v1:Secret", "s3-credentials")
    assert secret["secretPaths"] == ["$.stringData"]
    assert json_format.MessageToDict(_struct(secret))["stringData"][SIG_KEY] == SECRET_SIG
    assert analyze(dev) == []


def test_unknown_value_in_preview_defers_the_rule(prod: dict[str, Any]) -> None:
    """A value computed during preview (here the bucket policy) makes the SDK skip the rule
    with an advisory note instead of failing it; `pulumi up` runs it with the real value."""
    unknown = mutate(
        prod,
        lambda d: record(d, "aws:s3/bucketPolicy:BucketPolicy")["inputs"].update(
            policy=UNKNOWN_STRING_VALUE
        ),
    )
    found = analyze(unknown)
    assert [(name, level) for name, level, _ in found] == [("s3-tls-only", "advisory")]
    assert "can't run policy 's3-tls-only'" in found[0][2]
    assert "during preview: string value at .policy can't be known during preview" in found[0][2]
