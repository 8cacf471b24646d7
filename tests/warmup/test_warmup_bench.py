"""Smoke test of bench/warmup_bench.py on a small model (numbers are not asserted)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench import warmup_bench

REPO = Path(__file__).resolve().parents[2]
LOCAL_ROWS = ["limit", "seed dd loop", "warmup.py", "warmup.py 1 range/file"]
GPU_ROWS = ["gpu load_file cold", "gpu load_file after warm-up", "gpu warm-up + load_file"]


def test_model_dims_scale_to_size() -> None:
    full = warmup_bench.model_dims(None)
    assert full == warmup_bench.LLAMA_31_8B
    tensors = warmup_bench.llama_tensors(**full)
    assert len(tensors) == 3 + 9 * 32
    total = sum(math.prod(s) * 2 for _, s in tensors)
    assert 16.0e9 < total < 16.1e9  # Llama-3.1-8B in bf16
    for size in (64 << 20, 1 << 30, 4 << 30):
        dims = warmup_bench.model_dims(size)
        got = sum(math.prod(s) * 2 for _, s in warmup_bench.llama_tensors(**dims))
        assert abs(got - size) / size < 0.02, (size, got, dims)


def test_generated_files_are_valid_safetensors(tmp_path: Path) -> None:
    safetensors = pytest.importorskip("safetensors")
    model = warmup_bench.ensure_model(tmp_path, 8 << 20, 2, lambda _m: None)
    shards = sorted(model.glob("*.safetensors"))
    assert len(shards) == 2
    index = json.loads((model / "model.safetensors.index.json").read_text())
    names: set[str] = set()
    for shard in shards:
        with safetensors.safe_open(str(shard), framework="np") as f:
            names.update(f.keys())
    assert names == set(index["weight_map"])
    assert "model.layers.31.mlp.down_proj.weight" in names
    # cached: a second call does not rewrite the files
    mtimes = [p.stat().st_mtime_ns for p in shards]
    assert warmup_bench.ensure_model(tmp_path, 8 << 20, 2, lambda _m: None) == model
    assert [p.stat().st_mtime_ns for p in shards] == mtimes


def test_bench_small_run(tmp_path: Path) -> None:
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
            "--max-seconds=150",
            "--no-drop-caches",
        ],
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    rows = {(r["fs"], r["name"]): r for r in doc["rows"]}
    skipped = doc["skipped"]

    def check(fs: str, names: list[str]) -> None:
        for name in names:
            row = rows[(fs, name)]
            assert row["bytes"] > 0 and row["seconds"] > 0 and row["gbps"] > 0, row
            assert row["ratio"] > 0, row
            assert f"{fs:7s} {name}" in proc.stdout  # in the printed table

    check("local", LOCAL_ROWS)
    assert rows[("local", "seed dd loop")]["bytes"] == rows[("local", "warmup.py")]["bytes"]
    fuse_skip = [s for s in skipped if s.startswith("slowfs: skipped: ")]
    if fuse_skip:
        assert fuse_skip[0] in proc.stdout
        assert not any(fs == "slowfs" for fs, _ in rows)
    else:
        check("slowfs", LOCAL_ROWS)
        # the emulation served every byte of the cold runs
        for name in LOCAL_ROWS:
            row = rows[("slowfs", name)]
            assert row["extra"]["fuse_backend_bytes"][0] >= row["bytes"]
    gpu_skip = [s for s in skipped if s.startswith("gpu: skipped: ")]
    if gpu_skip:
        assert gpu_skip[0] in proc.stdout
    else:
        check("local", GPU_ROWS)
    # nothing left mounted
    mounts = Path("/proc/mounts").read_text() if Path("/proc/mounts").exists() else ""
    assert "slowfs" not in mounts
