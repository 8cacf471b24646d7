"""An ``s3://bucket/prefix`` destination."""

from __future__ import annotations

import re
from dataclasses import dataclass

# S3 bucket naming rules (general purpose buckets): 3-63 chars, lowercase, digits, dots, hyphens.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # no leading or trailing "/", never empty

    def key(self, relpath: str) -> str:
        return f"{self.prefix}/{relpath}"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def parse_s3_uri(uri: str) -> S3Location:
    """Parse ``s3://bucket/prefix``; the prefix is required so a model never lands at the root."""
    if not uri.startswith("s3://"):
        raise ValueError(f"destination {uri!r}: expected s3://bucket/prefix")
    bucket, _, prefix = uri[5:].partition("/")
    prefix = prefix.strip("/")
    if not _BUCKET.match(bucket):
        raise ValueError(f"destination {uri!r}: {bucket!r} is not a valid S3 bucket name")
    if not prefix:
        raise ValueError(f"destination {uri!r}: a prefix is required (s3://{bucket}/<prefix>)")
    return S3Location(bucket=bucket, prefix=prefix)
