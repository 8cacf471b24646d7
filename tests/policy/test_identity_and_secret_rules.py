"""Identity and secrets rules: each fails on its own mutation, with its message."""

from __future__ import annotations

import json
from typing import Any

from tests.policy.support import (
    STAGING_TOKEN,
    add_record,
    mutate,
    policy_json,
    record,
    urn_of,
    violations,
)
from tools.plan.stack_config import SECRET_PLACEHOLDER

POLICY = "aws:iam/policy:Policy"
ROLE = "aws:iam/role:Role"
SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
ACCESS_KEY = "aws:iam/accessKey:AccessKey"


def _add_statement(document: dict[str, Any], statement: dict[str, Any]) -> None:
    reader = record(document, POLICY, "models-read-models")
    parsed = policy_json(reader, "policy")
    parsed["Statement"].append(statement)
    reader["inputs"]["policy"] = json.dumps(parsed)


def test_wildcard_admin_fails(dev: dict[str, Any]) -> None:
    broken = mutate(
        dev, lambda d: _add_statement(d, {"Effect": "Allow", "Action": "*", "Resource": "*"})
    )
    assert violations("iam-no-wildcard-admin", broken) == [
        f'{POLICY} models-read-models: policy allows action "*" on resource "*"'
    ]


def test_wildcard_in_a_role_inline_policy_fails(dev: dict[str, Any]) -> None:
    admin = json.dumps({"Statement": [{"Effect": "Allow", "Action": ["*"], "Resource": ["*"]}]})
    broken = mutate(
        dev,
        lambda d: record(d, ROLE, "cluster-node-role")["inputs"].update(
            inlinePolicies=[{"name": "admin", "policy": admin}]
        ),
    )
    assert violations("iam-no-wildcard-admin", broken) == [
        f'{ROLE} cluster-node-role: inlinePolicies[0] allows action "*" on resource "*"'
    ]


def test_reader_that_writes_fails(dev: dict[str, Any]) -> None:
    broken = mutate(
        dev,
        lambda d: _add_statement(
            d,
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/models/*"},
        ),
    )
    assert violations("iam-reader-read-only", broken) == [
        f"{POLICY} models-read-models: 's3:PutObject' is not a read of the model prefixes "
        "(allowed: s3:GetObject, s3:ListBucket)"
    ]


def test_reader_of_the_whole_bucket_fails(dev: dict[str, Any]) -> None:
    statements = policy_json(record(dev, POLICY, "models-read-models"), "policy")["Statement"]
    objects = next(s for s in statements if s["Sid"] == "ModelObjects")
    whole = objects["Resource"][0].split("/")[0] + "/*"

    def whole_bucket(document: dict[str, Any]) -> None:
        reader = record(document, POLICY, "models-read-models")
        parsed = policy_json(reader, "policy")
        next(s for s in parsed["Statement"] if s["Sid"] == "ModelObjects")["Resource"] = [whole]
        reader["inputs"]["policy"] = json.dumps(parsed)

    assert violations("iam-reader-read-only", mutate(dev, whole_bucket)) == [
        f"{POLICY} models-read-models: s3:GetObject on {whole!r} is not a model prefix"
    ]


def _trust(document: dict[str, Any]) -> dict[str, Any]:
    role = record(document, ROLE, "models-storage-initializer")
    return policy_json(role, "assumeRolePolicy")


def _set_trust(document: dict[str, Any], trust: dict[str, Any]) -> None:
    role = record(document, ROLE, "models-storage-initializer")
    role["inputs"]["assumeRolePolicy"] = json.dumps(trust)


def test_trust_for_any_service_account_fails(dev: dict[str, Any]) -> None:
    def any_account(document: dict[str, Any]) -> None:
        trust = _trust(document)
        equals = trust["Statement"][0]["Condition"]["StringEquals"]
        sub = next(k for k in equals if k.endswith(":sub"))
        equals[sub] = "system:serviceaccount:kserve-fluid-demo:*"
        _set_trust(document, trust)

    assert violations("iam-trust-pinned", mutate(dev, any_account)) == [
        f"{ROLE} models-storage-initializer: web-identity trust is not pinned to one service "
        "account (StringEquals <issuer>:sub = system:serviceaccount:<namespace>:<name>)"
    ]


def test_trust_without_audience_fails(dev: dict[str, Any]) -> None:
    def no_audience(document: dict[str, Any]) -> None:
        trust = _trust(document)
        equals = trust["Statement"][0]["Condition"]["StringEquals"]
        del equals[next(k for k in equals if k.endswith(":aud"))]
        _set_trust(document, trust)

    assert violations("iam-trust-pinned", mutate(dev, no_audience)) == [
        f"{ROLE} models-storage-initializer: web-identity trust lacks StringEquals "
        '<issuer>:aud = "sts.amazonaws.com"'
    ]


def test_credential_in_a_config_map_fails(dev: dict[str, Any]) -> None:
    """A ConfigMap fed from the reader's access key (dependency recorded) is refused."""
    key = urn_of(dev, ACCESS_KEY)
    broken = mutate(
        dev,
        lambda d: add_record(
            d, CONFIG_MAP, "jindo-credentials", {"data": {"key": "x"}}, dependencies=[key]
        ),
    )
    assert violations("secrets-stay-secret", broken) == [
        f"{CONFIG_MAP} jindo-credentials: takes a value from {ACCESS_KEY} models-jindo-reader-key; "
        "credentials reach the cluster only through a Kubernetes Secret"
    ]


def test_secret_data_not_marked_secret_fails(dev: dict[str, Any]) -> None:
    """The Secret's stringData arriving in plaintext (not secret-wrapped) is a leak into state."""
    broken = mutate(dev, lambda d: record(d, SECRET, "s3-credentials").update(secretPaths=[]))
    assert violations("secrets-stay-secret", broken) == [
        f"{SECRET} s3-credentials: stringData is not a Pulumi secret "
        "(read it with require_secret or from a secret output)"
    ]


def test_staging_token_secret_is_checked(dev_staging: dict[str, Any]) -> None:
    """The hfToken Secret of `staging: job` is checked the same way."""
    secrets = [r for r in dev_staging["resources"] if r["type"] == SECRET]
    assert len(secrets) == 2
    token = next(r for r in secrets if r["name"] != "s3-credentials")
    broken = mutate(
        dev_staging,
        lambda d: next(r for r in d["resources"] if r["urn"] == token["urn"]).update(
            secretPaths=[]
        ),
    )
    assert len(violations("secrets-stay-secret", broken)) == 1


def test_pod_identity_association_is_pinned(dev: dict[str, Any]) -> None:
    """With EKS Pod Identity the association names the service account (pulumi-aws schema
    `aws:eks/podIdentityAssociation:PodIdentityAssociation`: clusterName, namespace,
    serviceAccount, roleArn)."""
    typ = "aws:eks/podIdentityAssociation:PodIdentityAssociation"

    def association(account: str) -> dict[str, Any]:
        inputs = {"clusterName": "c", "namespace": "kserve-fluid-demo", "serviceAccount": account}
        return mutate(dev, lambda d: add_record(d, typ, "reader", inputs))

    assert violations("iam-trust-pinned", association("model-reader")) == []
    assert violations("iam-trust-pinned", association("*")) == [
        f"{typ} reader: not pinned to one namespace and service account"
    ]


def test_secret_in_plain_text_fails(dev_staging: dict[str, Any]) -> None:
    """The hfToken (secret config) read with a plain `require` would land unwrapped in an
    input: the plan then shows its plaintext instead of "[secret]"."""
    job = record(dev_staging, "kubernetes:batch/v1:Job", "llama-31-8b-instruct-staging")

    def leak(document: dict[str, Any]) -> None:
        target = next(r for r in document["resources"] if r["urn"] == job["urn"])
        env = target["inputs"]["spec"]["template"]["spec"]["containers"][0]["env"]
        env.append({"name": "HF_TOKEN_COPY", "value": STAGING_TOKEN})

    messages = violations("secrets-stay-secret", mutate(dev_staging, leak))
    index = len(job["inputs"]["spec"]["template"]["spec"]["containers"][0]["env"])
    assert messages == [
        f"kubernetes:batch/v1:Job llama-31-8b-instruct-staging: "
        f"$.spec.template.spec.containers[0].env[{index}].value holds a secret value in plain "
        "text (keep it an Output from require_secret or a secret output)"
    ]


def test_secret_output_in_plain_text_fails(dev: dict[str, Any]) -> None:
    """The access key's secret (a secret output; the mocks return the placeholder) unwrapped
    into the credentials Secret."""
    assert record(dev, SECRET, "s3-credentials")["inputs"]["stringData"] == "[secret]"
    key = "secretKey"

    def unwrap(document: dict[str, Any]) -> None:
        secret = record(document, SECRET, "s3-credentials")
        secret["inputs"]["stringData"] = {key: SECRET_PLACEHOLDER}
        secret["secretPaths"] = []

    assert violations("secrets-stay-secret", mutate(dev, unwrap)) == [
        f"{SECRET} s3-credentials: $.stringData.{key} holds a secret value in plain text "
        "(keep it an Output from require_secret or a secret output)",
        f"{SECRET} s3-credentials: stringData is not a Pulumi secret "
        "(read it with require_secret or from a secret output)",
    ]


def test_partly_secret_data_fails(dev: dict[str, Any]) -> None:
    """A Secret whose keys are wrapped one by one passes only when every key is."""

    def partly(document: dict[str, Any], wrapped: list[str]) -> None:
        secret = record(document, SECRET, "s3-credentials")
        secret["inputs"]["stringData"] = {"user": "[secret]", "password": "[secret]"}
        secret["secretPaths"] = wrapped

    both = ["$.stringData.user", "$.stringData.password"]
    assert violations("secrets-stay-secret", mutate(dev, lambda d: partly(d, both))) == []
    one = ["$.stringData.password"]
    assert violations("secrets-stay-secret", mutate(dev, lambda d: partly(d, one))) == [
        f"{SECRET} s3-credentials: stringData is not a Pulumi secret "
        "(read it with require_secret or from a secret output)"
    ]
