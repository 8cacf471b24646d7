"""Layer 1c: ECR in the stack's region serves every image a cold GPU node pulls.

Pull-through cache rules for the upstreams ECR supports, a creation template that gives the
repositories they create encryption and a lifecycle policy, the node permissions a first pull
needs, and, for the upstreams ECR cannot cache, one repository and one copy Job per image, run
on the data nodes and awaited before anything that references the image
(components/image_mirror.py decides which image goes which way).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import versions
from components.context import LayerArgs
from components.image_mirror import (
    DATA_NODE_IMAGES,
    GPU_PATH_IMAGES,
    CopySpec,
    ImageMirror,
)
from components.images.copy_job import (
    CopyJobSpec,
    copier_iam_policy,
    copy_job,
    deadline_seconds,
    lifecycle_policy,
    pull_through_node_policy,
)
from components.naming import data_node_labels, tags
from components.network_policies import image_copy_policies, network_policies
from components.trust_policies import irsa_trust_policy

COPY_NAMESPACE = "image-mirror"
COPIER_SERVICE_ACCOUNT = "image-copier"


@dataclass(frozen=True)
class RegistryMirrorArgs(LayerArgs):
    node_role_names: Sequence[pulumi.Input[str]]
    """Roles of every node that may pull through a cache rule (node groups, Karpenter)."""
    oidc_provider_arn: pulumi.Input[str]
    oidc_provider_url: pulumi.Input[str]


def copy_spec(mirror: ImageMirror, copy: CopySpec) -> CopyJobSpec:
    return CopyJobSpec(
        source=copy.source,
        registry=mirror.registry,
        repository=copy.repository,
        tag=copy.tag,
        namespace=COPY_NAMESPACE,
        service_account_name=COPIER_SERVICE_ACCOUNT,
        region=mirror.region,
        crane_image=versions.pinned(versions.CRANE_IMAGE),
        login_image=mirror.ref(versions.ECR_LOGIN_IMAGE),
        size_gib=copy.size_gib,
        node_selector=data_node_labels(),
    )


class RegistryMirror(pulumi.ComponentResource):
    """Cache rules, copied repositories and their copy Jobs; `ready` is what pods wait for."""

    ready: list[pulumi.Resource]
    ready_by_image: dict[str, list[pulumi.Resource]]
    """Per upstream reference: what a pod pulling it from ECR needs to exist first."""
    node_pull_policy_arn: pulumi.Output[str] | None
    """The node policy for first pulls through the cache rules (None with the mirror off)."""

    def __init__(
        self, name: str, args: RegistryMirrorArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kserve-fluid:images:RegistryMirror", name, None, opts)
        config, mirror = args.config, args.mirror
        child = pulumi.ResourceOptions(parent=self)
        self.ready = []
        self.ready_by_image = {}
        self.node_pull_policy_arn = None
        if not mirror.enabled:
            self.register_outputs({})
            return

        rules = mirror.pull_through_rules()
        for upstream, prefix in rules:
            credential = getattr(mirror.settings, upstream.credential or "", "") or None
            self.ready.append(
                aws.ecr.PullThroughCacheRule(
                    f"{name}-{upstream.rule}",
                    ecr_repository_prefix=prefix,
                    upstream_registry_url=upstream.url,
                    credential_arn=credential,
                    opts=child,
                )
            )
        # Repositories a first pull creates get these settings; tags stay mutable, or the cache
        # could not follow the upstream (ECR user guide, "Sync an upstream registry").
        self.ready.append(
            aws.ecr.RepositoryCreationTemplate(
                f"{name}-pull-through-template",
                prefix=mirror.namespace,
                applied_fors=["PULL_THROUGH_CACHE"],
                description=f"Pull-through cache repositories of {config.name}",
                image_tag_mutability="MUTABLE",
                encryption_configurations=[
                    aws.ecr.RepositoryCreationTemplateEncryptionConfigurationArgs(
                        encryption_type="AES256"
                    )
                ],
                lifecycle_policy=lifecycle_policy(),
                opts=child,
            )
        )
        node_policy = aws.iam.Policy(
            f"{name}-pull-through",
            description=f"First pulls through the ECR cache rules of {config.name}",
            policy=json.dumps(
                pull_through_node_policy([mirror.repository_arn(p) for _, p in rules])
            ),
            tags=tags(config),
            opts=child,
        )
        self.node_pull_policy_arn = node_policy.arn
        for index, role in enumerate(args.node_role_names):
            self.ready.append(
                aws.iam.RolePolicyAttachment(
                    f"{name}-pull-through-{index}",
                    role=role,
                    policy_arn=node_policy.arn,
                    opts=pulumi.ResourceOptions(parent=node_policy),
                )
            )

        common = list(self.ready)
        copies = mirror.copies()
        jobs = self._copy_jobs(name, args, copies, common) if copies else {}
        self.ready.extend(jobs.values())
        for image in (*GPU_PATH_IMAGES, *DATA_NODE_IMAGES):
            job = jobs.get(image.upstream)
            self.ready_by_image[image.upstream] = [*common, *([job] if job else [])]
        self.register_outputs({"registry": mirror.registry, "namespace": mirror.namespace})

    def _copy_jobs(
        self,
        name: str,
        args: RegistryMirrorArgs,
        copies: list[CopySpec],
        cache_ready: list[pulumi.Resource],
    ) -> dict[str, pulumi.Resource]:
        """One copy Job per image, by upstream reference; a copy read through a cache rule
        waits for the rules (`cache_ready`)."""
        config, mirror = args.config, args.mirror
        child = pulumi.ResourceOptions(parent=self)
        repositories: dict[str, list[pulumi.Resource]] = {}
        for copy in copies:
            key = _resource_key(copy)
            repository = aws.ecr.Repository(
                f"{name}-{key}",
                name=copy.repository,
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                    scan_on_push=True
                ),
                encryption_configurations=[
                    aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="AES256")
                ],
                # The images are copies of public ones: `pulumi destroy` must not stop at them.
                force_delete=True,
                tags=tags(config),
                opts=child,
            )
            # No lifecycle policy: an untagged rule would expire the platform manifests of a
            # copied multi-arch index (components/images/copy_job.py lifecycle_policy).
            repositories[copy.upstream] = [repository]
        copier_policy = aws.iam.Policy(
            f"{name}-copier",
            description=f"Copy jobs of {config.name}: push to the copied repositories only",
            policy=json.dumps(
                copier_iam_policy(
                    [mirror.repository_arn(c.repository) for c in copies],
                    [mirror.repository_arn(p) for _, p in mirror.pull_through_rules()],
                )
            ),
            tags=tags(config),
            opts=child,
        )
        trust = pulumi.Output.all(args.oidc_provider_arn, args.oidc_provider_url).apply(
            lambda values: json.dumps(
                irsa_trust_policy(values[0], values[1], COPY_NAMESPACE, COPIER_SERVICE_ACCOUNT)
            )
        )
        role = aws.iam.Role(
            f"{name}-copier", assume_role_policy=trust, tags=tags(config), opts=child
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-copier-policy",
            role=role.name,
            policy_arn=copier_policy.arn,
            opts=pulumi.ResourceOptions(parent=role),
        )
        k8s_opts = pulumi.ResourceOptions(
            parent=self, provider=args.provider, depends_on=list(args.system_ready)
        )
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": COPY_NAMESPACE,
                "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
            },
            # A Namespace needs only the API server (DESIGN "Contracts").
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
        )
        # Default deny: the copy Jobs reach registries, ECR and STS on 443, nothing else.
        network_policies(
            image_copy_policies(COPY_NAMESPACE),
            args.provider,
            [namespace, *args.system_ready],
            parent=self,
        )
        account = k8s.core.v1.ServiceAccount(
            f"{name}-copier",
            metadata=role.arn.apply(
                lambda arn: {
                    "name": COPIER_SERVICE_ACCOUNT,
                    "namespace": COPY_NAMESPACE,
                    "annotations": {"eks.amazonaws.com/role-arn": arn},
                }
            ),
            opts=pulumi.ResourceOptions.merge(
                k8s_opts, pulumi.ResourceOptions(depends_on=[namespace])
            ),
        )
        jobs: dict[str, pulumi.Resource] = {}
        for copy in copies:
            spec = copy_spec(mirror, copy)
            document = copy_job(spec)
            deadline = deadline_seconds(spec)
            jobs[copy.upstream] = k8s.batch.v1.Job(
                f"{name}-copy-{_resource_key(copy)}",
                metadata=document["metadata"],
                spec=document["spec"],
                opts=pulumi.ResourceOptions.merge(
                    k8s_opts,
                    pulumi.ResourceOptions(
                        depends_on=[
                            namespace,
                            account,
                            attachment,
                            *repositories[copy.upstream],
                            *cache_ready,  # the login image comes through the cache
                        ],
                        # A Job's template is immutable and its name fixed per tag.
                        delete_before_replace=True,
                        custom_timeouts=pulumi.CustomTimeouts(
                            create=f"{deadline // 60 + 5}m", delete="10m"
                        ),
                    ),
                ),
            )
        return jobs


def _resource_key(copy: CopySpec) -> str:
    """`nvcr.io-nvidia-k8s-device-plugin`: the upstream host and path, unique per image."""
    return copy.repository.split("/copy/", 1)[1].replace("/", "-")
