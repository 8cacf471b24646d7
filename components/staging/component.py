"""In-cluster model staging: one Job per model copies it from the Hugging Face Hub to S3.

The Job's name hashes (repo, revision, bucket, prefix): an unchanged model keeps its Job, so a
second `pulumi up` copies nothing; a new revision replaces the Job, which uploads only the files
whose checksum changed. Each model's DataLoad depends on its Job.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components.config.model import ModelConfig, StackConfig
from components.context import LayerArgs, image_waits
from components.naming import data_node_labels
from components.staging.job import (
    StagingJobSpec,
    staging_configmap,
    staging_job,
)
from components.storage.component import STAGING_SERVICE_ACCOUNT

HF_TOKEN_SECRET = "hf-token"


@dataclass(frozen=True)
class StagingArgs(LayerArgs):
    namespace: pulumi.Resource
    bucket_name: pulumi.Input[str]
    staging_role_arn: pulumi.Input[str]
    hf_token: pulumi.Input[str]


def job_deadline_seconds(model: ModelConfig) -> int:
    """Hub download and S3 upload at a pessimistic 50 MB/s each, plus scheduling time."""
    return 900 + round(model.size_gib * 2 * 1024 / 50)


def staging_spec(
    config: StackConfig, model: ModelConfig, image: str, bucket: str
) -> StagingJobSpec:
    return StagingJobSpec(
        model_name=model.name,
        hf_repo_id=model.hf_repo,
        revision=model.hf_revision,
        s3_bucket=bucket,
        s3_prefix=model.s3_prefix,
        namespace=config.model_namespace,
        service_account_name=STAGING_SERVICE_ACCOUNT,
        image=image,
        hf_token_secret_name=HF_TOKEN_SECRET,
        configmap_name=f"stage-{model.name}"[:63],
        node_selector=data_node_labels(),
        scratch_size=f"{int(model.size_gib * 1.2) + 5}Gi",
        active_deadline_seconds=job_deadline_seconds(model),
    )


class ModelStaging(pulumi.ComponentResource):
    """The staging Jobs, awaited until each has copied its model (or failed)."""

    jobs: dict[str, pulumi.Resource]

    def __init__(
        self, name: str, args: StagingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kserve-fluid:staging:ModelStaging", name, None, opts)
        config = args.config
        base = pulumi.ResourceOptions(
            parent=self,
            provider=args.provider,
            depends_on=[*args.system_ready, args.namespace],
        )
        token = k8s.core.v1.Secret(
            "hf-token",
            metadata={"name": HF_TOKEN_SECRET, "namespace": config.model_namespace},
            string_data={"HF_TOKEN": pulumi.Output.secret(args.hf_token)},
            opts=base,
        )
        account = k8s.core.v1.ServiceAccount(
            "staging-service-account",
            metadata=pulumi.Output.from_input(args.staging_role_arn).apply(
                lambda arn: {
                    "name": STAGING_SERVICE_ACCOUNT,
                    "namespace": config.model_namespace,
                    "annotations": {"eks.amazonaws.com/role-arn": arn},
                }
            ),
            opts=base,
        )
        bucket = pulumi.Output.from_input(args.bucket_name)
        self.jobs = {}
        for model in config.models:
            image = args.mirror.ref(versions.STAGING_IMAGE)
            specs = bucket.apply(functools.partial(staging_spec, config, model, image))
            code = k8s.core.v1.ConfigMap(
                f"{model.name}-staging-code",
                metadata=specs.apply(lambda s: staging_configmap(s)["metadata"]),
                data=specs.apply(lambda s: staging_configmap(s)["data"]),
                opts=base,
            )
            deadline = job_deadline_seconds(model)
            self.jobs[model.name] = k8s.batch.v1.Job(
                f"{model.name}-staging",
                metadata=specs.apply(lambda s: staging_job(s)["metadata"]),
                spec=specs.apply(lambda s: staging_job(s)["spec"]),
                opts=pulumi.ResourceOptions.merge(
                    base,
                    pulumi.ResourceOptions(
                        depends_on=[
                            token,
                            account,
                            code,
                            *image_waits(args.image_ready, versions.STAGING_IMAGE),
                        ],
                        # A Job's template is immutable and its name is fixed per revision.
                        delete_before_replace=True,
                        custom_timeouts=pulumi.CustomTimeouts(
                            create=f"{deadline // 60 + 5}m", delete="10m"
                        ),
                    ),
                ),
            )
        self.register_outputs({})
