"""Sources: what is staged from a Hub snapshot or a directory, and how a source is named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tools.in_cluster.stage_model import read_manifest, stage
from tools.in_cluster.stage_model.sources import (
    ALLOW_PATTERNS,
    IGNORE_PATTERNS,
    HfSource,
    LocalSource,
    list_source_files,
    parse_source,
    wanted,
)

from .conftest import NOT_STAGED, SMALL_FILES

REPO = "meta-llama/Meta-Llama-3.1-8B-Instruct"
REV = "0e9e39f249a16976918f6564b8830bc894c89659"


class FakeHub:
    """Stand-in for huggingface_hub.snapshot_download: writes a snapshot into local_dir the way
    the real one does (with its .cache bookkeeping), including files the filters must drop."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        local_dir: Path = kwargs["local_dir"]
        for relpath, data in {
            **self.files,
            ".cache/huggingface/download/config.json.metadata": b"sha\netag\n1.0\n",
            ".gitattributes": b"*.safetensors filter=lfs\n",
        }.items():
            path = local_dir / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return str(local_dir)


@pytest.mark.parametrize(
    ("relpath", "staged"),
    [
        ("model-00001-of-00004.safetensors", True),
        ("model.safetensors.index.json", True),
        ("config.json", True),
        ("generation_config.json", True),
        ("tokenizer.json", True),
        ("tokenizer.model", True),
        ("original/tokenizer.model", True),
        ("original/params.json", True),
        ("merges.txt", True),
        ("vocab.txt", True),
        ("pytorch_model.bin", False),
        ("pytorch_model-00001-of-00002.bin", False),
        ("tf_model.h5", False),
        ("flax_model.msgpack", False),
        ("original/consolidated.00.pth", False),
        (".cache/huggingface/download/config.json.metadata", False),
        (".gitattributes", False),
        (".stage-manifest.json", False),
        ("README.md", False),
        ("LICENSE", False),
    ],
)
def test_only_files_a_server_needs_are_staged(relpath, staged):
    assert wanted(relpath) is staged


def test_parse_source():
    assert parse_source(f"hf:{REPO}@{REV}") == HfSource(repo_id=REPO, revision=REV)
    assert parse_source(f"hf:{REPO}") == HfSource(repo_id=REPO, revision="main")
    assert str(parse_source(f"hf:{REPO}@v1.0")) == f"hf:{REPO}@v1.0"
    assert parse_source("./models/llama") == LocalSource(path=Path("models/llama").resolve())
    with pytest.raises(ValueError, match="expected hf:<org>/<name>@<revision>"):
        parse_source("hf:not-a-repo-id@main")


def test_listing_is_sorted_and_filtered(model_dir):
    root, staged = model_dir
    listed = list_source_files(root)
    assert [f.relpath for f in listed] == sorted(staged)
    assert all(f.size == len(staged[f.relpath]) for f in listed)


def test_hub_snapshot_is_downloaded_then_staged(bucket, s3, inspector, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    hub = FakeHub({**SMALL_FILES, **NOT_STAGED, "model-00001-of-00001.safetensors": b"w" * 1000})
    staging_dir = tmp_path / "snapshot"

    result = stage(
        f"hf:{REPO}@{REV}",
        f"s3://{bucket}/models/llama",
        s3_client=s3,
        staging_dir=staging_dir,
        download=hub,
    )

    assert hub.calls == [
        {
            "repo_id": REPO,
            "revision": REV,
            "local_dir": staging_dir,
            "allow_patterns": ALLOW_PATTERNS,
            "ignore_patterns": IGNORE_PATTERNS,
            "token": "hf_test_token",
        }
    ]
    expected = sorted(
        f"models/llama/{p}" for p in [*SMALL_FILES, "model-00001-of-00001.safetensors"]
    )
    assert list(result.uploaded_keys) == expected
    manifest = read_manifest(inspector, f"s3://{bucket}/models/llama")
    assert manifest is not None
    assert (manifest.source, manifest.repo_id, manifest.revision) == (f"hf:{REPO}@{REV}", REPO, REV)


def test_hub_download_without_token_passes_none(bucket, s3, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    hub = FakeHub({"config.json": b"{}"})

    stage(f"hf:{REPO}@{REV}", f"s3://{bucket}/m", s3_client=s3, staging_dir=tmp_path, download=hub)

    assert hub.calls[0]["token"] is None


def test_source_without_servable_files_is_an_error(bucket, s3, tmp_path):
    from tools.in_cluster.stage_model import ExitCode, StageError

    (tmp_path / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(StageError) as caught:
        stage(str(tmp_path), f"s3://{bucket}/m", s3_client=s3)
    assert caught.value.code == ExitCode.NO_FILES
    assert caught.value.message == (
        f"{tmp_path}: no model files to stage (allowed: *.json, *.safetensors, *.model, "
        "*.tiktoken, *.txt)"
    )
    assert s3.call_log.writes() == []
