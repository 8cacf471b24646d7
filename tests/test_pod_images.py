"""No pod of the stack pulls from outside the region's ECR, counted from the real charts.

tests/gpu_images.py renders every Helm release of the plan from its chart archive with the
plan's values, takes every pod template (controllers, webhooks, hook Jobs, DaemonSets), resolves
the ingress gateway's injected proxy from istiod's injector values, adds the plan's own Jobs and
the pods controllers create (Jindo master, workers and FUSE; InferenceService pods with
queue-proxy and storage initializer), and this module checks each image against ECR and
against the inventory `make plan` prints (components/image_mirror.py `inventory`).
"""

from __future__ import annotations

import pytest
import yaml

from components import versions
from components.image_mirror import ImageMirror, MirrorSettings, inventory
from tests.gpu_images import KNATIVE_KODATA, every_pod_image
from tests.plan_support import Plan
from tools.plan.render import ACCOUNT_ID, print_image_inventory
from tools.plan.stack_config import load_stack_settings, load_typed_config

ECR = f"{ACCOUNT_ID}.dkr.ecr.eu-central-1.amazonaws.com"
COPY_TOOL = versions.pinned(versions.CRANE_IMAGE)


@pytest.mark.parametrize("stack", ["dev", "prod", "kourier"])
def test_every_pod_image_is_in_the_regions_ecr(stack: str, request: pytest.FixtureRequest) -> None:
    """The one exception is the copy Jobs' own crane, pinned by digest (a copy tool cannot
    bring itself in, and ECR cannot cache gcr.io)."""
    plan: Plan = request.getfixturevalue(f"{stack}_plan")
    images = every_pod_image(plan)
    outside = sorted({(i.image, i.source) for i in images if not i.image.startswith(f"{ECR}/")})
    assert {image for image, _ in outside} == {COPY_TOOL}, outside
    assert all(source.startswith("plan: Job/copy-") for _, source in outside)
    sources = " ".join(i.source for i in images)
    ingress = (
        [
            "KnativeServing: Deployment/net-kourier-controller controller",
            "KnativeServing: Deployment/3scale-kourier-gateway kourier-gateway",
        ]
        if stack == "kourier"
        else [
            "istiod: Deployment/istiod",
            "istio-ingressgateway: Deployment/istio-ingressgateway",
            "KnativeServing: Deployment/net-istio-controller controller",
            "KnativeServing: Deployment/net-istio-webhook webhook",
        ]
    )
    for workload in (
        *ingress,
        "fluid: Deployment/dataset-controller",
        "fluid: Job/fluid-crds-upgrade",
        "fluid: Deployment/fluid-webhook",
        "KnativeServing: Deployment/activator activator",
        "KnativeServing: Deployment/autoscaler-hpa autoscaler-hpa",
        "KnativeServing: Deployment/controller controller",
        "KnativeServing: Job/cleanup-serving- cleanup",
        "KnativeServing: Job/storage-version-migration-serving- migrate",
        "kserve: Deployment/kserve-controller-manager",
        "cert-manager: Deployment/cert-manager-webhook",
        "knative-operator: Deployment/knative-operator",
        "karpenter: Deployment/karpenter",
        "plan: Job/wait-for-kserve-webhook",
        "JindoRuntime/s3-data master",
    ):
        assert workload in sources, f"{workload}: not found among the stack's pods"


def test_no_pod_pulls_from_docker_hub(dev_plan: Plan) -> None:
    hub = [i for i in every_pod_image(dev_plan) if "docker.io" in i.image.split("/")[0]]
    assert hub == []
    proxies = [i.image for i in every_pod_image(dev_plan) if "/istio/proxyv2:" in i.image]
    assert proxies == [f"{ECR}/kserve-fluid-dev/docker-hub/istio/proxyv2:1.29.2"]


def test_the_operator_pods_use_the_pinned_digests(kourier_plan: Plan, dev_plan: Plan) -> None:
    """Each operator-created pod pulls the kodata's own digest from the copy in ECR, and
    Kourier's envoy the fixed v1.37.2 through the Docker Hub cache, not `v1.37-latest`."""
    kodata = yaml.safe_load(KNATIVE_KODATA.read_text())
    digests = {
        c["image"].partition("@")[2]
        for group in kodata.values()
        for w in group
        for c in w["containers"]
        if "@" in c["image"]
    }
    pulled = [
        i.image
        for plan in (dev_plan, kourier_plan)
        for i in every_pod_image(plan)
        if i.source.startswith("KnativeServing: ")
    ]
    copies = [i for i in pulled if "/copy/gcr.io/knative-releases/" in i]
    assert {i.partition("@")[2] for i in copies} == digests
    envoy = {i for i in pulled if "envoy" in i}
    assert envoy == {
        f"{ECR}/kserve-fluid-dev/docker-hub/envoyproxy/envoy:v1.37.2@"
        + str(versions.digest_of(versions.KOURIER_ENVOY_IMAGE))
    }


def test_the_printed_inventory_lists_every_pod_image(
    dev_plan: Plan, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror = ImageMirror.for_stack(
        MirrorSettings.of(load_typed_config("dev")), ACCOUNT_ID, "eu-central-1", "kserve-fluid-dev"
    )
    pulled = {line.pulled for line in inventory(mirror)}
    found = {i.image for i in every_pod_image(dev_plan)}
    assert found - pulled == set()
    print_image_inventory(load_stack_settings("dev"))
    printed = capsys.readouterr().out
    assert printed.startswith(f"images ({len(pulled)}; pulled from -> how it gets there):")
    assert (
        "  curlimages/curl:8.11.1  [KServe webhook wait and DataLoad gate Jobs]\n"
        f"    {ECR}/kserve-fluid-dev/docker-hub/curlimages/curl:8.11.1@sha256:"
        "c1fe1679c34d9784c1b0d1e5f62ac0a79fca01fb6377cdd33e90473c6f9f9a69 -> cache "
        "kserve-fluid-dev/docker-hub\n"
    ) in printed
    assert f"    {COPY_TOOL} -> upstream\n" in printed


def test_only_the_programs_pods_that_call_the_api_mount_a_token(dev_plan: Plan) -> None:
    """The copy Jobs (IRSA, which brings its own projected token) and the webhook wait mount
    no API token; the DataLoad gate reads the DataLoad's status from the API server."""
    mounts = {
        job["inputs"]["metadata"]["name"]: job["inputs"]["spec"]["template"]["spec"].get(
            "automountServiceAccountToken", True
        )
        for job in dev_plan.of_type("kubernetes:batch/v1:Job")
    }
    assert len(mounts) == 19
    assert {name for name, mounted in mounts.items() if mounted is not False} == {
        "llama-31-8b-instruct-dataload-gate"
    }
