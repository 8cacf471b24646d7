"""Every Helm release of the committed stacks, rendered from the real pinned chart.

Each release of dev, prod and the Kourier variant is rendered by Helm's own engine with exactly
the values, name and namespace the program registers (values.schema.json enforced). The tests
then ask what the cluster would get: a values key the chart ignores fails; and the objects the
program relies on (the gateway's load balancer, KServe's deployment mode and ingress, the device
plugin's placement, Fluid's Jindo controller and CSI plugin, cert-manager's CRDs) are checked in
the chart's output, against the nodes the plan creates.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from pathlib import Path

import helm_python as helm
import pytest

from components.platform.manifests import (
    INGRESS_GATEWAY_LABELS,
    INGRESS_GATEWAY_RELEASE,
    INTERNAL_ANNOTATION,
    ISTIO_NAMESPACE,
    NLB_ANNOTATIONS,
)
from components.versions import ChartPin
from tests.charts import (
    HelmRelease,
    MissingChartArchive,
    archive_for,
    chart_pins,
    crds_folder_objects,
    find,
    helm_releases,
    ignored_keys,
    installed_objects,
    pin_for,
    render_release,
    template_objects,
)
from tests.nodes import data_shapes, gpu_shapes, landing, node_shapes
from tests.plan_support import Plan, render

STACKS = ("dev", "prod", "kourier")
KNATIVE_SERVING = "kubernetes:operator.knative.dev/v1beta1:KnativeServing"
JINDO_RUNTIME = "kubernetes:data.fluid.io/v1alpha1:JindoRuntime"
POD_OWNERS = ("Deployment", "DaemonSet", "StatefulSet", "Job")


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture()
def plan(stack: str, request: pytest.FixtureRequest) -> Plan:
    found = request.getfixturevalue(f"{stack}_plan")
    assert isinstance(found, Plan)
    return found


@pytest.fixture()
def releases(plan: Plan, stack: str) -> dict[str, HelmRelease]:
    return {r.name: r for r in helm_releases(plan, stack)}


def _version(text: str) -> str:
    return text.removeprefix("v")


# --------------------------------------------------------------------------------------------
# Pins <-> archives
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pin", chart_pins(), ids=lambda p: f"{p.chart}-{p.version}")
def test_every_pin_has_its_chart_archive(pin: ChartPin) -> None:
    archive = archive_for(pin)
    with helm.Chart.load(archive) as chart:
        assert chart.name == pin.chart
        assert _version(chart.version) == _version(pin.version)


def test_a_pin_without_an_archive_names_the_missing_file(tmp_path: Path) -> None:
    pin = ChartPin("karpenter", "1.99.0", "oci://public.ecr.aws/karpenter", "a future pin")
    with pytest.raises(MissingChartArchive, match=re.escape(f"{tmp_path}/karpenter-1.99.0.tgz")):
        archive_for(pin, tmp_path)
    tagged = ChartPin("cert-manager", "v9.0.0", "https://charts.jetstack.io", "x")
    with pytest.raises(MissingChartArchive) as error:
        archive_for(tagged, tmp_path)
    assert f"{tmp_path}/cert-manager-v9.0.0.tgz or {tmp_path}/cert-manager-9.0.0.tgz" in str(
        error.value
    )


def test_a_release_of_an_unpinned_chart_is_refused() -> None:
    inputs = {
        "name": "extra",
        "chart": "oci://ghcr.io/example/charts/extra",
        "version": "1.0.0",
    }
    with pytest.raises(LookupError, match=r"which no ChartPin in components/versions\.py names"):
        pin_for(inputs)


def test_every_release_maps_to_a_pinned_archive(plan: Plan, stack: str) -> None:
    found = helm_releases(plan, stack)
    assert len(found) == len(plan.of_type("kubernetes:helm.sh/v3:Release")) + len(
        plan.of_type("kubernetes:helm.sh/v4:Chart")
    )
    assert {r.pin.chart for r in found} >= {"cert-manager", "kserve-resources", "fluid"}


# --------------------------------------------------------------------------------------------
# Rendering and ignored values
# --------------------------------------------------------------------------------------------


def test_every_release_renders(releases: dict[str, HelmRelease]) -> None:
    for release in releases.values():
        objects = template_objects(release)
        assert objects, release.label
        for document in objects:
            assert document.get("apiVersion") and document.get("kind"), release.label
            assert document.get("metadata", {}).get("name"), (release.label, document["kind"])


def test_no_values_key_is_ignored(releases: dict[str, HelmRelease]) -> None:
    problems = [p for release in releases.values() for p in ignored_keys(release)]
    assert problems == [], "\n".join(problems)


def _with_values(release: HelmRelease, values: dict) -> HelmRelease:
    return dataclasses.replace(release, values=values)


def test_an_injected_ignored_key_fails(dev_plan: Plan) -> None:
    releases = {r.name: r for r in helm_releases(dev_plan, "dev")}
    fluid = releases["fluid"]
    misspelt = copy.deepcopy(fluid.values)
    misspelt["csi"]["useNodeAuthorisation"] = False  # British spelling: the chart never reads it
    assert ignored_keys(_with_values(fluid, misspelt)) == [
        "dev: release fluid (chart fluid 1.0.8): values key csi.useNodeAuthorisation (= false) "
        "is ignored by the chart: changing or removing it renders the same objects"
    ]
    plugin = releases["nvidia-device-plugin"]
    extra = {**copy.deepcopy(plugin.values), "nodeSelectr": {"nvidia.com/gpu.present": "true"}}
    problems = ignored_keys(_with_values(plugin, extra))
    assert len(problems) == 1
    assert "values key nodeSelectr.nvidia.com/gpu.present" in problems[0]


def test_values_schema_is_enforced(dev_plan: Plan) -> None:
    cert_manager = {r.name: r for r in helm_releases(dev_plan, "dev")}["cert-manager"]
    values = copy.deepcopy(cert_manager.values)
    values["crds"]["enabeld"] = True
    rendered = render_release(cert_manager, values)
    assert rendered.error.startswith("HelmValuesError"), rendered.error
    assert "enabeld" in rendered.error


# --------------------------------------------------------------------------------------------
# What the program relies on, in the chart's output
# --------------------------------------------------------------------------------------------


def test_gateway_is_an_nlb_in_front_of_the_ingress_pods(
    plan: Plan, releases: dict[str, HelmRelease]
) -> None:
    serving = plan.one(KNATIVE_SERVING)["inputs"]["spec"]
    if "istio" not in serving["ingress"] or not serving["ingress"]["istio"]["enabled"]:
        assert INGRESS_GATEWAY_RELEASE not in releases
        # Kourier's Service comes from the Knative operator, annotated through KnativeServing.
        services = {s["name"]: s for s in serving["services"]}
        annotations = services["kourier"]["annotations"]
        assert NLB_ANNOTATIONS.items() <= annotations.items()
        assert INTERNAL_ANNOTATION not in annotations
        return
    objects = template_objects(releases[INGRESS_GATEWAY_RELEASE])
    (service,) = find(objects, "Service")
    # The program reads this Service's load balancer hostname (platform.ingress_service).
    assert service["metadata"]["name"] == INGRESS_GATEWAY_RELEASE
    assert service["metadata"].get("namespace", ISTIO_NAMESPACE) == ISTIO_NAMESPACE
    assert service["spec"]["type"] == "LoadBalancer"
    assert NLB_ANNOTATIONS.items() <= service["metadata"]["annotations"].items()
    # The in-tree cloud provider makes one NLB listener per Service port: HTTP 80 only, no 443
    # with nothing behind it, no Istio status port (issue 20).
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(80, 80)]
    # Internet-facing unless ingress.internal: the provider reads only this annotation.
    assert INTERNAL_ANNOTATION not in service["metadata"]["annotations"]
    assert (
        "service.beta.kubernetes.io/aws-load-balancer-scheme"
        not in (service["metadata"]["annotations"])
    )
    (deployment,) = find(objects, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    # net-istio's knative-ingress-gateway selects `istio: ingressgateway` (facts §3.3).
    assert {"istio": INGRESS_GATEWAY_LABELS["istio"]}.items() <= pod_labels.items()


@pytest.mark.parametrize("networking", ["istio", "kourier"])
def test_an_internal_ingress_sets_the_annotation_the_cloud_provider_reads(
    networking: str, tmp_path: Path
) -> None:
    """`ingress.internal: true` renders `aws-load-balancer-internal` on the real gateway chart's
    Service (Istio) or on Kourier's Service override (KnativeServing)."""
    plan = render(
        tmp_path, stack="prod", sets={"ingress": {"internal": True}, "networking": networking}
    )
    if networking == "kourier":
        serving = plan.one(KNATIVE_SERVING)["inputs"]["spec"]
        annotations = {s["name"]: s for s in serving["services"]}["kourier"]["annotations"]
    else:
        releases = {r.name: r for r in helm_releases(plan, "prod-internal")}
        (service,) = find(template_objects(releases[INGRESS_GATEWAY_RELEASE]), "Service")
        annotations = service["metadata"]["annotations"]
    assert annotations[INTERNAL_ANNOTATION] == "true"


def test_kserve_runs_knative_mode_behind_the_chosen_ingress(
    plan: Plan, releases: dict[str, HelmRelease]
) -> None:
    serving = plan.one(KNATIVE_SERVING)["inputs"]
    objects = template_objects(releases["kserve"])
    (config,) = find(objects, "ConfigMap", "inferenceservice-config")
    assert json.loads(config["data"]["deploy"])["defaultDeploymentMode"] == "Knative"
    ingress = json.loads(config["data"]["ingress"])
    (domain,) = serving["spec"]["config"]["domain"]
    assert ingress["ingressDomain"] == domain
    knative_namespace = serving["metadata"]["namespace"]
    assert ingress["localGateway"] == f"{knative_namespace}/knative-local-gateway"
    if serving["spec"]["ingress"].get("kourier", {}).get("enabled"):
        assert ingress["disableIstioVirtualHost"] is True
        assert ingress["localGatewayService"] == (
            f"kourier-internal.{knative_namespace}.svc.cluster.local"
        )
    else:
        assert ingress["disableIstioVirtualHost"] is False
        assert ingress["ingressGateway"] == f"{knative_namespace}/knative-ingress-gateway"
        assert ingress["ingressClassName"] == "istio"
        assert ingress["localGatewayService"] == (
            f"knative-local-gateway.{releases['istiod'].namespace}.svc.cluster.local"
        )
    (storage,) = find(objects, "ClusterStorageContainer", "default")
    limits = storage["spec"]["container"]["resources"]["limits"]
    assert limits["cpu"] == "4", "the baseline's parallel S3 downloads need a core each"


def test_device_plugin_runs_on_every_gpu_node_and_nowhere_else(
    plan: Plan, releases: dict[str, HelmRelease]
) -> None:
    release = releases["nvidia-device-plugin"]
    (daemonset,) = find(template_objects(release), "DaemonSet", release.name)
    pod = daemonset["spec"]["template"]["spec"]
    assert landing(pod, gpu_shapes(plan)) == {s.source for s in gpu_shapes(plan)}
    assert landing(pod, data_shapes(plan)) == set()


def test_fluid_runs_the_jindo_controller_and_an_eks_ready_csi_plugin(
    plan: Plan, releases: dict[str, HelmRelease]
) -> None:
    objects = template_objects(releases["fluid"])
    (controller,) = find(objects, "Deployment", "jindoruntime-controller")
    assert controller["spec"]["replicas"] >= 1, "scaled to 0 until first use otherwise"
    (csi,) = find(objects, "DaemonSet", "csi-nodeplugin-fluid")
    host_paths = {v["hostPath"]["path"] for v in csi["spec"]["template"]["spec"]["volumes"]
                  if "hostPath" in v}  # fmt: skip
    # EKS nodes have no /etc/kubernetes/kubelet.conf (useNodeAuthorization=false, fluid#4496).
    assert not any(p.startswith("/etc/kubernetes") for p in host_paths), host_paths
    (role,) = find(objects, "ClusterRole", "fluid-csi-plugin")
    node_verbs = {v for r in role["rules"] if "nodes" in r["resources"] for v in r["verbs"]}
    assert {"get", "patch"} <= node_verbs
    # The CSI plugin must run wherever the JindoRuntime's FUSE (and so a model pod) runs.
    fuse = plan.one(JINDO_RUNTIME)["inputs"]["spec"]["fuse"]
    fuse_nodes = landing(fuse, node_shapes(plan))
    assert fuse_nodes, "the FUSE pods fit no node of the plan"
    assert fuse_nodes <= landing(csi["spec"]["template"]["spec"], node_shapes(plan))


# The namespace of FUSE keys each Jindo engine reads (fluid-cloudnative/fluid@v1.0.8:
# pkg/ddc/jindocache/transform.go and pkg/ddc/jindofsx/transform.go `transformFuse` defaults).
JINDO_ENGINE_KEY_PREFIX = {"jindocache": "fs.jindocache.", "jindofsx": "fs.jindofsx."}


def test_jindo_fuse_keys_belong_to_the_engine_fluid_runs(
    plan: Plan, releases: dict[str, HelmRelease]
) -> None:
    """The engine comes from the rendered chart (the controller's JINDO_ENGINE_TYPE); a FUSE
    property of another engine's namespace would be silently ignored."""
    objects = template_objects(releases["fluid"])
    (controller,) = find(objects, "Deployment", "jindoruntime-controller")
    env = {
        e["name"]: e.get("value")
        for e in controller["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    engine = env["JINDO_ENGINE_TYPE"]
    assert engine == "jindocache"
    keys = plan.one(JINDO_RUNTIME)["inputs"]["spec"]["fuse"]["properties"]
    foreign = [
        key
        for other, prefix in JINDO_ENGINE_KEY_PREFIX.items()
        if other != engine
        for key in keys
        if key.startswith(prefix)
    ]
    assert foreign == []


def test_cert_manager_installs_and_keeps_its_crds(releases: dict[str, HelmRelease]) -> None:
    crds = find(installed_objects(releases["cert-manager"]), "CustomResourceDefinition")
    assert {c["metadata"]["name"] for c in crds} == {
        f"{plural}.{group}"
        for plural, group in (
            ("certificates", "cert-manager.io"),
            ("certificaterequests", "cert-manager.io"),
            ("issuers", "cert-manager.io"),
            ("clusterissuers", "cert-manager.io"),
            ("orders", "acme.cert-manager.io"),
            ("challenges", "acme.cert-manager.io"),
        )
    }
    for crd in crds:
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_every_custom_object_has_its_crd_installed_by_a_release(
    plan: Plan, releases: dict[str, HelmRelease]
) -> None:
    installed = [o for r in releases.values() for o in installed_objects(r)]
    served = {
        (f"{c['spec']['group']}/{v['name']}", c["spec"]["names"]["kind"])
        for c in find(installed, "CustomResourceDefinition")
        for v in c["spec"]["versions"]
        if v.get("served", True)
    }
    program = [r["inputs"] for r in plan.resources if r["type"].startswith("kubernetes:")]
    wanted = {
        (o["apiVersion"], o["kind"])
        for o in [*installed, *program]
        if "apiVersion" in o and "." in o["apiVersion"].split("/")[0]
        and not o["apiVersion"].split("/")[0].endswith("k8s.io")
    }  # fmt: skip
    missing = sorted(wanted - served)
    assert missing == [], f"no release of the plan installs the CRD of {missing}"


def test_chart_pods_fit_the_plans_nodes(plan: Plan, releases: dict[str, HelmRelease]) -> None:
    """Controllers land on the untainted data nodes; no pod template fits no node at all,
    except NVIDIA's MPS daemon, which by design waits for nodes labelled MPS-capable."""
    problems = []
    for release in releases.values():
        for owner in (o for o in template_objects(release) if o["kind"] in POD_OWNERS):
            template = owner["spec"].get("template") or owner["spec"]["jobTemplate"]["spec"]
            pod = template["spec"]
            name = f"{release.label}: {owner['kind']} {owner['metadata']['name']}"
            fits = landing(pod, node_shapes(plan))
            if owner["kind"] == "Deployment" and not landing(pod, data_shapes(plan)):
                problems.append(f"{name} does not fit the data nodes")
            elif not fits and not owner["metadata"]["name"].endswith("mps-control-daemon"):
                problems.append(f"{name} fits no node of the plan")
    assert problems == [], "\n".join(problems)


def test_crds_folder_is_rendered(releases: dict[str, HelmRelease]) -> None:
    """Fluid ships its CRDs in crds/: they count among what the release installs, unless the
    release skips them (Karpenter's come from the karpenter-crd release)."""
    kinds = {c["spec"]["names"]["kind"] for c in crds_folder_objects(releases["fluid"])}
    assert {"Dataset", "JindoRuntime", "DataLoad"} <= kinds
    fluid = releases["fluid"]
    assert not fluid.skip_crds
    assert crds_folder_objects(dataclasses.replace(fluid, skip_crds=True)) == []
    for release in releases.values():
        if release.skip_crds:
            assert crds_folder_objects(release) == []
