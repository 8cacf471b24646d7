"""`staging: job` under mocks: the Job per model, its identity, secrets and DataLoad edge."""

from __future__ import annotations

import json

import pytest

from components import versions
from tests.nodes import data_shapes, landing, node_shapes
from tests.plan_support import Plan, render

JOB = "kubernetes:batch/v1:Job"


@pytest.fixture(scope="module")
def staging_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return render(
        tmp_path_factory.mktemp("plan-staging"),
        sets={"staging": "job"},
        secrets={"hfToken": "hf_not_a_real_token"},
    )


def staging_job(plan: Plan) -> dict:
    return plan.one(JOB, "llama-31-8b-instruct-staging")


def test_job_runs_the_pinned_image_on_data_nodes(staging_plan: Plan) -> None:
    spec = staging_job(staging_plan)["inputs"]["spec"]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    # Through the stack's Docker Hub cache in ECR (components/image_mirror.py).
    assert container["image"] == (
        "123456789012.dkr.ecr.eu-central-1.amazonaws.com/kserve-fluid-dev/docker-hub/"
        + versions.STAGING_IMAGE
    )
    assert not container["image"].endswith(":latest")
    # It calls S3 through IRSA, never the Kubernetes API: no API token mounted.
    assert pod["automountServiceAccountToken"] is False
    data_nodes = {s.source for s in data_shapes(staging_plan)}
    assert landing(pod, node_shapes(staging_plan)) == data_nodes
    assert pod["serviceAccountName"] == "model-stager"
    assert spec["backoffLimit"] == 3
    assert spec["activeDeadlineSeconds"] == 900 + round(15 * 2 * 1024 / 50)
    assert container["resources"]["limits"]["memory"] == "8Gi"
    token = next(e for e in container["env"] if e["name"] == "HF_TOKEN")
    assert token["valueFrom"]["secretKeyRef"] == {
        "name": "hf-token",
        "key": "HF_TOKEN",
        "optional": False,
    }
    assert not any(e["name"].startswith("AWS_SECRET") for e in container["env"])


def test_job_uses_irsa_with_write_access_to_the_prefix_only(staging_plan: Plan) -> None:
    account = staging_plan.one("kubernetes:core/v1:ServiceAccount", "staging-service-account")
    role = staging_plan.one("aws:iam/role:Role", "models-staging")
    assert account["inputs"]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == (
        "arn:aws:iam::123456789012:role/models-staging"
    )
    trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"][0]
    assert (
        "system:serviceaccount:kserve-fluid-demo:model-stager"
        in trust["Condition"]["StringEquals"].values()
    )
    policy = json.loads(
        staging_plan.one("aws:iam/policy:Policy", "models-stage-models")["inputs"]["policy"]
    )
    bucket = staging_plan.outputs["bucketName"]
    writes = next(s for s in policy["Statement"] if "s3:PutObject" in s["Action"])
    assert writes["Resource"] == [
        f"arn:aws:s3:::{bucket}/models/meta-llama--Meta-Llama-3.1-8B-Instruct/*"
    ]
    assert "s3:DeleteObject" not in writes["Action"]


def test_token_secret_is_secret_in_state(staging_plan: Plan) -> None:
    secret = staging_plan.one("kubernetes:core/v1:Secret", "hf-token")
    assert secret["secretPaths"] == ["$.stringData"]
    assert secret["inputs"]["stringData"] == "[secret]"


def test_dataload_waits_for_the_staging_job(staging_plan: Plan) -> None:
    dataload = staging_plan.one("kubernetes:data.fluid.io/v1alpha1:DataLoad")
    assert staging_plan.depends_on(dataload, staging_job(staging_plan))


def test_job_is_replaced_not_updated(staging_plan: Plan, dev_plan: Plan) -> None:
    job = staging_job(staging_plan)
    assert job["inputs"]["metadata"]["name"].startswith("stage-llama-31-8b-instruct-")
    assert dev_plan.of_type(JOB) and all(
        j["name"] != "llama-31-8b-instruct-staging" for j in dev_plan.of_type(JOB)
    )


def test_new_revision_gets_a_new_job_name(
    tmp_path_factory: pytest.TempPathFactory, staging_plan: Plan
) -> None:
    models = [
        {
            "name": "llama-31-8b-instruct",
            "s3Prefix": "models/meta-llama--Meta-Llama-3.1-8B-Instruct",
            "sizeGiB": 15,
            "hfRepo": "meta-llama/Meta-Llama-3.1-8B-Instruct",
            "hfRevision": "0e9e39f249a16976918f6564b8830bc894c89659",
            "vllmArgs": ["--max-model-len=1024"],
            "resources": {"cpu": "24", "memory": "48Gi", "gpu": 1},
            "minReplicas": 0,
            "maxReplicas": 1,
            "cacheReplicas": 3,
            "baseline": False,
            "warmStart": False,
        }
    ]
    pinned = render(
        tmp_path_factory.mktemp("plan-staging-rev"),
        sets={"staging": "job", "models": models},
        secrets={"hfToken": "hf_x"},
    )
    old = staging_job(staging_plan)["inputs"]["metadata"]["name"]
    new = staging_job(pinned)["inputs"]["metadata"]["name"]
    assert old != new and new.startswith("stage-llama-31-8b-instruct-")


def test_irsa_accounts_wait_for_their_role_to_read(dev_plan: Plan, staging_plan: Plan) -> None:
    """IAM is eventually consistent: a pod that assumes a role before its policy is attached
    is refused by S3 (KServe's storage initializer fails, the streamer cannot list)."""
    attachment = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    for plan, account, policy in (
        (dev_plan, "baseline-service-account", "models-storage-initializer-policy"),
        (staging_plan, "staging-service-account", "models-staging-policy"),
    ):
        service_account = plan.one("kubernetes:core/v1:ServiceAccount", account)
        assert plan.depends_on(service_account, plan.one(attachment, policy)), account
