"""Uploads through a proxy that fails requests: retries must deliver identical content."""

from __future__ import annotations

import hashlib
from email.message import Message
from typing import Any

from tools.in_cluster.stage_model import is_complete, make_s3_client, stage

from .conftest import PART, SHARD
from .faultproxy import RESET, Fault, FaultProxy, RandomFaults

PREFIX = "models/faulty"


def test_upload_survives_5xx_and_connection_resets(model_dir, bucket, moto_endpoint, inspector):
    root, staged = model_dir
    faults = RandomFaults(seed=7, rate=0.3, max_faults=9)
    with FaultProxy(moto_endpoint, faults) as proxy:
        client = make_s3_client(endpoint_url=proxy.endpoint, concurrency=4, max_attempts=8)
        result = stage(
            str(root), f"s3://{bucket}/{PREFIX}", s3_client=client, chunk_size=PART, retry_delay=0.1
        )

    assert len(faults.injected) >= 3
    assert set(faults.injected) == {500, 503, RESET}
    assert proxy.requests > len(faults.injected)
    assert result.files_uploaded == len(staged)
    for relpath, data in staged.items():
        body = inspector.get_object(Bucket=bucket, Key=f"{PREFIX}/{relpath}")["Body"].read()
        assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest(), relpath
    assert is_complete(inspector, f"s3://{bucket}/{PREFIX}")


class FailPartTwo:
    """Answer 500 to the first ``times`` uploads of part 2: with ``times`` equal to botocore's
    max attempts the request retries are exhausted, so only the per-file retry can finish."""

    def __init__(self, times: int) -> None:
        self.times = times
        self.failed = 0

    def __call__(self, method: str, path: str, headers: Message) -> Fault | None:
        if method == "PUT" and "partNumber=2" in path and self.failed < self.times:
            self.failed += 1
            return 500
        return None


def test_whole_file_is_retried_when_request_retries_cannot_recover(
    model_dir, bucket, moto_endpoint, inspector
):
    root, staged = model_dir
    rule = FailPartTwo(times=3)
    logged: list[str] = []

    class Log:
        def start(self, total_bytes: int, total_files: int) -> None: ...
        def advance(self, nbytes: int) -> None: ...
        def file_done(self, key: str, size: int, *, uploaded: bool) -> None: ...
        def log(self, message: str) -> None:
            logged.append(message)

        def close(self) -> None: ...

    with FaultProxy(moto_endpoint, rule) as proxy:
        client: Any = make_s3_client(endpoint_url=proxy.endpoint, concurrency=4, max_attempts=3)
        result = stage(
            str(root),
            f"s3://{bucket}/{PREFIX}",
            s3_client=client,
            chunk_size=PART,
            retry_delay=0.05,
            progress=Log(),
        )

    assert rule.failed == 3
    assert any(line.startswith(f"retrying {PREFIX}/{SHARD} (2/3)") for line in logged), logged
    assert result.files_uploaded == len(staged)
    body = inspector.get_object(Bucket=bucket, Key=f"{PREFIX}/{SHARD}")["Body"].read()
    assert body == staged[SHARD]
