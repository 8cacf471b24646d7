"""Which images the GPU image snapshot holds, by digest, under the names pods ask for.

The one accessor between the pinned versions (components/versions.py, `tag@sha256:` where a
digest is pinned) and the snapshot builder: it walks the GPU path's images
(components/image_mirror.py `GPU_PATH_IMAGES`) and says, per image, what to pull (by digest when
one is pinned, else by tag) and which references to tag onto it, so that the kubelet finds the
image under the exact name in the pod spec and never pulls. Charts that take repository and tag
apart make pods ask for `repository:tag`; Knative's queue-proxy is asked for by digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from components.image_mirror import GPU_PATH_IMAGES, GpuPathImage, ImageMirror, ImageRef

if TYPE_CHECKING:
    from components.config.model import StackConfig


@dataclass(frozen=True)
class SnapshotImage:
    """One image on the snapshot."""

    pull: str
    """What the builder pulls: `repository@sha256:...` when pinned, else `repository:tag`."""
    names: tuple[str, ...]
    """Every reference a pod on a GPU node may use for it, tagged onto the pulled image."""
    digest: str | None
    used_by: str


def pinned_digest(reference: str) -> str | None:
    """The `sha256:...` a reference pins, or None for a tag alone."""
    return ImageRef.parse(reference).digest


def snapshot_images(
    mirror: ImageMirror, path: tuple[GpuPathImage, ...] = GPU_PATH_IMAGES
) -> tuple[SnapshotImage, ...]:
    """The GPU path's images as the stack's nodes reference them (the mirror's ECR names)."""
    images = []
    for image in path:
        pod_ref = ImageRef.parse(mirror.ref(image.upstream))
        repository = f"{pod_ref.host}/{pod_ref.repository}"
        pull = f"{repository}@{pod_ref.digest}" if pod_ref.digest else f"{repository}:{pod_ref.tag}"
        # A reference with both tag and digest is looked up by its digest alone (containerd's
        # CRI normalizes it with distribution/reference:normalize.go ParseDockerRef, which
        # drops the tag), so the pull name covers it; charts that take repository and tag
        # apart make pods ask for `repository:tag`, tagged onto the same image.
        tagged = f"{repository}:{pod_ref.tag}" if pod_ref.tag else pull
        names = () if tagged == pull else (tagged,)
        images.append(SnapshotImage(pull, names, pod_ref.digest, image.used_by))
    return tuple(images)


def unpinned(images: tuple[SnapshotImage, ...]) -> list[str]:
    """Images pulled by tag because components/versions.py pins no digest for them yet."""
    return [image.pull for image in images if image.digest is None]


def applies(config: StackConfig) -> bool:
    """The snapshot is built for Karpenter's nodes when images come from the stack's ECR (the
    builder pulls from nowhere else)."""
    return (
        config.gpu_nodes.karpenter
        and config.gpu_nodes.cold_start.image_snapshot
        and config.image_mirror
    )
