"""``stage()``: put a model on S3, verified, and mark the copy complete."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ExitCode, StageError
from .location import S3Location, parse_s3_uri
from .manifest import build_manifest, manifest_key, read_manifest, write_manifest
from .progress import NullProgress, Progress, human_bytes
from .s3sync import (
    DEFAULT_CONCURRENCY,
    DEFAULT_FILE_ATTEMPTS,
    list_remote,
    sync_files,
    transfer_config_for,
)
from .sources import (
    ALLOW_PATTERNS,
    DownloadFn,
    HfSource,
    LocalSource,
    Source,
    hf_snapshot_download,
    hf_token_from_env,
    list_source_files,
    materialize,
    parse_source,
)


@dataclass(frozen=True)
class StageResult:
    dest: str
    files_uploaded: int
    files_skipped: int
    bytes_uploaded: int
    bytes_skipped: int
    uploaded_keys: tuple[str, ...]
    manifest_key: str
    manifest_written: bool  # False when an identical manifest was already there
    extra_keys: tuple[str, ...]  # objects below the prefix that the source does not have
    elapsed_s: float

    def summary(self) -> str:
        manifest = "manifest written" if self.manifest_written else "manifest unchanged"
        return (
            f"staged {self.dest}: {self.files_uploaded} uploaded "
            f"({human_bytes(self.bytes_uploaded)}), {self.files_skipped} unchanged "
            f"({human_bytes(self.bytes_skipped)}), {manifest}, {self.elapsed_s:.1f}s"
        )


def stage(
    source: str | Source,
    dest: str | S3Location,
    *,
    s3_client: Any,
    staging_dir: Path | None = None,
    token: str | None = None,
    download: DownloadFn = hf_snapshot_download,
    concurrency: int = DEFAULT_CONCURRENCY,
    chunk_size: int | None = None,
    file_attempts: int = DEFAULT_FILE_ATTEMPTS,
    retry_delay: float = 1.0,
    progress: Progress | None = None,
) -> StageResult:
    """Copy a model (``hf:org/name@rev`` or a local directory) to ``s3://bucket/prefix``.

    Order: check the destination (fails fast on a missing bucket or permission), download a Hub
    snapshot into ``staging_dir`` (resumable), upload missing or changed files, then write the
    manifest last. Re-running with unchanged files sends no PUT. Raises ``StageError`` for
    every known failure; ``token`` defaults to ``HF_TOKEN`` from the environment.
    """
    started = time.monotonic()
    if concurrency < 1 or file_attempts < 1:
        raise ValueError(f"concurrency {concurrency}, file_attempts {file_attempts}: must be >= 1")
    src = parse_source(source) if isinstance(source, str) else source
    location = dest if isinstance(dest, S3Location) else parse_s3_uri(dest)
    progress = progress or NullProgress()
    token = token if token is not None else hf_token_from_env()

    if isinstance(src, LocalSource) and not src.path.is_dir():
        # Before any request: a typo in --source is not worth a credentials or bucket error.
        raise StageError(ExitCode.SOURCE_NOT_FOUND, path=src.path)
    remote = list_remote(s3_client, location)
    root = materialize(src, staging_dir=staging_dir, download=download, token=token)
    files = list_source_files(root)
    if not files:
        raise StageError(ExitCode.NO_FILES, source=src, patterns=", ".join(ALLOW_PATTERNS))

    config = transfer_config_for(
        (f.size for f in files), concurrency=concurrency, chunk_size=chunk_size
    )
    progress.start(sum(f.size for f in files), len(files))
    try:
        report = sync_files(
            s3_client,
            location,
            files,
            remote=remote,
            transfer_config=config,
            progress=progress,
            file_attempts=file_attempts,
            retry_delay=retry_delay,
        )
    finally:
        progress.close()

    known = {entry.key for entry in report.entries} | {manifest_key(location)}
    extra = tuple(sorted(key for key in remote if key not in known))
    if extra:
        progress.log(f"{len(extra)} objects below {location.uri} are not in the source: {extra}")

    manifest = build_manifest(
        source=str(src),
        repo_id=src.repo_id if isinstance(src, HfSource) else None,
        revision=src.revision if isinstance(src, HfSource) else None,
        location=location,
        entries=report.entries,
    )
    existing = read_manifest(s3_client, location)
    written = existing is None or not existing.same_content(manifest)
    if written:
        write_manifest(s3_client, manifest)

    return StageResult(
        dest=location.uri,
        files_uploaded=len(report.uploaded),
        files_skipped=len(report.skipped),
        bytes_uploaded=report.bytes_uploaded,
        bytes_skipped=report.bytes_skipped,
        uploaded_keys=tuple(sorted(report.uploaded)),
        manifest_key=manifest_key(location),
        manifest_written=written,
        extra_keys=extra,
        elapsed_s=time.monotonic() - started,
    )
