"""The S3 emulation (bench/s3emu.py) against a real S3 client, and the streamer's bench rows."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from bench import s3emu, warmup_bench
from components.serving.manifests import STREAM_CONCURRENCY

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def emulation(tmp_path: Path) -> Iterator[tuple[s3emu.S3Emulation, Path]]:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "a.bin").write_bytes(bytes(range(256)) * 40)  # 10240 bytes
    (root / "sub" / "b.json").write_text('{"x": 1}')
    with s3emu.S3Emulation(root, latency_ms=0, stream_mbps=0) as emu:
        yield emu, root


def _client(endpoint: str) -> object:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )


def test_a_real_s3_client_lists_and_reads_ranges(
    emulation: tuple[s3emu.S3Emulation, Path],
) -> None:
    emu, root = emulation
    s3 = _client(emu.endpoint)
    listed = s3.list_objects_v2(Bucket="models", Prefix="")  # type: ignore[attr-defined]
    assert [(o["Key"], o["Size"]) for o in listed["Contents"]] == [
        ("a.bin", 10240),
        ("sub/b.json", 8),
    ]
    only_sub = s3.list_objects_v2(Bucket="models", Prefix="sub/")  # type: ignore[attr-defined]
    assert [o["Key"] for o in only_sub["Contents"]] == ["sub/b.json"]
    data = (root / "a.bin").read_bytes()
    for wanted, expected in (
        ("bytes=0-7", data[:8]),
        ("bytes=10000-", data[10000:]),
        ("bytes=-16", data[-16:]),
        ("bytes=10230-20000", data[10230:]),
    ):
        got = s3.get_object(Bucket="models", Key="a.bin", Range=wanted)  # type: ignore[attr-defined]
        assert got["Body"].read() == expected, wanted
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    whole = s3.get_object(Bucket="models", Key="a.bin")  # type: ignore[attr-defined]
    assert whole["Body"].read() == data
    assert s3.head_object(Bucket="models", Key="sub/b.json")["ContentLength"] == 8  # type: ignore[attr-defined]
    stats = emu.stats()
    assert stats["bytes"] == 8 + 240 + 16 + 10 + 10240
    assert stats["get_requests"] == 5


@pytest.mark.parametrize(
    ("key", "wanted", "code"),
    [
        ("missing.bin", None, "NoSuchKey"),
        ("../etc/passwd", None, "NoSuchKey"),
        ("a.bin", "bytes=20000-", "InvalidRange"),
    ],
)
def test_errors_are_s3_errors(
    emulation: tuple[s3emu.S3Emulation, Path], key: str, wanted: str | None, code: str
) -> None:
    emu, _ = emulation
    s3 = _client(emu.endpoint)
    extra = {"Range": wanted} if wanted else {}
    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket="models", Key=key, **extra)  # type: ignore[attr-defined]
    assert raised.value.response["Error"]["Code"] == code


def test_the_bench_uses_the_stacks_stream_concurrency() -> None:
    assert warmup_bench.STREAM_CONCURRENCY == STREAM_CONCURRENCY


def test_streamer_rows_on_a_small_model(tmp_path: Path) -> None:
    """The CPU part of the measured row: the Run:ai streamer through the emulation, beside
    the emulation's single-connection limit (numbers are not asserted)."""
    pytest.importorskip("runai_model_streamer")
    pytest.importorskip("runai_model_streamer_s3")
    pytest.importorskip("torch")
    out = tmp_path / "out.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "warmup_bench.py"),
            "--size=64MiB",
            "--shards=2",
            f"--cache-dir={tmp_path / 'cache'}",
            f"--json={out}",
            "--latency-ms=1",
            "--rows=limit,stream",
            "--skip-local",
            "--fuse=off",
            "--gpu=off",
            "--max-seconds=240",
            "--no-drop-caches",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    rows = {(r["fs"], r["name"]): r for r in doc["rows"]}
    assert set(rows) == {("s3", "limit"), ("s3", "runai streamer -> cpu")}
    limit, streamed = rows[("s3", "limit")], rows[("s3", "runai streamer -> cpu")]
    model = Path(doc["config"]["model_dir"])
    shards = sorted(model.glob("*.safetensors"))
    assert limit["bytes"] == max(p.stat().st_size for p in shards)
    # Every tensor byte came through the emulation (headers and tensors: at least the payload).
    payload = streamed["bytes"]
    assert (
        0.99 * sum(p.stat().st_size for p in shards)
        < payload
        <= sum(p.stat().st_size for p in shards)
    )
    assert all(served >= payload for served in streamed["extra"]["server_bytes"])
    assert streamed["ratio"] > 0 and streamed["seconds"] > 0
    assert f"concurrency {STREAM_CONCURRENCY}, to cpu" in streamed["note"]
    assert "s3      runai streamer -> cpu" in proc.stdout
    assert doc["config"]["s3"]["server_counters"]["get_requests"] > len(shards)
