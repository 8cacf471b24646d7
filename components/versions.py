"""Every chart, image and app version the stack installs, each with the reason for the pin.

Change a version here and nowhere else. The reasons cite `docs/reference/kserve-fluid-facts.md`
(facts §N) where the evidence lives.
"""

from __future__ import annotations

from dataclasses import dataclass

# EKS: KServe v0.20.0 supports Kubernetes 1.32-1.34 (facts §3.1), Knative 1.21 needs >= 1.33 and
# Istio 1.29 supports 1.31-1.35, so 1.33 and 1.34 are the versions every pinned piece supports.
SUPPORTED_KUBERNETES_VERSIONS: tuple[str, ...] = ("1.33", "1.34")


@dataclass(frozen=True)
class ChartPin:
    """A Helm chart at one version, from one repository."""

    chart: str
    version: str
    repository: str
    reason: str


KSERVE_VERSION = "v0.20.0"

NVIDIA_DEVICE_PLUGIN = ChartPin(
    chart="nvidia-device-plugin",
    version="0.20.0",
    repository="https://nvidia.github.io/k8s-device-plugin",
    reason="latest release (2026-08-19); AL2023 NVIDIA AMIs ship the driver, not the plugin (§3.8)",
)
CERT_MANAGER = ChartPin(
    chart="cert-manager",
    version="v1.17.0",
    repository="https://charts.jetstack.io",
    reason="the version KServe v0.20.0 tests (kserve-deps.env, §3.1); still a supported line",
)
ISTIO_BASE = ChartPin(
    chart="base",
    version="1.29.2",
    repository="https://istio-release.storage.googleapis.com/charts",
    reason=(
        "KServe tests 1.27.1, EOL 2026-04-07; 1.29.2 is what net-istio knative-v1.22.0 tests "
        "against, supports K8s 1.31-1.35, and KServe only uses Gateway/VirtualService v1 APIs "
        "that are unchanged since 1.22 (§3.1, §3.3)"
    ),
)
ISTIOD = ChartPin("istiod", ISTIO_BASE.version, ISTIO_BASE.repository, ISTIO_BASE.reason)
ISTIO_GATEWAY = ChartPin("gateway", ISTIO_BASE.version, ISTIO_BASE.repository, ISTIO_BASE.reason)
KNATIVE_OPERATOR = ChartPin(
    chart="knative-operator",
    version="v1.22.3",
    repository="https://knative.github.io/operator",
    reason=(
        "KServe tests 1.21.1, EOL 2026-08-04; 1.22 is the next minor (the operator upgrades one "
        "minor at a time, so 1.23 stays one step away), net-istio 1.22 tests Istio 1.29.2, and "
        "KServe only uses the stable serving.knative.dev/v1 API (§3.1). v1.22.3 is the newest "
        "1.22 patch in the chart index (knative/operator PR #2335 lists v1.23.0 and v1.22.3)"
    ),
)
KNATIVE_SERVING_VERSION = "1.22"
"""Major.minor: the operator installs the Serving patch release it bundles."""
KSERVE_CRD = ChartPin(
    chart="kserve-crd",
    version=KSERVE_VERSION,
    repository="oci://ghcr.io/kserve/charts",
    reason="latest KServe release (2026-08-05); CRDs as their own release (§3.5, §5 item 8)",
)
KSERVE_RESOURCES = ChartPin(
    "kserve-resources", KSERVE_VERSION, KSERVE_CRD.repository, "controller of the same release"
)
KSERVE_RUNTIME_CONFIGS = ChartPin(
    "kserve-runtime-configs",
    KSERVE_VERSION,
    KSERVE_CRD.repository,
    "built-in ClusterServingRuntimes of the same release, needed by the baseline service",
)
FLUID = ChartPin(
    chart="fluid",
    version="1.0.8",
    repository="https://fluid-cloudnative.github.io/charts",
    reason="latest stable (2025-10-30); has csi.useNodeAuthorization, needed on EKS (§3.7, §5.1)",
)

# Images the stack's own objects run (charts pin their own).
HUGGINGFACE_SERVER_GPU_IMAGE = f"kserve/huggingfaceserver:{KSERVE_VERSION}-gpu"
"""The `-gpu` tag carries vLLM; the plain tag is the CPU build since kserve PR #4049 (§0.1)."""

CURL_IMAGE = "curlimages/curl:8.11.1"
"""Small image for the Job that waits for KServe's webhook; any pinned curl build works."""

STAGING_IMAGE = f"kserve/storage-initializer:{KSERVE_VERSION}"
"""Carries boto3 and huggingface_hub (kserve python/storage/pyproject.toml at v0.20.0 lists
both), so the staging Job installs nothing at start; USER 1000, python3 from /prod_venv."""

# Images on a GPU node's cold path, as the pinned charts and controllers reference them; the
# image mirror (components/image_mirror.py) rewrites them to ECR. Each equals the chart default.
NVIDIA_DEVICE_PLUGIN_IMAGE = f"nvcr.io/nvidia/k8s-device-plugin:v{NVIDIA_DEVICE_PLUGIN.version}"
"""Chart default: `image.repository` + appVersion (nvidia-device-plugin-0.20.0 values.yaml)."""
FLUID_CSI_REGISTRAR_IMAGE = "fluidcloudnative/csi-node-driver-registrar:v2.14.0"
"""Chart default `csi.registrar.*` (fluid-1.0.8 values.yaml)."""
FLUID_CSI_PLUGIN_IMAGE = "fluidcloudnative/fluid-csi:v1.0.8-6533239"
"""Chart default `csi.plugins.*` (fluid-1.0.8 values.yaml; appVersion 1.0.8-6533239)."""
JINDO_FUSE_IMAGE = "registry.cn-shanghai.aliyuncs.com/jindofs/jindo-fuse:6.9.1-202509151826"
"""Chart default `runtime.jindo.fuse.*` (fluid-1.0.8 values.yaml); the controller's fallback
without it is 6.2.0 (fluid-cloudnative/fluid:pkg/ddc/jindocache/transform.go@v1.0.8)."""
JINDO_SMARTDATA_IMAGE = "registry.cn-shanghai.aliyuncs.com/jindofs/smartdata:6.9.1-202509151826"
"""Chart default `runtime.jindo.smartdata.*` (fluid-1.0.8 values.yaml): master and workers."""
KNATIVE_SERVING_PATCH = "1.22.1"
"""What `version: "1.22"` installs: the newest 1.22 bundled with operator v1.22.3
(knative/operator:cmd/operator/kodata/knative-serving/@knative-v1.22.3 holds 1.22.0 and 1.22.1;
pkg/reconciler/common/releases.go `TargetVersion` picks the latest matching patch)."""
KNATIVE_QUEUE_PROXY_IMAGE = (
    "gcr.io/knative-releases/knative.dev/serving/cmd/queue"
    "@sha256:b1af8bda6c1d32b1cf5fbf8f1f6068c5007a5cebf091039fdea83b88b1fd87f4"
)
"""`queue-sidecar-image` of Serving 1.22.1 (knative/operator:cmd/operator/kodata/knative-serving/
1.22.1/2-serving-core.yaml@knative-v1.22.3); Knative publishes it by digest only."""
_KNATIVE = "gcr.io/knative-releases/knative.dev"
KNATIVE_SERVING_IMAGES: dict[str, str] = {
    # Serving 1.22.1 (knative/operator:cmd/operator/kodata/knative-serving/1.22.1/
    # 2-serving-core.yaml, 3-serving-hpa.yaml, 4-serving-post-install-jobs.yaml@knative-v1.22.3)
    "activator/activator": f"{_KNATIVE}/serving/cmd/activator"
    "@sha256:5deaef961fef8d1417f6d4a4dfae2fc338f2d30d72c4ad58c3ab392b2c04705b",
    "autoscaler/autoscaler": f"{_KNATIVE}/serving/cmd/autoscaler"
    "@sha256:5bae38655d87df86b041083fbe51791816473245f752432ba9b85a7b12f73cd5",
    "controller/controller": f"{_KNATIVE}/serving/cmd/controller"
    "@sha256:94329d85200c2fc31ed1166a26568ca1357376c149c147e71f400cf28be3c816",
    "webhook/webhook": f"{_KNATIVE}/serving/cmd/webhook"
    "@sha256:8470456be214e93a84e3c7b79a632aa9978bd8ecda553feaa47878a2c24ab84d",
    "autoscaler-hpa/autoscaler-hpa": f"{_KNATIVE}/serving/cmd/autoscaler-hpa"
    "@sha256:5e5cb34096b58befe77e9c27f003cde97e7707e9dd047e1d50786892cb566dbf",
    "storage-version-migration-serving-/migrate": f"{_KNATIVE}/pkg/apiextensions/storageversion"
    "/cmd/migrate@sha256:049f9cb03f4867b3bc4eb6043a33bf8673603fc4ce99c02e7953df049ad63844",
    "cleanup-serving-/cleanup": f"{_KNATIVE}/serving/pkg/cleanup/cmd/cleanup"
    "@sha256:6f771871352be1f9266615b119d85d949c7acf305316de021dd9c17c3d92e219",
}
"""Serving's own pods as the operator creates them, keyed `<workload>/<container>` as
`spec.registry.override` takes them (the Jobs by their generateName, which the override sees
before the operator names them: pkg/reconciler/common/images.go and transformers.go
@knative-v1.22.3, `ImageTransform` runs before `JobTransform`). Digest-only upstreams."""
KNATIVE_NET_ISTIO_IMAGES: dict[str, str] = {
    # knative/operator:cmd/operator/kodata/ingress/1.22/istio/net-istio.yaml@knative-v1.22.3
    "net-istio-controller/controller": f"{_KNATIVE}/net-istio/cmd/controller"
    "@sha256:61d0004be98355e09a13a8aa1b8006f2cbd91a45944e9e088b45d06901b372f6",
    "net-istio-webhook/webhook": f"{_KNATIVE}/net-istio/cmd/webhook"
    "@sha256:d2b95b499d71107060f9c8d523314bb26d8f95e7c558c2472d2e61a3ce2d1462",
}
"""The Istio ingress's pods (`ingress.istio.enabled`); container names clash with Serving's
(`controller`, `webhook`), hence the workload prefix."""
KOURIER_ENVOY_IMAGE = "docker.io/envoyproxy/envoy:v1.37.2"
"""The kodata names `envoy:v1.37-latest` (knative/operator:cmd/operator/kodata/ingress/1.22/
kourier/kourier.yaml@knative-v1.22.3), a moving tag; v1.37.2 is a fixed release of that line
(digest in IMAGE_DIGESTS)."""
KNATIVE_KOURIER_IMAGES: dict[str, str] = {
    # knative/operator:cmd/operator/kodata/ingress/1.22/kourier/kourier.yaml@knative-v1.22.3
    "net-kourier-controller/controller": f"{_KNATIVE}/net-kourier/cmd/kourier"
    "@sha256:01abd2070ccf8680885c47990e42c05c09e30bc8595d9246f4dcd37f2220a2a2",
    "3scale-kourier-gateway/kourier-gateway": KOURIER_ENVOY_IMAGE,
}
"""The Kourier ingress's pods (`ingress.kourier.enabled`)."""


def knative_operator_pod_images(networking: str | None = None) -> dict[str, str]:
    """`spec.registry.override` key -> upstream of every pod the operator creates for the
    KnativeServing: Serving's, and the ingress's (`networking` "istio" or "kourier"; both
    when None, for the inventory)."""
    ingress = {
        "istio": KNATIVE_NET_ISTIO_IMAGES,
        "kourier": KNATIVE_KOURIER_IMAGES,
        None: {**KNATIVE_NET_ISTIO_IMAGES, **KNATIVE_KOURIER_IMAGES},
    }[networking]
    return {**KNATIVE_SERVING_IMAGES, **ingress}


STORAGE_INITIALIZER_IMAGE = f"kserve/storage-initializer:{KSERVE_VERSION}"
"""Chart default `kserve.storage.image` + version (kserve-resources-v0.20.0 values.yaml)."""

CRANE_IMAGE = "gcr.io/go-containerregistry/crane/debug:v0.22.1"
"""Registry copy tool of the image-copy Jobs: `crane copy` keeps every platform and the
manifest digest; the debug variant carries busybox `sh` for the idempotence check
(google/go-containerregistry cmd/crane README "Images"). Its digest is in IMAGE_DIGESTS. The
one image a pod pulls from outside ECR: a copy tool cannot bring itself in, and ECR cannot
cache gcr.io; it runs on the data nodes during `pulumi up` only."""
ECR_LOGIN_IMAGE = STAGING_IMAGE
"""Python with boto3, already pinned and pulled for staging: turns the Job's IRSA role into an
ECR token for crane (the crane image has no AWS SDK)."""

# Images the charts run on the data nodes (controllers, webhooks, hook Jobs), as each pinned
# chart names them by default; the image mirror points the chart values at ECR.
FLUID_VERSION_TAG = "v1.0.8-6533239"
"""fluid-1.0.8 values.yaml `version` (every fluidcloudnative image of the chart)."""
FLUID_CONTROLLER_IMAGES: dict[str, str] = {
    name: f"fluidcloudnative/{name}:{FLUID_VERSION_TAG}"
    for name in (
        "fluid-crd-upgrader",
        "dataset-controller",
        "fluid-webhook",
        "application-controller",
        "alluxioruntime-controller",
        "efcruntime-controller",
        "goosefsruntime-controller",
        "jindoruntime-controller",
        "juicefsruntime-controller",
        "thinruntime-controller",
        "vineyardruntime-controller",
    )
}
"""The Fluid chart's own images (fluid-1.0.8 values.yaml `imageName`s); the runtime
controllers other than Jindo's keep 0 replicas until a runtime of their kind exists."""
ISTIO_HUB = "docker.io/istio"
ISTIO_PILOT_IMAGE = f"{ISTIO_HUB}/pilot:{ISTIO_BASE.version}"
"""istiod-1.29.2 values.yaml `global.hub` + `pilot.image` + the chart's appVersion."""
ISTIO_PROXY_IMAGE = f"{ISTIO_HUB}/proxyv2:{ISTIO_BASE.version}"
"""What istiod injects into the ingress gateway (`image: auto`, gateway-1.29.2 templates) from
its own `global.hub` and `global.proxy.image`."""
KSERVE_CONTROLLER_IMAGE = f"kserve/kserve-controller:{KSERVE_VERSION}"
"""kserve-resources-v0.20.0 values.yaml `kserve.controller.image` + `tag`."""
KUBE_RBAC_PROXY_IMAGE = "quay.io/brancz/kube-rbac-proxy:v0.18.0"
"""kserve-resources-v0.20.0 values.yaml `kserve.controller.rbacProxyImage` (sidecar)."""
CERT_MANAGER_IMAGES: dict[str, str] = {
    key: f"quay.io/jetstack/cert-manager-{name}:{CERT_MANAGER.version}"
    for key, name in (
        ("image", "controller"),
        ("webhook", "webhook"),
        ("cainjector", "cainjector"),
        ("startupapicheck", "startupapicheck"),
    )
}
"""cert-manager-v1.17.0 values.yaml: `<key>.image.repository` + the chart's appVersion."""
KNATIVE_OPERATOR_IMAGES: dict[str, str] = {
    key: f"gcr.io/knative-releases/knative.dev/operator/cmd/{name}:{KNATIVE_OPERATOR.version}"
    for key, name in (("knative_operator", "operator"), ("operator_webhook", "webhook"))
}
"""knative-operator-v1.22.3 values.yaml `knative_operator.<key>.image` + `tag`."""

# Karpenter: 1.14.x supports Kubernetes 1.26-1.36
# (aws/karpenter-provider-aws:hack/docs/compatibilitymatrix_gen/compatibility.yaml@v1.14.1), so
# every SUPPORTED_KUBERNETES_VERSIONS entry; CRDs through their own chart so upgrades manage them
# (website/content/en/docs/upgrading/upgrade-guide.md@v1.14.1 recommends karpenter-crd).
KARPENTER = ChartPin(
    chart="karpenter",
    version="1.14.1",
    repository="oci://public.ecr.aws/karpenter",
    reason="newest 1.14 patch; v1.14.x supports Kubernetes 1.26-1.36 (compatibility.yaml@v1.14.1)",
)
KARPENTER_CRD = ChartPin(
    "karpenter-crd",
    KARPENTER.version,
    KARPENTER.repository,
    "the CRDs of the same release, as a chart so `helm upgrade` updates them (upgrade-guide.md)",
)
KARPENTER_CONTROLLER_IMAGE = f"public.ecr.aws/karpenter/controller:{KARPENTER.version}"
"""karpenter-1.14.1 values.yaml `controller.image.repository` + `tag` (digest below)."""
KARPENTER_KUBERNETES_VERSIONS = ("1.26", "1.36")
"""Oldest and newest Kubernetes minor Karpenter 1.14.x supports (compatibility.yaml@v1.14.1)."""

GPU_NODE_AMI_ALIAS = "al2023@v20260714"
"""EKS-optimized AL2023 release for Karpenter's GPU nodes (it resolves the NVIDIA variant per
instance type: pkg/providers/amifamily/al2023.go@v1.14.1 reads
/aws/service/eks/optimized-ami/<k8s>/amazon-linux-2023/x86_64/nvidia/...). Pinned, not `latest`:
a new AMI release under `latest` drifts and replaces every GPU node (concepts/nodeclasses.md
@v1.14.1 warns against it in production). v20260714 is the newest release whose notes list
amazon-eks-node-al2023-x86_64-nvidia-1.33/1.34-v20260714 (awslabs/amazon-eks-ami:CHANGELOG.md
@v20260724); move it forward after testing a newer release."""


# ---------------------------------------------------------------------------------------------
# Digests: every image above as tag@sha256
# ---------------------------------------------------------------------------------------------

IMAGE_DIGESTS: dict[str, str | None] = {
    # From public sources that pin the same tag (each cited):
    CRANE_IMAGE: "sha256:e78770b31258a3846f878036d9c1f63fbe4c871f9f56990bf77fd95c013e3c1b",
    # ^ pinned identically by several unrelated public repositories (crane:debug at v0.22.1).
    CURL_IMAGE: "sha256:c1fe1679c34d9784c1b0d1e5f62ac0a79fca01fb6377cdd33e90473c6f9f9a69",
    # ^ pinned identically by at least five unrelated public repositories' scripts and docs.
    NVIDIA_DEVICE_PLUGIN_IMAGE: (
        "sha256:a61ba9fd8efb82f3a79f877f7580e02c1e8e7593f62473644bc9c79e315c3312"
    ),
    # ^ a public DaemonSet manifest pinning v0.20.0, agreeing with the GPU Operator v26.7.0
    #   bundle's `k8s-device-plugin:v0.20.0@sha256:a61ba9fd...` (quoted in a public changelog).
    KARPENTER_CONTROLLER_IMAGE: (
        "sha256:445baefaaa689029cc12ac1f659b916b0b82fb14308ce536f8521fcf079116fa"
    ),
    # ^ karpenter-1.14.1 values.yaml `controller.image.digest`: the chart's own pin.
    KOURIER_ENVOY_IMAGE: (
        "sha256:c5e8a68e52f4d4697a9adb280dbe415d77fedf1257e183dcb86205bd438f18bd"
    ),
    # ^ the index digest `docker pull envoyproxy/envoy:v1.37.2` reports, recorded identically
    #   by two unrelated public repositories (one pull log, one design record).
    # Not read yet: no registry is reachable where this was written, and no public source
    # records them. None = "tag only" until an operator reads them (docs/image-mirror.md
    # "Pinning digests": `crane digest <image>`), and `make plan` lists each as a placeholder
    # to replace before a real deploy. Never fill one from anything but the registry.
    STORAGE_INITIALIZER_IMAGE: None,
    HUGGINGFACE_SERVER_GPU_IMAGE: None,
    FLUID_CSI_REGISTRAR_IMAGE: None,
    FLUID_CSI_PLUGIN_IMAGE: None,
    JINDO_FUSE_IMAGE: None,
    JINDO_SMARTDATA_IMAGE: None,
    ISTIO_PILOT_IMAGE: None,
    ISTIO_PROXY_IMAGE: None,
    KSERVE_CONTROLLER_IMAGE: None,
    KUBE_RBAC_PROXY_IMAGE: None,
    **dict.fromkeys(FLUID_CONTROLLER_IMAGES.values()),
    **dict.fromkeys(CERT_MANAGER_IMAGES.values()),
    **dict.fromkeys(KNATIVE_OPERATOR_IMAGES.values()),
}
"""The manifest digest (the index's, for a multi-arch image) of every tagged image the stack
runs. The one place digests live: the copy Jobs verify them, the pods reference them where the
consumer takes a digest, and other tooling reads them here. Digest-only upstreams
(KNATIVE_QUEUE_PROXY_IMAGE, the Knative Operator's KNATIVE_*_IMAGES) carry theirs in the
reference."""


def digest_of(image: str) -> str | None:
    """The pinned digest of `image` (its own, for a digest reference); None when unread."""
    _, _, digest = image.partition("@")
    if digest:
        return digest
    if image not in IMAGE_DIGESTS:
        raise KeyError(f"{image}: not in components/versions.py IMAGE_DIGESTS")
    return IMAGE_DIGESTS[image]


def pinned(image: str) -> str:
    """`image@sha256:...` when its digest is pinned, else `image` (tag only)."""
    digest = digest_of(image)
    return image if "@" in image or digest is None else f"{image}@{digest}"


def unpinned_images() -> list[str]:
    """Images whose digest is still to be read from the registry (placeholders)."""
    return sorted(image for image, digest in IMAGE_DIGESTS.items() if digest is None)
