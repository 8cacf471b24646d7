"""Every image a GPU node pulls, found from the offline plan and the real charts it installs.

Nothing here trusts the program's own image list: Helm releases are rendered from the chart
archives in `vendor/charts/` with the values the plan would pass (helm-python-sdk 0.2.2, Helm
v4's engine), pods are kept when they can land on a GPU node (tolerate its taint, and their node
selection admits its labels), and the pods controllers create at run time are derived from the
objects that configure them: the Jindo FUSE DaemonSet from the JindoRuntime and the Jindo
controller's environment (fluid-cloudnative/fluid:pkg/ddc/jindocache/transform.go@v1.0.8), the
InferenceService pods from their runtime (plus `-gpu` as kserve's `UpdateImageTag` adds it,
pkg/controller/v1beta1/inferenceservice/utils/utils.go@v0.20.0), the storage initializer from
the ClusterStorageContainer, and queue-proxy from KnativeServing's config-deployment.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.naming import GPU_TAINT_KEY, INSTANCE_TYPE_LABEL, gpu_node_labels
from tests import charts
from tests.plan_support import ROOT, Plan
from tools.maintain.vendor import CHART_DIR

CHARTS = CHART_DIR
POD_TEMPLATES = {
    "Deployment": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}
JINDO_FALLBACK = {
    # The controller's built-in defaults when neither the runtime nor its env names an image
    # (fluid-cloudnative/fluid:pkg/ddc/jindocache/transform.go@v1.0.8).
    "JINDO_FUSE_IMAGE_ENV": "registry.cn-shanghai.aliyuncs.com/jindofs/jindo-fuse:6.2.0",
    "JINDO_SMARTDATA_IMAGE_ENV": "registry.cn-shanghai.aliyuncs.com/jindofs/smartdata:6.2.0",
}
KNATIVE_KODATA = ROOT / "tests" / "data" / "knative_operator_kodata.yaml"
KNATIVE_DEFAULT_QUEUE = "gcr.io/knative-releases/knative.dev/serving/cmd/queue@<operator default>"


@dataclass(frozen=True)
class GpuImage:
    image: str
    source: str  # which object puts it on the GPU node


def chart_archive(chart: str, version: str) -> Path:
    name = chart.rsplit("/", 1)[-1]
    for candidate in (f"{name}-{version}.tgz", f"{name}-{version.lstrip('v')}.tgz"):
        if (CHARTS / candidate).exists():
            return CHARTS / candidate
    raise FileNotFoundError(f"no chart archive for {chart} {version} in {CHARTS}")


def render_release(release: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects one Helm release of the plan installs, rendered from the real chart.

    Through tests/charts.py: one render per (archive, values) and libyaml parsing, shared with
    the chart tests; parsing the rendered CRDs in pure Python took most of this module's time.
    """
    archive = chart_archive(release["chart"], release["version"])
    rendered = charts.render(
        archive, release["values"] or {}, release["helmRelease"], release["namespace"]
    )
    assert not rendered.error, f"release {release['helmRelease']}: {rendered.error}"
    return [
        document
        for _, text in rendered.manifests
        for document in charts.split_documents(text)
        if "kind" in document
    ]


def gpu_node(plan: Plan) -> dict[str, str]:
    """The labels a GPU node carries: the Karpenter NodePool's template labels and the first
    value of each `In` requirement, or the managed node group's labels and instance type."""
    automatic = {"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
    pools = [d for d in plan.manifests().values() if d.get("kind") == "NodePool"]
    if pools:
        template = pools[0]["spec"]["template"]
        labels = {**automatic, **template["metadata"]["labels"]}
        for requirement in template["spec"]["requirements"]:
            if requirement["operator"] == "In":
                labels[requirement["key"]] = requirement["values"][0]
        return labels
    group = plan.one("eks:index:ManagedNodeGroup", "cluster-gpu")["inputs"]
    return {**automatic, **gpu_node_labels(), INSTANCE_TYPE_LABEL: group["instanceTypes"][0]}


def tolerates_gpu_taint(tolerations: list[dict[str, Any]] | None) -> bool:
    for toleration in tolerations or []:
        if toleration.get("effect") not in (None, "", "NoSchedule"):
            continue
        key, operator = toleration.get("key"), toleration.get("operator", "Equal")
        if operator == "Exists" and key in (None, "", GPU_TAINT_KEY):
            return True
        if operator == "Equal" and key == GPU_TAINT_KEY and toleration.get("value") == "true":
            return True
    return False


def _matches(expression: dict[str, Any], labels: dict[str, str]) -> bool:
    key, operator = expression["key"], expression["operator"]
    values = expression.get("values") or []
    if operator == "In":
        return labels.get(key) in values
    if operator == "NotIn":
        return labels.get(key) not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    raise AssertionError(f"operator {operator} not handled")


def admits(pod: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether the pod's nodeSelector and required node affinity allow a node with `labels`."""
    if any(labels.get(k) != v for k, v in (pod.get("nodeSelector") or {}).items()):
        return False
    required = (
        (pod.get("affinity") or {})
        .get("nodeAffinity", {})
        .get("requiredDuringSchedulingIgnoredDuringExecution")
    )
    if not required:
        return True
    return any(
        all(_matches(e, labels) for e in term.get("matchExpressions") or [])
        for term in required["nodeSelectorTerms"]
    )


def _pod_spec(document: dict[str, Any]) -> dict[str, Any] | None:
    path = POD_TEMPLATES.get(document.get("kind", ""))
    node: Any = document
    for key in path or ():
        node = (node or {}).get(key)
    return node if path else None


def _images(pod: dict[str, Any]) -> list[str]:
    return [c["image"] for c in [*pod.get("initContainers", []), *pod.get("containers", [])]]


def _manifests(plan: Plan) -> list[dict[str, Any]]:
    return list(plan.manifests().values())


def gpu_images(plan: Plan) -> list[GpuImage]:
    """Every (image, source) a GPU node of this plan pulls."""
    if plan.folder not in _FOUND:
        _FOUND[plan.folder] = _gpu_images(plan)
    return list(_FOUND[plan.folder])


_FOUND: dict[Path, tuple[GpuImage, ...]] = {}  # rendering charts is slow; plans do not change


def every_pod_image(plan: Plan) -> list[GpuImage]:
    """Every (image, source) any pod of this plan runs, on any node: the charts' workloads, the
    plan's own, the injected gateway proxy, and the pods controllers create (Jindo master,
    workers and FUSE; InferenceService pods)."""
    key = plan.folder / "every-pod"
    if key not in _FOUND:
        _FOUND[key] = _gpu_images(plan, every_node=True)
    return list(_FOUND[key])


def _injected_proxy(rendered: dict[str, list[dict[str, Any]]]) -> str:
    """The proxy image istiod injects for `image: auto` (the gateway chart's pods): its
    injector's `global.hub`/`global.proxy.image`:`global.tag` (istiod-1.29.2
    templates/configmap.yaml writes them to `istio-sidecar-injector`'s `values`)."""
    for document in rendered.get("istiod", []):
        if document["kind"] == "ConfigMap" and document["metadata"]["name"] == (
            "istio-sidecar-injector"
        ):
            values = json.loads(document["data"]["values"])["global"]
            return f"{values['hub']}/{values['proxy']['image']}:{values['tag']}"
    raise AssertionError("a gateway pod asks for an injected proxy but istiod is not rendered")


def _gpu_images(plan: Plan, every_node: bool = False) -> tuple[GpuImage, ...]:
    labels = gpu_node(plan)
    found: list[GpuImage] = []
    rendered: dict[str, list[dict[str, Any]]] = {}
    objects: list[dict[str, Any]] = []
    for document in _manifests(plan):
        if "helmRelease" in document:
            rendered[document["helmRelease"]] = render_release(document)
        else:
            objects.append(document)

    def lands(spec: dict[str, Any]) -> bool:
        return every_node or (tolerates_gpu_taint(spec.get("tolerations")) and admits(spec, labels))

    # Workloads the charts and the plan create directly.
    for release, documents in [*rendered.items(), ("plan", objects)]:
        for document in documents:
            pod = _pod_spec(document)
            if pod and lands(pod):
                source = f"{release}: {document['kind']}/{document['metadata']['name']}"
                for image in _images(pod):
                    if image == "auto":  # istiod's injection (gateway-1.29.2 deployment.yaml)
                        image = _injected_proxy(rendered)
                    found.append(GpuImage(image, source))

    everything = [d for documents in rendered.values() for d in documents] + objects
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for document in everything:
        by_kind.setdefault(document["kind"], []).append(document)

    # Jindo FUSE: a DaemonSet the Jindo controller creates from the JindoRuntime's fuse spec.
    controller_env = {
        env["name"]: env.get("value", "")
        for deployment in by_kind.get("Deployment", [])
        if deployment["metadata"]["name"] == "jindoruntime-controller"
        for container in deployment["spec"]["template"]["spec"]["containers"]
        for env in container.get("env", [])
    }
    for runtime in by_kind.get("JindoRuntime", []):
        fuse = runtime["spec"].get("fuse", {})
        if every_node:
            # Master and workers: the runtime's jindoVersion, else the controller's default.
            version = runtime["spec"].get("jindoVersion", {})
            default = (
                controller_env.get("JINDO_SMARTDATA_IMAGE_ENV")
                or JINDO_FALLBACK["JINDO_SMARTDATA_IMAGE_ENV"]
            )
            repository, _, tag = default.rpartition(":")
            image = f"{version.get('image') or repository}:{version.get('imageTag') or tag}"
            found.append(GpuImage(image, f"JindoRuntime/{runtime['metadata']['name']} master"))
        if lands(fuse):
            default = (
                controller_env.get("JINDO_FUSE_IMAGE_ENV") or JINDO_FALLBACK["JINDO_FUSE_IMAGE_ENV"]
            )
            repository, _, tag = default.rpartition(":")
            image = f"{fuse.get('image') or repository}:{fuse.get('imageTag') or tag}"
            found.append(GpuImage(image, f"JindoRuntime/{runtime['metadata']['name']} fuse"))

    # The Knative Operator's pods for the KnativeServing (Serving and its ingress).
    for knative_serving in by_kind.get("KnativeServing", []) if every_node else []:
        found.extend(knative_operator_pods(knative_serving["spec"]))

    # InferenceService pods: runtime container, queue-proxy, storage initializer.
    runtimes = {
        r["metadata"]["name"]: r
        for r in by_kind.get("ClusterServingRuntime", []) + by_kind.get("ServingRuntime", [])
    }
    storage = [c["spec"]["container"]["image"] for c in by_kind.get("ClusterStorageContainer", [])]
    serving = by_kind.get("KnativeServing", [{}])[0].get("spec", {})
    queue = serving.get("config", {}).get("deployment", {}).get("queue-sidecar-image")
    for isvc in by_kind.get("InferenceService", []):
        predictor = isvc["spec"]["predictor"]
        if not lands(predictor):
            continue
        name = f"InferenceService/{isvc['metadata']['name']}"
        model = predictor["model"]
        runtime_name = model.get("runtime") or _auto_selected(
            runtimes, model["modelFormat"], multinode="workerSpec" in isvc["spec"]
        )
        container = runtimes[runtime_name]["spec"]["containers"][0]
        image = container["image"]
        gpu = "nvidia.com/gpu" in model.get("resources", {}).get("limits", {})
        server_type = runtimes[runtime_name]["spec"].get("annotations", {}).get(
            "serving.kserve.io/server-type"
        ) or runtimes[runtime_name]["metadata"].get("annotations", {}).get(
            "serving.kserve.io/server-type"
        )
        if gpu and server_type == "huggingfaceserver" and not image.endswith("-gpu"):
            image += "-gpu"  # kserve UpdateImageTag@v0.20.0
        found.append(GpuImage(image, f"{name} runtime {runtime_name}"))
        found.append(GpuImage(queue or KNATIVE_DEFAULT_QUEUE, f"{name} queue-proxy"))
        if str(model.get("storageUri", "")).startswith(("s3://", "gs://", "hf://", "https://")):
            assert storage, "no ClusterStorageContainer rendered"
            found.extend(GpuImage(image, f"{name} storage-initializer") for image in storage)
    return tuple(found)


def knative_operator_pods(spec: dict[str, Any]) -> list[GpuImage]:
    """The images of the pods the Knative Operator creates for a KnativeServing with `spec`:
    its bundled manifests (tests/data/knative_operator_kodata.yaml, from the operator's kodata)
    with `spec.registry` applied as the operator applies it
    (knative/operator:pkg/reconciler/common/images.go@knative-v1.22.3 `ImageTransform`:
    `<name>/<container>`, then `<container>`, then `default` with `${NAME}`; a Job's name is
    its generateName then, `JobTransform` runs after it, transformers.go)."""
    kodata = yaml.safe_load(KNATIVE_KODATA.read_text())
    ingress = spec.get("ingress", {})
    groups = ["serving"]
    if ingress.get("istio", {}).get("enabled", not ingress.get("kourier", {}).get("enabled")):
        groups.append("istio")  # the operator's default ingress
    if ingress.get("kourier", {}).get("enabled"):
        groups.append("kourier")
    registry = spec.get("registry", {})
    override, default = registry.get("override", {}), registry.get("default", "")
    found = []
    for workload in (w for group in groups for w in kodata[group]):
        name = workload.get("name") or workload["generateName"]
        for container in workload["containers"]:
            image = override.get(f"{name}/{container['name']}") or override.get(container["name"])
            if image is None and default:
                last = container["image"].rsplit("/", 1)[-1]
                image = default.replace("${NAME}", re.split("[:@]", last)[0])
            source = f"KnativeServing: {workload['kind']}/{name} {container['name']}"
            found.append(GpuImage(image or container["image"], source))
    return found


def _auto_selected(
    runtimes: dict[str, dict[str, Any]], model_format: dict[str, Any], multinode: bool
) -> str:
    """KServe's choice: enabled, single-model, multi-node only for worker specs, auto-selectable,
    highest priority (kserve:pkg/apis/serving/v1beta1/predictor_model.go@v0.20.0
    `GetSupportingRuntimes`)."""
    candidates = [
        (fmt.get("priority", 0), name)
        for name, runtime in runtimes.items()
        if not runtime["spec"].get("disabled")
        and not runtime["spec"].get("multiModel")
        and ("workerSpec" in runtime["spec"]) == multinode
        for fmt in runtime["spec"]["supportedModelFormats"]
        if fmt["name"] == model_format["name"] and fmt.get("autoSelect")
    ]
    assert candidates, f"no runtime auto-selects {json.dumps(model_format)}"
    return max(candidates)[1]
