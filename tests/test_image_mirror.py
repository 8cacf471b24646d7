"""components/image_mirror.py: references, settings and the split between cache and copy."""

from __future__ import annotations

import pytest

from components import versions
from components.image_mirror import (
    GPU_PATH_IMAGES,
    PULL_THROUGH_PREFIX_MAX,
    UPSTREAM,
    ImageMirror,
    ImageRef,
    MirrorSettings,
    docker_hub_images,
    namespace_for,
)
from tests.test_config import dev_raw, parse, problems, with_change

ACCOUNT = "123456789012"
ECR = f"{ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com"
SECRET = f"arn:aws:secretsmanager:eu-central-1:{ACCOUNT}:secret:ecr-pullthroughcache/docker-hub-x"


def mirror(**settings: object) -> ImageMirror:
    return ImageMirror.for_stack(
        MirrorSettings(**settings),  # type: ignore[arg-type]
        ACCOUNT,
        "eu-central-1",
        "kserve-fluid-dev",
    )


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("kserve/storage-initializer:v0.20.0", ("docker.io", "kserve/storage-initializer")),
        ("busybox:1.37", ("docker.io", "library/busybox")),
        ("index.docker.io/kserve/agent:v1", ("docker.io", "kserve/agent")),
        ("nvcr.io/nvidia/k8s-device-plugin:v0.20.0", ("nvcr.io", "nvidia/k8s-device-plugin")),
        ("localhost:5000/a/b:1", ("localhost:5000", "a/b")),
    ],
)
def test_references_split_like_a_container_runtime(
    reference: str, expected: tuple[str, str]
) -> None:
    ref = ImageRef.parse(reference)
    assert (ref.host, ref.repository) == expected


def test_digest_only_and_unpinned_references() -> None:
    ref = ImageRef.parse(versions.KNATIVE_QUEUE_PROXY_IMAGE)
    assert ref.tag is None and ref.digest and ref.digest.startswith("sha256:")
    with pytest.raises(ValueError, match="not pinned"):
        ImageRef.parse("kserve/huggingfaceserver")


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("imageMirror", "sometimes", 'imageMirror: must be true or false, got "sometimes"'),
        ("imageMirror", 1, "imageMirror: must be true or false, got 1"),
        (
            "dockerHubCredentialArn",
            f"arn:aws:secretsmanager:eu-central-1:{ACCOUNT}:secret:hub",
            f'dockerHubCredentialArn: "arn:aws:secretsmanager:eu-central-1:{ACCOUNT}:secret:hub" '
            "must be empty or the ARN of a Secrets Manager secret named "
            "ecr-pullthroughcache/<name> (ECR refuses other names)",
        ),
        (
            "githubCredentialArn",
            "ecr-pullthroughcache/github",
            'githubCredentialArn: "ecr-pullthroughcache/github" must be empty or the ARN of a '
            "Secrets Manager secret named ecr-pullthroughcache/<name> (ECR refuses other names)",
        ),
        ("dockerHubCredentialArn", 7, "dockerHubCredentialArn: must be a string, got 7"),
    ],
)
def test_bad_mirror_keys_are_refused_with_one_line_each(
    key: str, value: object, problem: str
) -> None:
    assert problems(with_change(key, value)) == [problem]


def test_the_mirror_needs_the_docker_hub_credential() -> None:
    """The stack runs Docker Hub images, which ECR caches only with a credential; anonymous
    pulls are limited to 10 per hour per address, and dev egresses through one NAT address."""
    assert MirrorSettings.of(parse(dev_raw())).enabled
    with_secret = parse(with_change("dockerHubCredentialArn", SECRET))
    assert MirrorSettings.of(with_secret).docker_hub_credential_arn == SECRET
    assert problems(with_change("dockerHubCredentialArn", "")) == [
        "dockerHubCredentialArn: required while imageMirror is on: the stack runs Docker Hub "
        "images (KServe, Fluid, Istio, curl) and ECR caches Docker Hub only with a "
        "credential; set the ARN of a Secrets Manager secret ecr-pullthroughcache/<name> "
        "(docs/image-mirror.md), or imageMirror: false"
    ]
    off = dev_raw()
    off.update(imageMirror=False, dockerHubCredentialArn="")
    assert not MirrorSettings.of(parse(off)).enabled
    assert "kserve/kserve-controller:v0.20.0" in docker_hub_images()


def test_namespace_fits_the_pull_through_prefix_limit() -> None:
    assert namespace_for("kserve-fluid-dev") == "kserve-fluid-dev"
    long = namespace_for("kserve-fluid-a-very-long-stack-name")
    assert long.startswith("m-") and len(f"{long}/docker-hub") <= PULL_THROUGH_PREFIX_MAX
    assert namespace_for("kserve-fluid-a-very-long-stack-name") != namespace_for(
        "kserve-fluid-another-long-stack-name"
    )


def test_off_keeps_every_reference_upstream() -> None:
    off = ImageMirror.for_stack(MirrorSettings(enabled=False), ACCOUNT, "eu-central-1", "x")
    assert off.pull_through_rules() == [] and off.copies() == []
    for image in GPU_PATH_IMAGES:
        assert off.ref(image.upstream) == versions.pinned(image.upstream)
        assert UPSTREAM.ref(image.upstream) == versions.pinned(image.upstream)
    # Off, pods still reference the pinned digest where there is one.
    assert off.ref(versions.NVIDIA_DEVICE_PLUGIN_IMAGE) == (
        "nvcr.io/nvidia/k8s-device-plugin:v0.20.0@sha256:"
        "a61ba9fd8efb82f3a79f877f7580e02c1e8e7593f62473644bc9c79e315c3312"
    )
    # Chart-shaped values equal the charts' defaults (fluid-1.0.8 values.yaml).
    assert off.fluid_image(versions.FLUID_CSI_PLUGIN_IMAGE) == {
        "imagePrefix": "fluidcloudnative",
        "imageName": "fluid-csi",
        "imageTag": "v1.0.8-6533239",
    }
    assert off.skip_tag_resolution("nvcr.io,index.docker.io") == "nvcr.io,index.docker.io"


def test_without_docker_hub_credential_docker_hub_images_are_copied() -> None:
    on = mirror()
    prefixes = {upstream.host: prefix for upstream, prefix in on.pull_through_rules()}
    assert prefixes == {
        "quay.io": "kserve-fluid-dev/quay",
        "registry.k8s.io": "kserve-fluid-dev/k8s",
        "public.ecr.aws": "kserve-fluid-dev/ecr-public",
    }
    assert on.ref(versions.HUGGINGFACE_SERVER_GPU_IMAGE) == (
        f"{ECR}/kserve-fluid-dev/copy/docker.io/kserve/huggingfaceserver:v0.20.0-gpu"
    )
    copied = {spec.source for spec in on.copies()}
    assert versions.HUGGINGFACE_SERVER_GPU_IMAGE in copied
    assert versions.JINDO_SMARTDATA_IMAGE in copied


def test_with_docker_hub_credential_docker_hub_goes_through_the_cache() -> None:
    on = mirror(docker_hub_credential_arn=SECRET)
    assert on.ref(versions.CURL_IMAGE) == (
        f"{ECR}/kserve-fluid-dev/docker-hub/curlimages/curl:8.11.1@"
        "sha256:c1fe1679c34d9784c1b0d1e5f62ac0a79fca01fb6377cdd33e90473c6f9f9a69"
    )
    # The serving image stays a copy (KServe composes its tag): read through the cache into
    # an immutable repository, so no anonymous Docker Hub pull.
    assert on.ref(versions.HUGGINGFACE_SERVER_GPU_IMAGE) == (
        f"{ECR}/kserve-fluid-dev/copy/docker.io/kserve/huggingfaceserver:v0.20.0-gpu"
    )
    (serving,) = [s for s in on.copies() if s.upstream == versions.HUGGINGFACE_SERVER_GPU_IMAGE]
    assert serving.source == (
        f"{ECR}/kserve-fluid-dev/docker-hub/kserve/huggingfaceserver:v0.20.0-gpu"
    )
    hosts = {ImageRef.parse(spec.upstream).host for spec in on.copies()}
    assert hosts == {"nvcr.io", "registry.cn-shanghai.aliyuncs.com", "gcr.io", "docker.io"}
    with pytest.raises(KeyError, match=r"not in components/versions\.py IMAGE_DIGESTS"):
        on.ref("busybox:1.37")


def test_copied_digest_image_keeps_its_digest_and_gets_a_tag() -> None:
    on = mirror()
    queue = next(s for s in on.copies() if s.source == versions.KNATIVE_QUEUE_PROXY_IMAGE)
    assert queue.tag == f"serving-{versions.KNATIVE_SERVING_PATCH}"
    digest = versions.KNATIVE_QUEUE_PROXY_IMAGE.split("@")[1]
    assert on.ref(versions.KNATIVE_QUEUE_PROXY_IMAGE) == (
        f"{ECR}/kserve-fluid-dev/copy/gcr.io/knative-releases/knative.dev/serving/cmd/queue@{digest}"
    )


def test_an_image_nobody_copies_is_refused() -> None:
    with pytest.raises(ValueError, match="not copied into ECR"):
        mirror().ref("nvcr.io/nvidia/tritonserver:23.05-py3")


def test_knative_skips_tag_resolution_for_the_mirror() -> None:
    assert mirror().skip_tag_resolution("nvcr.io,index.docker.io") == (
        f"nvcr.io,index.docker.io,{ECR}"
    )


def test_china_regions_use_their_partition() -> None:
    cn = ImageMirror.for_stack(MirrorSettings(), ACCOUNT, "cn-north-1", "kserve-fluid-dev")
    assert cn.registry == f"{ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn"
    assert cn.repository_arn("a/b").startswith("arn:aws-cn:ecr:cn-north-1:")
