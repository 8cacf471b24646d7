"""Exit codes and the one-line messages a user sees, and the mapping from library exceptions.

Every failure the staging tool knows about is listed here once: its exit code, its message
template, and whether retrying the same run can help (the Kubernetes Job fails fast on the
permanent ones, see ``components/staging/job.py``).
"""

from __future__ import annotations

import errno
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # an unexpected error: Python's own exit status, with its traceback
    USAGE = 2
    MISSING_TOKEN = 10
    GATED_NO_ACCESS = 11
    REPO_NOT_FOUND = 12
    REVISION_NOT_FOUND = 13
    SOURCE_NOT_FOUND = 14
    NO_FILES = 15
    BUCKET_NOT_FOUND = 20
    ACCESS_DENIED = 21
    UPLOAD_FAILED = 22
    NO_CREDENTIALS = 23
    NO_REGION = 24
    S3_UNREACHABLE = 25
    DISK_FULL = 30
    PULUMI_CLI_MISSING = 40
    STACK_OUTPUT_MISSING = 41


MESSAGES: dict[ExitCode, str] = {
    ExitCode.USAGE: "{detail}",
    ExitCode.MISSING_TOKEN: (
        "hf:{repo} is gated and HF_TOKEN is not set: accept its license on "
        "huggingface.co/{repo}, then export HF_TOKEN"
    ),
    ExitCode.GATED_NO_ACCESS: (
        "hf:{repo} is gated and the HF_TOKEN account has no access: request it on "
        "huggingface.co/{repo}"
    ),
    ExitCode.REPO_NOT_FOUND: (
        "hf:{repo} not found on the Hugging Face Hub (check the id; a private repo needs HF_TOKEN)"
    ),
    ExitCode.REVISION_NOT_FOUND: "hf:{repo}@{revision}: revision not found",
    ExitCode.SOURCE_NOT_FOUND: (
        "{path}: source directory not found; pass --source a folder holding the model's files "
        "(config.json, *.safetensors) or hf:<org>/<name>@<revision>"
    ),
    ExitCode.NO_FILES: "{source}: no model files to stage (allowed: {patterns})",
    ExitCode.BUCKET_NOT_FOUND: "s3://{bucket}: bucket not found",
    ExitCode.ACCESS_DENIED: (
        "s3://{bucket}/{prefix}: access denied; the credentials need s3:ListBucket on the "
        "prefix and s3:GetObject/s3:PutObject on {bucket}/{prefix}/*"
    ),
    ExitCode.UPLOAD_FAILED: (
        "s3://{bucket}/{key}: upload failed after {attempts} attempts: {detail}"
    ),
    ExitCode.NO_CREDENTIALS: (
        "no AWS credentials found ({detail}); set AWS_PROFILE (after `aws sso login` or "
        "`aws configure`) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, then run again"
    ),
    ExitCode.NO_REGION: "no AWS region configured; pass --region or set AWS_REGION",
    ExitCode.S3_UNREACHABLE: (
        "cannot reach S3 at {endpoint}; check the network, --endpoint-url and --region, "
        "then run again"
    ),
    ExitCode.DISK_FULL: "no space left on device while downloading {source} to {path}",
    ExitCode.PULUMI_CLI_MISSING: (
        "pulumi CLI not found on PATH (needed by --stack); install it or pass --dest s3://bucket/prefix"
    ),
    ExitCode.STACK_OUTPUT_MISSING: "stack {stack}: cannot read modelUris[{model!r}]: {detail}",
}

# Failures that the same inputs will hit again: the Job should not retry them.
PERMANENT: frozenset[ExitCode] = frozenset(
    {
        ExitCode.MISSING_TOKEN,
        ExitCode.GATED_NO_ACCESS,
        ExitCode.REPO_NOT_FOUND,
        ExitCode.REVISION_NOT_FOUND,
        ExitCode.SOURCE_NOT_FOUND,
        ExitCode.NO_FILES,
        ExitCode.BUCKET_NOT_FOUND,
        ExitCode.ACCESS_DENIED,
    }
)


class StageError(Exception):
    """A failure with a stable exit code and a one-line message."""

    def __init__(self, code: ExitCode, **fields: Any) -> None:
        self.code = code
        self.fields = fields
        self.message = MESSAGES[code].format(**fields)
        super().__init__(self.message)


_ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "403",
        "Forbidden",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
    }
)


def from_s3_error(exc: BaseException, *, bucket: str, prefix: str) -> StageError | None:
    """Map a botocore ClientError to a permanent StageError, or None when it may be transient."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code == "NoSuchBucket":
        return StageError(ExitCode.BUCKET_NOT_FOUND, bucket=bucket)
    if code in _ACCESS_DENIED_CODES or status == 403:
        return StageError(ExitCode.ACCESS_DENIED, bucket=bucket, prefix=prefix)
    return None


def from_setup_error(exc: BaseException) -> StageError | None:
    """Map botocore's "no credentials" and "no region" errors, which it raises from the first
    request, to a sentence (botocore is imported here: the Job's image has it, tests too)."""
    if isinstance(exc, ModuleNotFoundError):
        return StageError(
            ExitCode.USAGE,
            detail=f"the Python package {exc.name} is not installed here; run `make install-tools` "
            "and use .venv/bin/python",
        )
    from botocore.exceptions import (
        CredentialRetrievalError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    if isinstance(exc, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
        return StageError(ExitCode.NO_CREDENTIALS, detail=str(exc).rstrip("."))
    if isinstance(exc, NoRegionError):
        return StageError(ExitCode.NO_REGION)
    if isinstance(exc, EndpointConnectionError):
        url = str(exc.kwargs.get("endpoint_url", "the endpoint"))
        return StageError(ExitCode.S3_UNREACHABLE, endpoint=url.split("?")[0])
    return None


def _find_enospc(exc: BaseException) -> OSError | None:
    """The ENOSPC error in an exception's cause/context chain (libraries re-raise and wrap)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno == errno.ENOSPC:
            return current
        current = current.__cause__ or current.__context__
    return None


def from_download_error(
    exc: BaseException, *, repo: str, revision: str, token_set: bool, path: str
) -> StageError | None:
    """Map a huggingface_hub or OS exception raised while downloading a snapshot."""
    from huggingface_hub.utils import (
        GatedRepoError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    # GatedRepoError is a RepositoryNotFoundError, and all of them are OSErrors: order matters.
    if isinstance(exc, GatedRepoError):
        code = ExitCode.GATED_NO_ACCESS if token_set else ExitCode.MISSING_TOKEN
        return StageError(code, repo=repo)
    if isinstance(exc, RevisionNotFoundError):
        return StageError(ExitCode.REVISION_NOT_FOUND, repo=repo, revision=revision)
    if isinstance(exc, RepositoryNotFoundError):
        return StageError(ExitCode.REPO_NOT_FOUND, repo=repo)
    if _find_enospc(exc) is not None:
        return StageError(ExitCode.DISK_FULL, source=f"hf:{repo}@{revision}", path=path)
    return None
