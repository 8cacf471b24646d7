"""Where each image on a GPU node's cold path is pulled from: the one place references change.

With the mirror on, every image a new GPU node pulls before a model answers (device plugin, Fluid
CSI plugin, Jindo FUSE, Knative's queue-proxy, KServe's storage initializer and the vLLM server)
comes from ECR in the stack's region:

- through a **pull-through cache rule** when ECR supports the upstream (Docker Hub with a
  credential, Quay, registry.k8s.io, ECR Public, GitHub with a credential), under
  `<account>.dkr.ecr.<region>.amazonaws.com/<namespace>/<rule>/<repository>:<tag>`;
- as a **copy** made by an in-cluster Job otherwise (nvcr.io, the Aliyun registry, gcr.io, and
  Docker Hub or GitHub when no credential is configured), under
  `<account>.dkr.ecr.<region>.amazonaws.com/<namespace>/copy/<upstream host>/<repository>:<tag>`.

With the mirror off, `ImageMirror.ref` returns the upstream reference unchanged. Pure module: no
Pulumi, no network; `__main__` builds the `ImageMirror` from the settings and the account id.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from components import versions

if TYPE_CHECKING:
    from components.config.model import StackConfig

PULL_THROUGH_PREFIX_MAX = 30
"""ecrRepositoryPrefix is 2-30 characters (ECR API Reference, CreatePullThroughCacheRule)."""


@dataclass(frozen=True)
class Upstream:
    """An upstream registry ECR's pull-through cache supports (ECR API Reference,
    CreatePullThroughCacheRule `upstreamRegistryUrl`)."""

    host: str  # as it appears in image references
    url: str  # upstreamRegistryUrl
    rule: str  # last segment of the rule's ecrRepositoryPrefix
    credential: str | None = None  # the MirrorSettings field holding its credential, if needed


PULL_THROUGH_UPSTREAMS: tuple[Upstream, ...] = (
    Upstream("docker.io", "registry-1.docker.io", "docker-hub", "docker_hub_credential_arn"),
    Upstream("quay.io", "quay.io", "quay"),
    Upstream("registry.k8s.io", "registry.k8s.io", "k8s"),
    Upstream("public.ecr.aws", "public.ecr.aws", "ecr-public"),
    Upstream("ghcr.io", "ghcr.io", "github", "github_credential_arn"),
)


@dataclass(frozen=True)
class MirrorSettings:
    """The `imageMirror` configuration: on by default, credentials optional."""

    enabled: bool = True
    docker_hub_credential_arn: str = ""
    """Secrets Manager secret `ecr-pullthroughcache/...` with Docker Hub `username` and
    `accessToken`. Without it ECR cannot cache Docker Hub (the rule requires a credential), so
    Docker Hub images on the GPU path are copied by a Job instead: one anonymous pull per image at
    `pulumi up`, from the data nodes, inside Docker Hub's anonymous limit."""
    github_credential_arn: str = ""
    """Same for ghcr.io (GitHub needs a credential too); no image on the GPU path needs it."""

    @classmethod
    def of(cls, config: StackConfig) -> MirrorSettings:
        """The `imageMirror`, `dockerHubCredentialArn` and `githubCredentialArn` keys."""
        return cls(
            enabled=config.image_mirror,
            docker_hub_credential_arn=config.docker_hub_credential_arn,
            github_credential_arn=config.github_credential_arn,
        )


@dataclass(frozen=True)
class ImageRef:
    """An image reference split the way container runtimes do (Docker Hub made explicit)."""

    host: str
    repository: str
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, reference: str) -> ImageRef:
        name, _, digest = reference.partition("@")
        first, slash, rest = name.partition("/")
        if slash and ("." in first or ":" in first or first == "localhost"):
            host, path = first, rest
        else:
            host, path = "docker.io", name
        if host == "index.docker.io":
            host = "docker.io"
        tag = None
        if ":" in path.rsplit("/", 1)[-1]:
            path, tag = path.rsplit(":", 1)
        if host == "docker.io" and "/" not in path:
            path = f"library/{path}"  # official images (ECR docs: keep /library for those)
        if not path or (not tag and not digest):
            raise ValueError(f"{reference!r}: not pinned to a tag or digest")
        return cls(host, path, tag, digest or None)

    def __str__(self) -> str:
        text = f"{self.host}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        return text + (f"@{self.digest}" if self.digest else "")


@dataclass(frozen=True)
class GpuPathImage:
    """An image a cold GPU node pulls, with what the copy Job needs to know about it."""

    upstream: str
    used_by: str
    size_gib: float  # compressed, for the copy Job's deadline
    copy_tag: str | None = None  # ECR tag of a digest-only upstream


GPU_PATH_IMAGES: tuple[GpuPathImage, ...] = (
    GpuPathImage(versions.NVIDIA_DEVICE_PLUGIN_IMAGE, "NVIDIA device plugin DaemonSet", 0.3),
    GpuPathImage(versions.FLUID_CSI_REGISTRAR_IMAGE, "Fluid CSI DaemonSet (registrar)", 0.1),
    GpuPathImage(versions.FLUID_CSI_PLUGIN_IMAGE, "Fluid CSI DaemonSet (plugin)", 0.2),
    GpuPathImage(versions.JINDO_FUSE_IMAGE, "Jindo FUSE DaemonSet (JindoRuntime fuse)", 1.0),
    GpuPathImage(
        versions.KNATIVE_QUEUE_PROXY_IMAGE,
        "Knative queue-proxy sidecar of every InferenceService pod",
        0.1,
        copy_tag=f"serving-{versions.KNATIVE_SERVING_PATCH}",
    ),
    GpuPathImage(versions.STORAGE_INITIALIZER_IMAGE, "KServe storage initializer (baseline)", 1.5),
    GpuPathImage(
        versions.HUGGINGFACE_SERVER_GPU_IMAGE,
        "warm-up ServingRuntime and kserve-huggingfaceserver (-gpu tag)",
        10.0,
    ),
)
"""Every image on a GPU node's cold path (tests/test_image_inventory.py derives the same list
from the plan and the real charts and fails if one is missing here)."""

DATA_NODE_IMAGES: tuple[GpuPathImage, ...] = (
    GpuPathImage(versions.JINDO_SMARTDATA_IMAGE, "Jindo master and workers", 1.0),
    *(
        GpuPathImage(image, f"Fluid chart: {name}", 0.1)
        for name, image in versions.FLUID_CONTROLLER_IMAGES.items()
    ),
    GpuPathImage(versions.ISTIO_PILOT_IMAGE, "istiod", 0.1),
    GpuPathImage(versions.ISTIO_PROXY_IMAGE, "Istio ingress gateway (injected proxy)", 0.1),
    GpuPathImage(versions.KSERVE_CONTROLLER_IMAGE, "KServe controller", 0.1),
    GpuPathImage(versions.KUBE_RBAC_PROXY_IMAGE, "KServe controller (kube-rbac-proxy)", 0.05),
    *(
        GpuPathImage(image, f"cert-manager {key}", 0.05)
        for key, image in versions.CERT_MANAGER_IMAGES.items()
    ),
    *(
        GpuPathImage(image, f"Knative operator chart: {key}", 0.05)
        for key, image in versions.KNATIVE_OPERATOR_IMAGES.items()
    ),
    *(
        GpuPathImage(
            image,
            f"Knative Operator's Serving pods: {key}",
            0.05,
            copy_tag=f"serving-{versions.KNATIVE_SERVING_PATCH}",
        )
        for key, image in versions.knative_operator_pod_images().items()
    ),
    GpuPathImage(versions.KARPENTER_CONTROLLER_IMAGE, "Karpenter controller", 0.1),
    GpuPathImage(versions.CURL_IMAGE, "KServe webhook wait and DataLoad gate Jobs", 0.01),
)
"""Every other image a pod of the stack runs, on the data nodes: chart controllers, webhooks
and hook Jobs, and the program's own Jobs (the storage initializer image, also the staging and
ECR-login image, is on the GPU path). tests/test_image_inventory.py renders the real charts
with the plan's values and fails on a pod image that is neither here nor in ECR."""

BOOTSTRAP_IMAGES: tuple[GpuPathImage, ...] = (
    GpuPathImage(versions.CRANE_IMAGE, "image copy Jobs (crane)", 0.02),
)
"""Pulled from its upstream by digest: the copy tool cannot copy itself, and ECR cannot cache
gcr.io (components/versions.py CRANE_IMAGE)."""

COPIED_EVEN_WHEN_CACHED: frozenset[str] = frozenset({versions.HUGGINGFACE_SERVER_GPU_IMAGE})
"""Images whose consumer cannot take a digest: KServe composes the built-in runtime's
`image:tag` and rewrites the tag to `-gpu` for GPU requests
(kserve:pkg/controller/v1beta1/inferenceservice/utils/utils.go@v0.20.0 `UpdateImageTag`). A
cache follows the upstream tag, so these are copied instead, from the cache, into an
immutable repository after the copy Job checked the digest pinned in versions.py: there the tag
can only ever name that digest."""


def all_images() -> tuple[GpuPathImage, ...]:
    """Every image a pod of the stack runs (the inventory `make plan` prints)."""
    return (*GPU_PATH_IMAGES, *DATA_NODE_IMAGES, *BOOTSTRAP_IMAGES)


def docker_hub_images() -> list[str]:
    """The upstream references on Docker Hub (why the stack needs a Docker Hub credential)."""
    return sorted(
        {i.upstream for i in all_images() if ImageRef.parse(i.upstream).host == "docker.io"}
    )


@dataclass(frozen=True)
class CopySpec:
    """One image the copy Job brings into ECR."""

    source: str  # what crane reads: the upstream, or its cache in ECR; with the pinned digest
    repository: str  # ECR repository name
    tag: str  # ECR tag
    size_gib: float
    upstream: str = ""  # the reference as versions.py names it (the key of `ready_by_image`)


def namespace_for(stack_name: str) -> str:
    """The stack's ECR namespace: its name, or a short hash when a rule prefix would exceed
    ECR's 30 characters (`<namespace>/docker-hub`)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", stack_name.lower()).strip("-")
    longest = max(len(u.rule) for u in PULL_THROUGH_UPSTREAMS)
    if slug and len(slug) + 1 + longest <= PULL_THROUGH_PREFIX_MAX:
        return slug
    return "m-" + hashlib.sha256(stack_name.encode()).hexdigest()[:10]


def registry_host(account_id: str, region: str) -> str:
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account_id}.dkr.ecr.{region}.{suffix}"


@dataclass(frozen=True)
class ImageMirror:
    """Rewrites upstream references to the stack's ECR; identity when the mirror is off."""

    settings: MirrorSettings = field(default_factory=lambda: MirrorSettings(enabled=False))
    registry: str = ""  # <account>.dkr.ecr.<region>.amazonaws.com
    namespace: str = ""  # namespace_for(stack name)
    account_id: str = ""
    region: str = ""

    @classmethod
    def off(cls) -> ImageMirror:
        return cls()

    @classmethod
    def for_stack(
        cls, settings: MirrorSettings, account_id: str, region: str, stack_name: str
    ) -> ImageMirror:
        if not settings.enabled:
            return cls(settings)
        return cls(
            settings,
            registry_host(account_id, region),
            namespace_for(stack_name),
            account_id,
            region,
        )

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def repository_arn(self, name: str) -> str:
        """ARN of an ECR repository (or, with a prefix, of the repositories under it)."""
        partition = "aws-cn" if self.region.startswith("cn-") else "aws"
        return f"arn:{partition}:ecr:{self.region}:{self.account_id}:repository/{name}"

    def pull_through_rules(self) -> list[tuple[Upstream, str]]:
        """(upstream, ecrRepositoryPrefix) of every rule this stack can create."""
        if not self.enabled:
            return []
        return [
            (upstream, f"{self.namespace}/{upstream.rule}")
            for upstream in PULL_THROUGH_UPSTREAMS
            if upstream.credential is None or getattr(self.settings, upstream.credential)
        ]

    def rule_for(self, host: str) -> str | None:
        """The ecrRepositoryPrefix of the cache rule for `host`, if the stack has one."""
        for upstream, prefix in self.pull_through_rules():
            if upstream.host == host:
                return prefix
        return None

    def copies(self) -> list[CopySpec]:
        """The images this stack copies into its own ECR repositories (mirror on only):
        those ECR cannot cache, and COPIED_EVEN_WHEN_CACHED (read through the cache)."""
        if not self.enabled:
            return []
        specs = []
        for image in (*GPU_PATH_IMAGES, *DATA_NODE_IMAGES):
            ref = ImageRef.parse(image.upstream)
            rule = self.rule_for(ref.host)
            if rule is not None and image.upstream not in COPIED_EVEN_WHEN_CACHED:
                continue
            tag = ref.tag or image.copy_tag
            if not tag:
                raise ValueError(f"{image.upstream}: a digest-only image needs a copy_tag")
            source = versions.pinned(image.upstream)
            if rule is not None:  # read through the cache: no anonymous upstream pull
                digest = versions.digest_of(image.upstream)
                cached = ImageRef(self.registry, f"{rule}/{ref.repository}", ref.tag, digest)
                source = str(cached)
            specs.append(
                CopySpec(source, self._copy_repository(ref), tag, image.size_gib, image.upstream)
            )
        return specs

    def _copy_repository(self, ref: ImageRef) -> str:
        return f"{self.namespace}/copy/{ref.host}/{ref.repository}"

    def ref(self, upstream: str) -> str:
        """The reference pods use: ECR when the mirror is on, the upstream otherwise; with the
        digest pinned in versions.py when there is one."""
        if not self.enabled:
            return versions.pinned(upstream)
        ref = ImageRef.parse(upstream)
        rule = self.rule_for(ref.host)
        if rule is not None and upstream not in COPIED_EVEN_WHEN_CACHED:
            digest = versions.digest_of(upstream)
            return str(ImageRef(self.registry, f"{rule}/{ref.repository}", ref.tag, digest))
        if upstream not in {spec.upstream for spec in self.copies()}:
            raise ValueError(
                f"{upstream}: not copied into ECR; add it to components/image_mirror.py"
            )
        # A copy keeps the upstream's manifest, so the pinned digest still names it.
        digest = versions.digest_of(upstream)
        return str(ImageRef(self.registry, self._copy_repository(ref), ref.tag, digest))

    def repository(self, upstream: str) -> str:
        """`ref` without tag or digest, for charts that take repository and tag apart."""
        reference = ImageRef.parse(self.ref(upstream))
        return f"{reference.host}/{reference.repository}" if self.enabled else _name(upstream)

    def split(self, upstream: str) -> tuple[str, str, str]:
        """(prefix, name, tag) of `ref`, for Fluid's imagePrefix/imageName/imageTag values;
        the tag carries the pinned digest (`v1@sha256:...`) when there is one."""
        prefix, _, name = self.repository(upstream).rpartition("/")
        return prefix, name, _pinned_tag(upstream)

    def chart_image(
        self, upstream: str, repository_key: str = "repository", tag_key: str = "tag"
    ) -> dict[str, str]:
        """Helm values for charts that join an image as `<repository>:<tag>`: the tag carries
        the pinned digest, `<repository>:<tag>@sha256:...` being a valid reference that the
        runtime pulls by digest."""
        return {repository_key: self.repository(upstream), tag_key: _pinned_tag(upstream)}

    def fluid_image(self, upstream: str) -> dict[str, str]:
        """Fluid's `imagePrefix`/`imageName`/`imageTag` values: the chart joins them as
        `prefix/name:tag` (fluid-1.0.8 templates/_helpers.tpl `fluid.*.imageTransform`)."""
        prefix, name, tag = self.split(upstream)
        return {"imagePrefix": prefix, "imageName": name, "imageTag": tag}

    def jindo_image(self, upstream: str) -> dict[str, str]:
        """JindoRuntime `image`/`imageTag` fields, which override the controller's defaults
        (fluid-cloudnative/fluid:pkg/ddc/jindocache/transform.go@v1.0.8 `parseFuseImage`,
        `getSmartDataConfigs`). Their default pull policy is Always; the mirrored tags are
        immutable, so a cached image is used without asking the registry."""
        return {
            "image": self.repository(upstream),
            "imageTag": _pinned_tag(upstream),
            "imagePullPolicy": "IfNotPresent",
        }

    def skip_tag_resolution(self, registries: str) -> str:
        """Knative's `registries-skipping-tag-resolving` plus this registry: the Knative
        controller has no ECR credentials (no IRSA, IMDS hop limit 1), so resolving a tag there
        would fail the revision; the mirrored tags are immutable anyway."""
        if not self.enabled:
            return registries
        return ",".join([*filter(None, registries.split(",")), self.registry])


@dataclass(frozen=True)
class InventoryLine:
    """One image of the stack: what runs it, what pods pull, and how it got there."""

    upstream: str
    used_by: str
    pulled: str  # the reference pods use
    route: str  # "cache <prefix>", "copy Job", "upstream"


def inventory(mirror: ImageMirror) -> list[InventoryLine]:
    """Every image a pod of the stack runs, as `make plan` prints it."""
    copied = {spec.upstream: spec for spec in mirror.copies()}
    lines = []
    for image in all_images():
        if image in BOOTSTRAP_IMAGES or not mirror.enabled:
            pulled, route = versions.pinned(image.upstream), "upstream"
        else:
            pulled = mirror.ref(image.upstream)
            spec = copied.get(image.upstream)
            if spec is not None:
                route = "copy Job" + (
                    " (read through the cache)" if spec.source.startswith(mirror.registry) else ""
                )
            else:
                route = "cache " + str(mirror.rule_for(ImageRef.parse(image.upstream).host))
        lines.append(InventoryLine(image.upstream, image.used_by, pulled, route))
    return lines


def _tag(upstream: str) -> str:
    tag = ImageRef.parse(upstream).tag
    if not tag:
        raise ValueError(f"{upstream}: these values need a tag, not only a digest")
    return tag


def _pinned_tag(upstream: str) -> str:
    """The tag, with `@<digest>` when versions.py pins one."""
    digest = versions.digest_of(upstream)
    return f"{_tag(upstream)}@{digest}" if digest else _tag(upstream)


def _name(upstream: str) -> str:
    """An upstream reference without tag or digest, as written (no docker.io added)."""
    name = upstream.partition("@")[0]
    head, _, last = name.rpartition("/")
    last = last.split(":", 1)[0]
    return f"{head}/{last}" if head else last


UPSTREAM = ImageMirror()
"""The mirror turned off: every reference stays upstream (the builders' default)."""
