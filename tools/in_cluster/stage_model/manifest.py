"""File identity (size + sha256) and the manifest that marks a complete copy.

The manifest object ``<prefix>/.stage-manifest.json`` is written after every file is in place,
so a reader that finds it (and, to be sure, finds each listed object with the listed size and
``x-amz-meta-sha256``) knows the copy is complete, not a partial upload.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import from_s3_error
from .location import S3Location, parse_s3_uri

MANIFEST_NAME = ".stage-manifest.json"
MANIFEST_FORMAT = 1
SHA256_METADATA = "sha256"  # sent as the x-amz-meta-sha256 header
_HASH_BLOCK = 8 * 1024 * 1024
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True)
class ManifestEntry:
    path: str  # relative to the prefix
    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    source: str
    repo_id: str | None
    revision: str | None
    bucket: str
    prefix: str
    files: tuple[ManifestEntry, ...]
    created_at: str
    format: int = MANIFEST_FORMAT

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.files)

    def same_content(self, other: Manifest) -> bool:
        """Equal apart from the time it was written."""
        return replace(self, created_at="") == replace(other, created_at="")

    def to_json(self) -> bytes:
        document = asdict(self)
        document["total_bytes"] = self.total_bytes
        return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        document: dict[str, Any] = json.loads(data)
        files = tuple(
            ManifestEntry(**{f.name: entry[f.name] for f in fields(ManifestEntry)})
            for entry in document["files"]
        )
        # Fields added by later writers (and the derived total_bytes) are ignored.
        known = {f.name for f in fields(cls)} - {"files"}
        return cls(files=files, **{k: v for k, v in document.items() if k in known})


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def manifest_key(location: S3Location) -> str:
    return location.key(MANIFEST_NAME)


def build_manifest(
    *,
    source: str,
    repo_id: str | None,
    revision: str | None,
    location: S3Location,
    entries: list[ManifestEntry],
    now: datetime | None = None,
) -> Manifest:
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Manifest(
        source=source,
        repo_id=repo_id,
        revision=revision,
        bucket=location.bucket,
        prefix=location.prefix,
        files=tuple(sorted(entries, key=lambda e: e.key)),
        created_at=stamp,
    )


def _location(dest: S3Location | str) -> S3Location:
    return dest if isinstance(dest, S3Location) else parse_s3_uri(dest)


def remote_identity(s3_client: Any, bucket: str, key: str) -> tuple[int, str | None] | None:
    """(size, sha256 metadata) of an object from a HEAD request, or None when it is absent."""
    from botocore.exceptions import ClientError

    try:
        head = s3_client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND:
            return None
        raise
    return int(head["ContentLength"]), head.get("Metadata", {}).get(SHA256_METADATA)


def write_manifest(s3_client: Any, manifest: Manifest) -> str:
    location = S3Location(bucket=manifest.bucket, prefix=manifest.prefix)
    key = manifest_key(location)
    s3_client.put_object(
        Bucket=location.bucket,
        Key=key,
        Body=manifest.to_json(),
        ContentType="application/json",
        CacheControl="no-cache",
    )
    return key


def read_manifest(s3_client: Any, dest: S3Location | str) -> Manifest | None:
    """The manifest at ``dest`` (``s3://bucket/prefix``), or None if none was written yet."""
    from botocore.exceptions import ClientError

    location = _location(dest)
    try:
        body = s3_client.get_object(Bucket=location.bucket, Key=manifest_key(location))["Body"]
        return Manifest.from_json(body.read())
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND:
            return None
        mapped = from_s3_error(exc, bucket=location.bucket, prefix=location.prefix)
        if mapped is not None:
            raise mapped from exc
        raise


def is_complete(
    s3_client: Any,
    dest: S3Location | str,
    *,
    expected_revision: str | None = None,
    verify_objects: bool = True,
) -> bool:
    """Whether ``dest`` holds a complete copy: a manifest exists (for ``expected_revision`` if
    given) and, with ``verify_objects``, every listed object has the listed size and sha256
    (HEAD requests only)."""
    manifest = read_manifest(s3_client, dest)
    if manifest is None:
        return False
    if expected_revision is not None and manifest.revision != expected_revision:
        return False
    if not verify_objects:
        return True
    return all(
        remote_identity(s3_client, manifest.bucket, entry.key) == (entry.size, entry.sha256)
        for entry in manifest.files
    )
