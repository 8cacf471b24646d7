"""What every layer on the cluster receives: built once by `__main__.py`, handed to each layer.

Before it, each component took the same four handles one by one (the Kubernetes provider, the
data nodes it waits for, the image mirror and the per-image readiness of that mirror). A layer's
Args now holds one `StackContext` next to the inputs that are its own, and reads the shared ones
through `LayerArgs` as before (`args.provider`, `args.system_ready`, ...).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.config.model import StackConfig
from components.image_mirror import UPSTREAM, ImageMirror

ImageReady = Mapping[str, Sequence[pulumi.Resource]]
"""Per upstream image reference: what a pod using it waits for (copy Job, or cache rule and
node permissions); empty when the mirror is off."""


@dataclass(frozen=True)
class StackContext:
    config: StackConfig
    provider: k8s.Provider
    """The EKS cluster's Kubernetes provider (server-side apply)."""
    system_ready: Sequence[pulumi.Resource]
    """What an in-cluster object needs first: the data nodes its controllers run on."""
    mirror: ImageMirror = UPSTREAM
    """Where each image is pulled from (the stack's ECR, or upstream when the mirror is off)."""
    image_ready: ImageReady = field(default_factory=dict)
    """Filled in once the images layer exists (`with_images`); layers below it get none."""

    def with_images(self, image_ready: ImageReady) -> StackContext:
        """The same context once the images layer has made the mirror's images pullable."""
        return dataclasses.replace(self, image_ready=image_ready)


@dataclass(frozen=True)
class LayerArgs:
    """The shared context of a layer's Args; its own inputs are the subclass's fields."""

    context: StackContext

    @property
    def config(self) -> StackConfig:
        return self.context.config

    @property
    def provider(self) -> k8s.Provider:
        return self.context.provider

    @property
    def system_ready(self) -> Sequence[pulumi.Resource]:
        return self.context.system_ready

    @property
    def mirror(self) -> ImageMirror:
        return self.context.mirror

    @property
    def image_ready(self) -> ImageReady:
        return self.context.image_ready


def image_waits(ready: ImageReady, *upstreams: str) -> list[pulumi.Resource]:
    """What an object referencing `upstreams` must wait for: their copy Jobs (or cache
    rules and node permissions); nothing when the mirror is off."""
    waits: list[pulumi.Resource] = []
    for upstream in upstreams:
        waits.extend(r for r in ready.get(upstream, ()) if r not in waits)
    return waits
