"""Layer 2: the model bucket and the read-only credentials the cache and the baseline use."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config.model import StackConfig
from components.naming import tags
from components.storage.iam import (
    model_read_policy,
    staging_iam_policy,
    tls_only_bucket_policy,
)
from components.trust_policies import irsa_trust_policy

STORAGE_INITIALIZER_SERVICE_ACCOUNT = "model-reader"
STAGING_SERVICE_ACCOUNT = "model-stager"


@dataclass(frozen=True)
class ModelStoreArgs:
    config: StackConfig
    oidc_provider_arn: pulumi.Input[str]
    oidc_provider_url: pulumi.Input[str]


class ModelStore(pulumi.ComponentResource):
    """Hardened S3 bucket; an access key for JindoFS (no IRSA path) and IRSA roles for pods."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    reader_access_key_id: pulumi.Output[str]
    reader_secret_access_key: pulumi.Output[str]
    storage_initializer_role_arn: pulumi.Output[str]
    staging_role_arn: pulumi.Output[str] | None
    model_uris: pulumi.Output[dict[str, str]]

    def __init__(
        self, name: str, args: ModelStoreArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kserve-fluid:storage:ModelStore", name, None, opts)
        config = args.config
        settings = config.model_bucket
        prefixes = [model.s3_prefix for model in config.models]

        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=settings.name or None,
            bucket_prefix=None if settings.name else f"{config.name}-models-",
            force_destroy=settings.force_destroy,
            tags=tags(config),
            opts=pulumi.ResourceOptions(
                parent=self, protect=settings.protect, retain_on_delete=settings.retain_on_delete
            ),
        )
        # The hardening lives as long as the bucket: a retained bucket keeps its policies.
        child = pulumi.ResourceOptions(
            parent=bucket, protect=settings.protect, retain_on_delete=settings.retain_on_delete
        )
        public_access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    # SSE-S3: JindoFS and the storage initializer read without KMS grants.
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="abort-incomplete-uploads",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=3
                    ),
                    # Re-staged model files keep one old copy for a month, not forever.
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=30
                    ),
                )
            ],
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=bucket.id,
            policy=bucket.arn.apply(lambda arn: json.dumps(tls_only_bucket_policy(arn))),
            # S3 rejects a bucket policy while the public access block is being applied.
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[public_access_block])
            ),
        )

        read_policy = aws.iam.Policy(
            f"{name}-read-models",
            description=f"Read the model prefixes of {config.name}",
            policy=bucket.arn.apply(lambda arn: json.dumps(model_read_policy(arn, prefixes))),
            tags=tags(config),
            opts=pulumi.ResourceOptions(parent=self),
        )
        reader = aws.iam.User(
            f"{name}-jindo-reader",
            path=f"/{config.project}/",
            tags=tags(config, purpose="JindoFS reads the model prefixes - no IRSA support"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.UserPolicyAttachment(
            f"{name}-jindo-reader-policy",
            user=reader.name,
            policy_arn=read_policy.arn,
            opts=pulumi.ResourceOptions(parent=reader),
        )
        access_key = aws.iam.AccessKey(
            f"{name}-jindo-reader-key",
            user=reader.name,
            opts=pulumi.ResourceOptions(parent=reader, additional_secret_outputs=["secret"]),
        )
        self.reader_access_key_id = access_key.id
        self.reader_secret_access_key = pulumi.Output.secret(access_key.secret)

        self.storage_initializer_role_arn = self._irsa_role(
            f"{name}-storage-initializer",
            config,
            args,
            STORAGE_INITIALIZER_SERVICE_ACCOUNT,
            read_policy.arn,
        )
        self.staging_role_arn = None
        if config.staging == "job":
            write_policy = aws.iam.Policy(
                f"{name}-stage-models",
                description=f"Write the model prefixes of {config.name} (staging Jobs)",
                policy=bucket.bucket.apply(
                    lambda name: json.dumps(staging_iam_policy(name, prefixes))
                ),
                tags=tags(config),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.staging_role_arn = self._irsa_role(
                f"{name}-staging", config, args, STAGING_SERVICE_ACCOUNT, write_policy.arn
            )

        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.model_uris = bucket.bucket.apply(
            lambda bucket_name: {m.name: f"s3://{bucket_name}/{m.s3_prefix}" for m in config.models}
        )
        self.register_outputs(
            {
                "bucketName": self.bucket_name,
                "modelUris": self.model_uris,
                "storageInitializerRoleArn": self.storage_initializer_role_arn,
            }
        )

    def _irsa_role(
        self,
        name: str,
        config: StackConfig,
        args: ModelStoreArgs,
        service_account: str,
        policy_arn: pulumi.Input[str],
    ) -> pulumi.Output[str]:
        trust = pulumi.Output.all(args.oidc_provider_arn, args.oidc_provider_url).apply(
            lambda values: json.dumps(
                irsa_trust_policy(values[0], values[1], config.model_namespace, service_account)
            )
        )
        role = aws.iam.Role(
            name,
            assume_role_policy=trust,
            tags=tags(config),
            opts=pulumi.ResourceOptions(parent=self),
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-policy",
            role=role.name,
            policy_arn=policy_arn,
            opts=pulumi.ResourceOptions(parent=role),
        )
        # The ARN is handed out once the policy is attached: the ServiceAccount (and so the pod
        # that assumes the role) waits for it, not only for a role that may not yet read S3.
        return pulumi.Output.all(role.arn, attachment.id).apply(lambda values: str(values[0]))
