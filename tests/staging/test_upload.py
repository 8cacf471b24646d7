"""Staging a local model to a real (moto) S3 server: content, skips, changes, manifest order."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tools.in_cluster.stage_model import is_complete, read_manifest, stage, transfer_config_for
from tools.in_cluster.stage_model.s3sync import MiB, part_size_for

from .conftest import NOT_STAGED, PART, SHARD, SHARD_SIZE

PREFIX = "models/llama-test"


def keys(staged: dict[str, bytes]) -> set[str]:
    return {f"{PREFIX}/{relpath}" for relpath in staged}


def run(model: Path, bucket: str, s3: Any, **kwargs: Any) -> Any:
    return stage(str(model), f"s3://{bucket}/{PREFIX}", s3_client=s3, chunk_size=PART, **kwargs)


def stored_keys(inspector: Any, bucket: str) -> set[str]:
    listing = inspector.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/")
    return {obj["Key"] for obj in listing.get("Contents", [])}


def test_first_run_uploads_every_file_byte_for_byte(model_dir, bucket, s3, inspector):
    root, staged = model_dir

    result = run(root, bucket, s3)

    assert result.files_uploaded == 7
    assert result.files_skipped == 0
    assert result.bytes_uploaded == sum(len(data) for data in staged.values())
    assert result.manifest_written is True
    assert stored_keys(inspector, bucket) == keys(staged) | {f"{PREFIX}/.stage-manifest.json"}
    for relpath, data in staged.items():
        obj = inspector.get_object(Bucket=bucket, Key=f"{PREFIX}/{relpath}")
        assert obj["Body"].read() == data, relpath
        assert obj["Metadata"] == {"sha256": hashlib.sha256(data).hexdigest()}
    for relpath in NOT_STAGED:
        assert f"{PREFIX}/{relpath}" not in stored_keys(inspector, bucket)


def test_big_file_goes_multipart_in_parts_of_the_configured_size(model_dir, bucket, s3):
    root, _ = model_dir

    run(root, bucket, s3)

    writes = s3.call_log.writes()
    shard_key = f"{PREFIX}/{SHARD}"
    assert writes.count(("CreateMultipartUpload", shard_key)) == 1
    assert writes.count(("UploadPart", shard_key)) == -(-SHARD_SIZE // PART) == 3
    assert writes.count(("CompleteMultipartUpload", shard_key)) == 1
    assert ("PutObject", shard_key) not in writes
    assert writes.count(("PutObject", f"{PREFIX}/config.json")) == 1


def test_manifest_is_written_last_and_lists_every_file(model_dir, bucket, s3, inspector):
    root, staged = model_dir

    run(root, bucket, s3)

    manifest_key = f"{PREFIX}/.stage-manifest.json"
    events = s3.call_log.events
    manifest_start = events.index(("start", "PutObject", manifest_key))
    file_writes_done = [
        i
        for i, (phase, op, key) in enumerate(events)
        if phase == "done"
        and op in ("PutObject", "CompleteMultipartUpload")
        and key != manifest_key
    ]
    assert len(file_writes_done) == len(staged)  # 6 PutObject + 1 CompleteMultipartUpload
    assert max(file_writes_done) < manifest_start
    assert s3.call_log.writes()[-1] == ("PutObject", manifest_key)

    manifest = read_manifest(inspector, f"s3://{bucket}/{PREFIX}")
    assert manifest is not None
    assert manifest.source == str(root.resolve())
    assert manifest.revision is None
    assert {(e.path, e.key, e.size, e.sha256) for e in manifest.files} == {
        (rel, f"{PREFIX}/{rel}", len(data), hashlib.sha256(data).hexdigest())
        for rel, data in staged.items()
    }
    raw = json.loads(inspector.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    assert raw["total_bytes"] == sum(len(d) for d in staged.values())
    assert raw["format"] == 1


def test_second_run_with_unchanged_files_sends_no_put(model_dir, bucket, s3):
    root, staged = model_dir
    run(root, bucket, s3)
    s3.call_log.clear()

    result = run(root, bucket, s3)

    assert s3.call_log.writes() == []
    heads = [
        key for phase, op, key in s3.call_log.events if phase == "start" and op == "HeadObject"
    ]
    assert sorted(heads) == sorted(keys(staged))  # identity checked by HEAD, never by GET
    gets = [key for phase, op, key in s3.call_log.events if phase == "start" and op == "GetObject"]
    assert gets == [f"{PREFIX}/.stage-manifest.json"]
    assert (result.files_uploaded, result.files_skipped) == (0, 7)
    assert result.bytes_skipped == sum(len(d) for d in staged.values())
    assert result.manifest_written is False


def test_changed_file_of_same_size_is_reuploaded_alone(model_dir, bucket, s3, inspector):
    root, staged = model_dir
    run(root, bucket, s3)
    original = staged["config.json"]
    changed = original.replace(b"4096", b"8192")
    assert len(changed) == len(original)
    (root / "config.json").write_bytes(changed)
    s3.call_log.clear()

    result = run(root, bucket, s3)

    manifest_key = f"{PREFIX}/.stage-manifest.json"
    assert s3.call_log.writes() == [
        ("PutObject", f"{PREFIX}/config.json"),
        ("PutObject", manifest_key),
    ]
    assert result.uploaded_keys == (f"{PREFIX}/config.json",)
    assert (
        inspector.get_object(Bucket=bucket, Key=f"{PREFIX}/config.json")["Body"].read() == changed
    )
    manifest = read_manifest(inspector, f"s3://{bucket}/{PREFIX}")
    assert manifest is not None
    entry = next(e for e in manifest.files if e.path == "config.json")
    assert entry.sha256 == hashlib.sha256(changed).hexdigest()


def test_interrupted_run_resumes_with_only_the_missing_work(model_dir, bucket, s3, inspector):
    """A run that died before the manifest: the objects already there are not sent again."""
    root, staged = model_dir
    run(root, bucket, s3)
    inspector.delete_object(Bucket=bucket, Key=f"{PREFIX}/.stage-manifest.json")
    inspector.delete_object(Bucket=bucket, Key=f"{PREFIX}/tokenizer.json")
    # Same size, no sha256 metadata (as `aws s3 cp` leaves it): cannot be trusted, re-sent.
    inspector.put_object(Bucket=bucket, Key=f"{PREFIX}/config.json", Body=staged["config.json"])
    assert not is_complete(inspector, f"s3://{bucket}/{PREFIX}")
    s3.call_log.clear()

    result = run(root, bucket, s3)

    assert sorted(s3.call_log.writes()) == sorted(
        [
            ("PutObject", f"{PREFIX}/tokenizer.json"),
            ("PutObject", f"{PREFIX}/config.json"),
            ("PutObject", f"{PREFIX}/.stage-manifest.json"),
        ]
    )
    assert s3.call_log.writes()[-1] == ("PutObject", f"{PREFIX}/.stage-manifest.json")
    assert result.files_skipped == 5
    assert is_complete(inspector, f"s3://{bucket}/{PREFIX}")


def test_is_complete_checks_manifest_revision_and_every_object(model_dir, bucket, s3, inspector):
    root, staged = model_dir
    dest = f"s3://{bucket}/{PREFIX}"
    assert is_complete(inspector, dest) is False  # nothing there yet
    assert read_manifest(inspector, dest) is None

    run(root, bucket, s3)
    assert is_complete(inspector, dest) is True
    assert is_complete(inspector, dest, expected_revision="abc123") is False

    # Same size, other content, stale sha256 metadata: a reader must not trust the copy.
    tampered = bytes(reversed(staged["tokenizer.json"]))
    inspector.put_object(
        Bucket=bucket,
        Key=f"{PREFIX}/tokenizer.json",
        Body=tampered,
        Metadata={"sha256": hashlib.sha256(tampered).hexdigest()},
    )
    assert is_complete(inspector, dest) is False
    assert is_complete(inspector, dest, verify_objects=False) is True


def test_objects_not_in_the_source_are_reported_not_deleted(model_dir, bucket, s3, inspector):
    root, _ = model_dir
    inspector.put_object(Bucket=bucket, Key=f"{PREFIX}/model-00002-of-00002.safetensors", Body=b"x")

    result = run(root, bucket, s3)

    assert result.extra_keys == (f"{PREFIX}/model-00002-of-00002.safetensors",)
    assert f"{PREFIX}/model-00002-of-00002.safetensors" in stored_keys(inspector, bucket)


@pytest.mark.parametrize(
    ("largest", "expected"),
    [
        (0, 8 * MiB),
        (12 * MiB, 8 * MiB),
        (5 * 1024 * MiB, 8 * MiB),  # a 5 GiB shard: 640 parts
        (50 * 1024 * MiB, 52 * MiB),  # 50 GiB: ceil(51.2 MiB) -> 985 parts
    ],
)
def test_part_size_follows_the_largest_file(largest, expected):
    assert part_size_for(largest) == expected
    assert -(-largest // expected) <= 1000


def test_part_size_keeps_huge_files_within_s3_part_limit():
    size = part_size_for(2 * 1024**4)  # 2 TiB
    assert size % MiB == 0
    assert -(-2 * 1024**4 // size) <= 10_000


def test_explicit_part_size_is_checked_against_s3_limits():
    assert part_size_for(100 * MiB, 5 * MiB) == 5 * MiB
    with pytest.raises(ValueError, match="5 MiB to 5 GiB"):
        part_size_for(100 * MiB, 4 * MiB)
    with pytest.raises(ValueError, match="more than 10000 parts"):
        part_size_for(100 * 1024 * MiB, 5 * MiB)


def test_transfer_config_uses_part_size_as_threshold_and_the_concurrency_flag():
    config = transfer_config_for([1000, 5 * 1024 * MiB], concurrency=24)
    assert config.multipart_threshold == config.multipart_chunksize == 8 * MiB
    assert config.max_request_concurrency == 24
    with pytest.raises(ValueError, match="concurrency 0"):
        transfer_config_for([1], concurrency=0)


def test_manifest_from_a_later_writer_still_reads():
    from tools.in_cluster.stage_model.manifest import Manifest

    document = {
        "format": 2,
        "source": "hf:a/b@c",
        "repo_id": "a/b",
        "revision": "c",
        "bucket": "bkt",
        "prefix": "p",
        "created_at": "2026-01-01T00:00:00Z",
        "total_bytes": 3,
        "writer": "stage_model 2",
        "files": [{"path": "x.json", "key": "p/x.json", "size": 3, "sha256": "ab", "crc": "1"}],
    }
    manifest = Manifest.from_json(json.dumps(document).encode())
    assert manifest.format == 2
    assert manifest.total_bytes == 3
    assert [(e.key, e.sha256) for e in manifest.files] == [("p/x.json", "ab")]
