"""The serving platform for both networking choices: pins, values, KnativeServing, ordering."""

from __future__ import annotations

import pytest

from components import versions
from tests.nodes import gpu_shapes, landing, node_shapes
from tests.plan_support import Plan
from tests.schemas import validate_custom_object

RELEASE = "kubernetes:helm.sh/v3:Release"
KNATIVE_SERVING = "kubernetes:operator.knative.dev/v1beta1:KnativeServing"
PINS = {
    "nvidia-device-plugin": versions.NVIDIA_DEVICE_PLUGIN,
    "cert-manager": versions.CERT_MANAGER,
    "istio-base": versions.ISTIO_BASE,
    "istiod": versions.ISTIOD,
    "istio-ingressgateway": versions.ISTIO_GATEWAY,
    "knative-operator": versions.KNATIVE_OPERATOR,
    "kserve-crd": versions.KSERVE_CRD,
    "kserve": versions.KSERVE_RESOURCES,
    "kserve-runtime-configs": versions.KSERVE_RUNTIME_CONFIGS,
}
ISTIO_RELEASES = {"istio-base", "istiod", "istio-ingressgateway"}


@pytest.fixture(params=["istio", "kourier"])
def plan(request: pytest.FixtureRequest, dev_plan: Plan, kourier_plan: Plan) -> Plan:
    return dev_plan if request.param == "istio" else kourier_plan


def releases(plan: Plan) -> dict[str, dict]:
    return {r["inputs"]["name"]: r for r in plan.of_type(RELEASE)}


def platform_releases(plan: Plan) -> dict[str, dict]:
    return {name: r for name, r in releases(plan).items() if name in PINS}


def test_each_release_is_pinned(plan: Plan) -> None:
    found = platform_releases(plan)
    expected = set(PINS) - (ISTIO_RELEASES if "istiod" not in found else set())
    assert set(found) == expected
    for name, release in found.items():
        pin, inputs = PINS[name], release["inputs"]
        assert inputs["version"] == pin.version, name
        if pin.repository.startswith("oci://"):
            assert inputs["chart"] == f"{pin.repository}/{pin.chart}"
        else:
            assert inputs["chart"] == pin.chart
            assert inputs["repositoryOpts"]["repo"] == pin.repository
        assert inputs["skipAwait"] is False and inputs["atomic"] is True, name
        assert inputs["timeout"] >= 300, name


def test_kourier_has_no_istio(kourier_plan: Plan) -> None:
    assert not ISTIO_RELEASES & set(releases(kourier_plan))


def test_values_that_matter(dev_plan: Plan) -> None:
    found = releases(dev_plan)
    assert found["cert-manager"]["inputs"]["values"]["crds"]["enabled"] is True
    kserve = found["kserve"]["inputs"]["values"]["kserve"]["controller"]
    assert kserve["deploymentMode"] == "Knative"
    assert (
        kserve["gateway"]["ingressGateway"]["gateway"] == "knative-serving/knative-ingress-gateway"
    )
    assert kserve["gateway"]["disableIstioVirtualHost"] is False
    storage = found["kserve"]["inputs"]["values"]["kserve"]["storage"]["resources"]
    assert storage["limits"]["cpu"] == "4", "parallel S3 downloads need more than one core"
    gateway = found["istio-ingressgateway"]["inputs"]["values"]
    assert gateway["labels"]["istio"] == "ingressgateway"
    assert gateway["service"]["type"] == "LoadBalancer"
    assert (
        gateway["service"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-type"]
        == "nlb"
    )
    # Matched against the nodes the plan creates (test_charts checks the rendered DaemonSet).
    plugin = found["nvidia-device-plugin"]["inputs"]["values"]
    assert landing(plugin, node_shapes(dev_plan)) == {s.source for s in gpu_shapes(dev_plan)}
    runtimes = found["kserve-runtime-configs"]["inputs"]["values"]["kserve"]["servingruntime"]
    assert runtimes["enabled"] is True
    assert runtimes["huggingfaceserver"]["disabled"] is False


def test_kourier_values(kourier_plan: Plan) -> None:
    kserve = releases(kourier_plan)["kserve"]["inputs"]["values"]["kserve"]["controller"]
    assert kserve["gateway"]["disableIstioVirtualHost"] is True
    serving = kourier_plan.one(KNATIVE_SERVING)["inputs"]["spec"]
    assert serving["ingress"]["kourier"]["enabled"] is True
    assert serving["ingress"]["istio"]["enabled"] is False
    assert serving["config"]["network"]["ingress-class"] == "kourier.ingress.networking.knative.dev"


def test_knative_serving_is_schema_valid_and_carries_the_seed_patch(plan: Plan) -> None:
    serving = plan.one(KNATIVE_SERVING)["inputs"]
    validate_custom_object(serving)
    config = serving["spec"]["config"]
    assert config["features"]["kubernetes.podspec-nodeselector"] == "enabled"
    assert config["features"]["kubernetes.podspec-tolerations"] == "enabled"
    assert config["deployment"]["progress-deadline"] == "1800s"
    # Ready while Karpenter starts a GPU node, not Unschedulable (issue 20); Knative reads it
    # with strconv.ParseBool (cm.AsBool), so the string "true".
    assert config["deployment"]["pod-is-always-schedulable"] == "true"
    assert config["autoscaler"]["allow-zero-initial-scale"] == "true"
    assert config["autoscaler"]["enable-scale-to-zero"] == "true"
    assert config["domain"] == {"example.com": ""}
    assert serving["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"


def test_ordering_edges(plan: Plan) -> None:
    found = releases(plan)
    serving = plan.one(KNATIVE_SERVING)
    data = plan.one("eks:index:ManagedNodeGroup", "cluster-data")
    gpu = plan.gpu_capacity()
    coredns = plan.one("aws:eks/addon:Addon", "cluster-coredns")
    assert coredns["inputs"]["addonName"] == "coredns"
    assert plan.depends_on(coredns, data)
    assert plan.depends_on(found["kserve"], serving)
    assert plan.depends_on(found["kserve"], found["kserve-crd"])
    assert plan.depends_on(found["kserve"], found["cert-manager"])
    assert plan.depends_on(serving, found["knative-operator"])
    if "istio-base" in found:
        assert plan.depends_on(serving, found["istio-base"])
        assert plan.depends_on(found["knative-operator"], found["istio-base"])
        # The InferenceServices wait for the gateway, not KnativeServing (issue 10).
        assert not plan.depends_on(serving, found["istio-ingressgateway"])
    webhook = plan.one("kubernetes:batch/v1:Job", "wait-for-kserve-webhook")
    assert plan.depends_on(found["kserve-runtime-configs"], webhook)
    assert plan.depends_on(webhook, found["kserve"])
    for name, release in platform_releases(plan).items():
        if name in ("kserve-crd", "istio-base"):  # CRDs only: the API server is enough
            assert not plan.depends_on(release, data), name
            continue
        assert plan.depends_on(release, data), name
        assert coredns["urn"] in release["dependencies"], name
        waits_for_gpu = plan.depends_on(release, gpu)
        assert waits_for_gpu == (name == "nvidia-device-plugin"), name
        assert not any(urn.endswith("::fluid") for urn in release["dependencies"]), name


def test_ingress_outputs(plan: Plan) -> None:
    assert plan.outputs["ingressHostname"] == "ingress-service.elb.example"
    # Istio: KServe's VirtualService host; Kourier: Knative's predictor host (hostnames.py).
    kourier = not any(r["inputs"]["name"] == "istiod" for r in plan.of_type(RELEASE))
    name = "{name}-predictor" if kourier else "{name}"
    pattern = f"http://{name}.kserve-fluid-demo.example.com"
    assert plan.outputs["inferenceServiceUrlPattern"] == pattern


def test_gateway_release_waits_for_load_balancer_deletion(dev_plan: Plan) -> None:
    gateway = releases(dev_plan)["istio-ingressgateway"]
    assert gateway["inputs"]["skipAwait"] is False
    assert gateway["inputs"]["timeout"] == 900
    cluster = dev_plan.one("eks:index:Cluster")
    vpc = dev_plan.one("aws:ec2/vpc:Vpc")
    # Destroy runs dependents first: gateway (and its NLB) -> data nodes -> cluster -> VPC.
    assert dev_plan.depends_on(gateway, dev_plan.one("eks:index:ManagedNodeGroup", "cluster-data"))
    assert dev_plan.depends_on(dev_plan.one("eks:index:ManagedNodeGroup", "cluster-data"), vpc)
    assert cluster["urn"] != gateway["urn"]
