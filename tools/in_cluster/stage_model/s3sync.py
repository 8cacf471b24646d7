"""Copy local files to an S3 prefix: parallel multipart uploads, skip what is already there.

An object is "already there" when its size matches and its ``x-amz-meta-sha256`` equals the
local file's sha256 (one HEAD request, never a GET of the body). Requests are retried by botocore
(``standard`` mode with a bounded number of attempts); a file whose transfer still fails is
re-uploaded as a whole a few times before the run gives up.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, CancelledError, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from .errors import ExitCode, StageError, from_s3_error
from .location import S3Location
from .manifest import SHA256_METADATA, ManifestEntry, file_sha256, remote_identity
from .progress import Progress
from .sources import SourceFile

MiB = 1024 * 1024
DEFAULT_CONCURRENCY = 10
DEFAULT_MAX_ATTEMPTS = 8  # per request, initial try included (botocore total_max_attempts)
DEFAULT_FILE_ATTEMPTS = 3  # per file, our own loop around a whole transfer
MIN_PART_SIZE = 8 * MiB  # s3transfer's default; S3 itself allows 5 MiB
S3_MIN_PART_SIZE = 5 * MiB
S3_MAX_PART_SIZE = 5 * 1024 * MiB
S3_MAX_PARTS = 10_000
# Keep the largest file at or below this many parts: far from S3's 10,000 limit, and parts
# big enough that per-request overhead stays small for 5-50 GB shards.
TARGET_MAX_PARTS = 1_000


def make_s3_client(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    retry_mode: str = "standard",
) -> Any:
    """An S3 client with bounded retries and a connection pool sized for ``concurrency``.

    Credentials come from the default chain (IRSA web identity in the cluster, env/profile on a
    workstation); ``endpoint_url`` (or ``AWS_ENDPOINT_URL``) points at a local S3 for tests.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": retry_mode, "total_max_attempts": max_attempts},
        max_pool_connections=max(10, 2 * concurrency),
        connect_timeout=10,
        read_timeout=120,
        tcp_keepalive=True,
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint_url, region_name=region, config=config
    )


def part_size_for(largest: int, chunk_size: int | None = None) -> int:
    """The multipart part size for files up to ``largest`` bytes.

    Without ``chunk_size``: at least 8 MiB, and large enough that the largest file has at most
    ``TARGET_MAX_PARTS`` parts (rounded up to whole MiB). An explicit ``chunk_size`` is checked
    against S3's limits (5 MiB - 5 GiB per part, 10,000 parts).
    """
    if chunk_size is None:
        wanted = max(MIN_PART_SIZE, math.ceil(largest / TARGET_MAX_PARTS))
        return min(math.ceil(wanted / MiB) * MiB, S3_MAX_PART_SIZE)
    if not S3_MIN_PART_SIZE <= chunk_size <= S3_MAX_PART_SIZE:
        raise ValueError(f"chunk size {chunk_size} bytes: S3 parts must be 5 MiB to 5 GiB")
    if math.ceil(largest / chunk_size) > S3_MAX_PARTS:
        raise ValueError(
            f"chunk size {chunk_size} bytes: a {largest}-byte file would need more than "
            f"{S3_MAX_PARTS} parts"
        )
    return chunk_size


def transfer_config_for(
    sizes: Iterable[int], *, concurrency: int = DEFAULT_CONCURRENCY, chunk_size: int | None = None
) -> Any:
    """A boto3 ``TransferConfig`` sized from the file sizes: files of one part size or more go
    multipart; ``concurrency`` requests run at once across all files."""
    from boto3.s3.transfer import TransferConfig

    if concurrency < 1:
        raise ValueError(f"concurrency {concurrency}: must be at least 1")
    part = part_size_for(max(sizes, default=0), chunk_size)
    return TransferConfig(
        multipart_threshold=part,
        multipart_chunksize=part,
        max_concurrency=concurrency,
        use_threads=True,
    )


def list_remote(s3_client: Any, location: S3Location) -> dict[str, int]:
    """Key -> size of every object below the prefix. Also the run's preflight: a missing bucket
    or missing permission fails here, before anything is downloaded."""
    from botocore.exceptions import ClientError

    sizes: dict[str, int] = {}
    try:
        paginator = s3_client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=location.bucket, Prefix=f"{location.prefix}/"):
            for obj in page.get("Contents", []):
                sizes[obj["Key"]] = int(obj["Size"])
    except ClientError as exc:
        mapped = from_s3_error(exc, bucket=location.bucket, prefix=location.prefix)
        if mapped is not None:
            raise mapped from exc
        raise
    return sizes


@dataclass
class SyncReport:
    entries: list[ManifestEntry] = field(default_factory=list)
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes_uploaded: int = 0
    bytes_skipped: int = 0


class _ByteCounter:
    """s3transfer subscriber: forwards progress and remembers what one attempt sent."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self.sent = 0

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        pass

    def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
        self.sent += bytes_transferred
        self._progress.advance(bytes_transferred)

    def on_done(self, future: Any, **kwargs: Any) -> None:
        pass


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class _FileUploader:
    """Hash, check and upload single files through one shared TransferManager, so that
    ``concurrency`` bounds the requests of all files together."""

    def __init__(
        self,
        s3_client: Any,
        location: S3Location,
        manager: Any,
        *,
        remote: dict[str, int],
        progress: Progress,
        file_attempts: int,
        retry_delay: float,
    ) -> None:
        self._s3 = s3_client
        self._location = location
        self._manager = manager
        self._remote = remote
        self._progress = progress
        self._file_attempts = file_attempts
        self._retry_delay = retry_delay
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: set[Any] = set()

    def stop(self) -> None:
        """Another file failed for good: start nothing new, cancel transfers in flight."""
        self._stop.set()
        with self._lock:
            for transfer in self._in_flight:
                transfer.cancel()

    def _mapped(self, exc: BaseException) -> StageError | None:
        return from_s3_error(exc, bucket=self._location.bucket, prefix=self._location.prefix)

    def stage(self, source: SourceFile) -> tuple[ManifestEntry, bool]:
        """The file's manifest entry, and whether it had to be uploaded."""
        from botocore.exceptions import ClientError

        key = self._location.key(source.relpath)
        entry = ManifestEntry(
            path=source.relpath, key=key, size=source.size, sha256=file_sha256(source.path)
        )
        try:
            unchanged = self._remote.get(key) == source.size and remote_identity(
                self._s3, self._location.bucket, key
            ) == (source.size, entry.sha256)
        except ClientError as exc:
            mapped = self._mapped(exc)
            if mapped is None:
                raise
            raise mapped from exc
        if not unchanged:
            self._upload(source, key, entry.sha256)
        self._progress.file_done(key, source.size, uploaded=not unchanged)
        return entry, not unchanged

    def _upload(self, source: SourceFile, key: str, sha256: str) -> None:
        for attempt in range(1, self._file_attempts + 1):
            with self._lock:
                if self._stop.is_set():
                    raise CancelledError(key)
                counter = _ByteCounter(self._progress)
                transfer = self._manager.upload(
                    str(source.path),
                    self._location.bucket,
                    key,
                    extra_args={"Metadata": {SHA256_METADATA: sha256}},
                    subscribers=[counter],
                )
                self._in_flight.add(transfer)
            try:
                transfer.result()
                return
            except Exception as exc:
                self._progress.advance(-counter.sent)
                mapped = self._mapped(exc)
                if mapped is not None:
                    raise mapped from exc
                if attempt == self._file_attempts or self._stop.is_set():
                    raise StageError(
                        ExitCode.UPLOAD_FAILED,
                        bucket=self._location.bucket,
                        key=key,
                        attempts=attempt,
                        detail=_one_line(exc),
                    ) from exc
                self._progress.log(
                    f"retrying {key} ({attempt + 1}/{self._file_attempts}): {_one_line(exc)}"
                )
                time.sleep(self._retry_delay * 2 ** (attempt - 1))
            finally:
                with self._lock:
                    self._in_flight.discard(transfer)


def sync_files(
    s3_client: Any,
    location: S3Location,
    files: Sequence[SourceFile],
    *,
    remote: dict[str, int],
    transfer_config: Any,
    progress: Progress,
    file_attempts: int = DEFAULT_FILE_ATTEMPTS,
    retry_delay: float = 1.0,
) -> SyncReport:
    """Upload every file whose object is missing or differs; ``remote`` is ``list_remote``'s
    result. Files are hashed and checked in parallel while earlier ones upload. The first
    permanent failure cancels the rest and is raised."""
    from s3transfer.manager import TransferManager

    workers = max(1, min(len(files), transfer_config.max_request_concurrency))
    with (
        TransferManager(s3_client, transfer_config) as manager,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stage") as pool,
    ):
        uploader = _FileUploader(
            s3_client,
            location,
            manager,
            remote=remote,
            progress=progress,
            file_attempts=file_attempts,
            retry_delay=retry_delay,
        )
        futures = [pool.submit(uploader.stage, source) for source in files]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failure = next((f.exception() for f in done if f.exception() is not None), None)
        if failure is not None:
            for future in pending:
                future.cancel()
            uploader.stop()
            raise failure

    report = SyncReport()
    for future in futures:
        entry, uploaded = future.result()
        report.entries.append(entry)
        if uploaded:
            report.uploaded.append(entry.key)
            report.bytes_uploaded += entry.size
        else:
            report.skipped.append(entry.key)
            report.bytes_skipped += entry.size
    return report
