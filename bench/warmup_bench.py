"""Warm-up benchmark: the seed's ``dd`` loop vs ``tools/in_cluster/warmup.py``, on disk and on
slow FUSE.

Generates (once, cached in ``--cache-dir``) a Llama-3.1-8B-shaped safetensors model: the
same tensor names and 32 layers, bf16, dimensions scaled so that the shards add up to
``--size`` (``--size llama`` = the real shapes, 16.06 GB in 4 shards). Then, with the page
cache evicted before every run (``posix_fadvise(DONTNEED)`` on every file, plus
``echo 3 > /proc/sys/vm/drop_caches`` where writable), it measures on each file system:

1. ``limit``: ``dd if=<biggest shard> of=/dev/null bs=16M iflag=direct`` - one sequential
   stream, no page cache: the file system's sequential read limit;
2. ``seed dd loop``: the seed ClusterServingRuntime's bash warm-up, verbatim (``dd bs=4M``
   per file, at most 16 at once, ``wait -n``), without the final server start;
3. ``warmup.py``: ``python3 tools/in_cluster/warmup.py`` with its defaults (or ``--block-size``
   etc.);
4. ``warmup.py 1 range/file``: the same with ``WARMUP_RANGE_SIZE=0`` (one stream per file,
   shows what splitting files into ranges buys);
5. with PyTorch and CUDA: ``safetensors.torch.load_file(shard, device="cuda")`` for every
   shard, cold, and after the warm-up (load alone, and warm-up + load).

6. on ``s3``, the same files served by ``bench/s3emu.py``, an S3-compatible server on 127.0.0.1
   with slowfs's cost model (``--latency-ms`` per request, ``--stream-mbps`` per connection):
   ``limit`` is one GET of the biggest file on one connection; ``runai streamer`` loads every
   shard as vLLM's ``runai_streamer`` load format does (``bench/stream_load.py``, concurrency
   ``--stream-concurrency``, default 32 as the stack's stream InferenceService) to the CPU and,
   with CUDA, on to the GPU. Its rows sit beside slowfs's warm-up rows of the same run.

File systems: ``local`` (the cache dir's disk) and ``slowfs``, a passthrough FUSE mount of
the same files (``bench/slowfs.py``) that emulates the remote Fluid/JindoFS cache: a fixed
latency per FUSE read request and a bandwidth cap per open file (``--latency-ms``,
``--stream-mbps``), mounted with ``kernel_cache`` like Jindo. Its backing files are kept in
the page cache (the emulated remote cache is warm) and only the FUSE side is evicted; the
FUSE server's own counters check that every byte of a cold run went through it. Where FUSE
cannot be mounted the slowfs rows are replaced by one line ``slowfs: skipped: <reason>``; where the
streamer (runai-model-streamer, PyTorch) is missing, ``s3: skipped: <reason>``.

Prints a table (row, bytes, seconds, GB/s, ratio to the ``limit`` row of the same file
system); ``--json PATH`` writes the same as JSON. Bounded by ``--max-seconds``.

    python bench/warmup_bench.py --size 4GiB --shards 4 --cache-dir /var/tmp/warmup-bench
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import s3emu, slowfs, stream_load  # noqa: E402
from tools.in_cluster import warmup  # noqa: E402

WARMUP_SCRIPT = REPO / "tools" / "in_cluster" / "warmup.py"
STREAM_SCRIPT = REPO / "bench" / "stream_load.py"
STREAM_CONCURRENCY = 32
"""The stack's stream InferenceService setting (components/serving/manifests.py; a test checks
they agree: this script runs where the project's packages may not be installed)."""
S3_BUCKET = "models"
GB = 1e9
GIB = 1024**3

# The seed's warm-up (kserve docs/samples/fluid/kserve-huggingfaceserver.yaml), verbatim up
# to the server start, which is left out.
SEED_SCRIPT = r"""set -e
TARGET_DIR="${TARGET_DIR:-/mnt/models}"
MAX_JOBS="${MAX_JOBS:-16}"
BLOCK_SIZE="${BLOCK_SIZE:-4M}"
echo "Warming up data in directory: $TARGET_DIR with max jobs: $MAX_JOBS and block size: $BLOCK_SIZE"
start_time=$(date +%s)
count=0
for file in $(find "$TARGET_DIR" -type f); do
  dd if="$file" of=/dev/null bs="$BLOCK_SIZE" &
  count=$((count + 1))
  if (( count >= MAX_JOBS )); then
    wait -n
    count=$((count - 1))
  fi
done
wait
end_time=$(date +%s)
elapsed_time=$((end_time - start_time))
echo "Data warmup completed in $elapsed_time seconds"
"""  # noqa: E501 (verbatim)

# --------------------------------------------------------------------------- model files

LLAMA_31_8B = {"vocab": 128256, "hidden": 4096, "inter": 14336, "kv": 1024, "layers": 32}
BF16 = 2


def llama_tensors(
    vocab: int, hidden: int, inter: int, kv: int, layers: int
) -> list[tuple[str, tuple[int, ...]]]:
    """Tensor names and shapes of a Llama-3.1 checkpoint, in checkpoint order."""
    out: list[tuple[str, tuple[int, ...]]] = [("model.embed_tokens.weight", (vocab, hidden))]
    for i in range(layers):
        p = f"model.layers.{i}."
        out += [
            (p + "input_layernorm.weight", (hidden,)),
            (p + "self_attn.q_proj.weight", (hidden, hidden)),
            (p + "self_attn.k_proj.weight", (kv, hidden)),
            (p + "self_attn.v_proj.weight", (kv, hidden)),
            (p + "self_attn.o_proj.weight", (hidden, hidden)),
            (p + "post_attention_layernorm.weight", (hidden,)),
            (p + "mlp.gate_proj.weight", (inter, hidden)),
            (p + "mlp.up_proj.weight", (inter, hidden)),
            (p + "mlp.down_proj.weight", (hidden, inter)),
        ]
    out += [("model.norm.weight", (hidden,)), ("lm_head.weight", (vocab, hidden))]
    return out


def _nbytes(shape: Sequence[int]) -> int:
    return math.prod(shape) * BF16


def model_dims(total_bytes: int | None) -> dict[str, int]:
    """Llama-3.1-8B dimensions scaled so the tensors add up to about ``total_bytes``."""
    if total_bytes is None:
        return dict(LLAMA_31_8B)
    full = sum(_nbytes(s) for _, s in llama_tensors(**LLAMA_31_8B))
    f = math.sqrt(total_bytes / full)
    hidden = max(64, round(4096 * f / 64) * 64)
    inter = max(64, round(14336 * f / 64) * 64)
    kv = max(16, hidden // 4)
    layers = LLAMA_31_8B["layers"]
    body = sum(_nbytes(s) for _, s in llama_tensors(0, hidden, inter, kv, layers))
    vocab = max(256, round((total_bytes - body) / (2 * hidden * BF16) / 8) * 8)
    return {"vocab": vocab, "hidden": hidden, "inter": inter, "kv": kv, "layers": layers}


def _tile() -> bytes:
    """8 MiB of bf16 N(0, 0.02) values: cheap, non-zero, valid numbers."""
    import numpy as np

    rng = np.random.default_rng(0)
    f32 = (rng.standard_normal(4 * 1024 * 1024, dtype=np.float32) * 0.02).astype(np.float32)
    bf16 = (f32.view(np.uint32) >> 16).astype(np.uint16)
    bf16[bf16 == 0] = 0x3C00  # no zeros
    return bf16.tobytes()


def _write_safetensors(path: Path, tensors: list[tuple[str, tuple[int, ...]]], tile: bytes) -> int:
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in tensors:
        n = _nbytes(shape)
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    tmp = path.with_suffix(".tmp")
    view = memoryview(tile)
    with open(tmp, "wb") as f:
        f.write(len(raw).to_bytes(8, "little"))
        f.write(raw)
        left = offset
        pos = 0
        while left > 0:
            n = min(left, len(tile) - pos)
            f.write(view[pos : pos + n])
            left -= n
            pos = (pos + n) % len(tile) or 7 * 512  # shift the tile a little per lap
        f.flush()
        os.fsync(f.fileno())
    tmp.rename(path)
    return path.stat().st_size


def ensure_model(
    cache_dir: Path, size: int | None, shards: int, log: Callable[[str], None]
) -> Path:
    """Generate the model (cached across runs; regenerated if the manifest differs)."""
    dims = model_dims(size)
    key = "llama31-8b" if size is None else f"llama31-8b-shaped-{size}"
    model_dir = cache_dir / f"{key}-{shards}shards"
    manifest_path = cache_dir / f"{model_dir.name}.manifest.json"  # outside: not warmed
    want = {"dims": dims, "shards": shards, "version": 1}
    if manifest_path.exists():
        try:
            have = json.loads(manifest_path.read_text())
            have_files = have.get("files", {})
            if have.get("spec") == want and all(
                (model_dir / n).stat().st_size == s for n, s in have_files.items()
            ):
                return model_dir
        except (OSError, ValueError):
            pass
    if model_dir.exists():
        shutil.rmtree(model_dir)
    model_dir.mkdir(parents=True)
    tensors = llama_tensors(**dims)
    total = sum(_nbytes(s) for _, s in tensors)
    per_shard = math.ceil(total / shards)
    groups: list[list[tuple[str, tuple[int, ...]]]] = [[] for _ in range(shards)]
    pos = 0
    for name, shape in tensors:
        groups[min(shards - 1, pos // per_shard)].append((name, shape))
        pos += _nbytes(shape)
    groups = [g for g in groups if g]
    log(f"generating {total / GB:.2f} GB in {len(groups)} shards under {model_dir} ...")
    t0 = time.monotonic()
    tile = _tile()
    files: dict[str, int] = {}
    weight_map: dict[str, str] = {}
    for i, group in enumerate(groups, 1):
        name = f"model-{i:05d}-of-{len(groups):05d}.safetensors"
        files[name] = _write_safetensors(model_dir / name, group, tile)
        weight_map.update({t: name for t, _ in group})
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (model_dir / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": dims["hidden"],
        "intermediate_size": dims["inter"],
        "num_hidden_layers": dims["layers"],
        "num_attention_heads": max(1, dims["hidden"] // 128),
        "num_key_value_heads": max(1, dims["kv"] // 128),
        "vocab_size": dims["vocab"],
        "torch_dtype": "bfloat16",
    }
    (model_dir / "config.json").write_text(json.dumps(config, indent=2))
    for extra in ("model.safetensors.index.json", "config.json"):
        files[extra] = (model_dir / extra).stat().st_size
    manifest_path.write_text(json.dumps({"spec": want, "files": files}, indent=2))
    log(f"generated in {time.monotonic() - t0:.1f} s")
    return model_dir


def model_files(model_dir: Path) -> list[Path]:
    """Files a warm-up reads."""
    return sorted(p for p in model_dir.iterdir() if p.is_file())


# --------------------------------------------------------------------------- cache control


def _drop_caches_possible() -> bool:
    path = "/proc/sys/vm/drop_caches"
    if not os.path.exists(path) or not os.access(path, os.W_OK):
        return False
    try:
        with open(path, "w") as f:
            f.write("1")
    except OSError:
        return False
    return True


def evict(paths: Sequence[Path], drop_caches: bool) -> None:
    """Evict files from the page cache (fadvise DONTNEED on each, then drop_caches)."""
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    if drop_caches:
        os.sync()
        with contextlib.suppress(OSError), open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3")


def _mem_available() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# --------------------------------------------------------------------------- runs


class BenchTimeout(RuntimeError):
    pass


@dataclass
class Row:
    fs: str
    name: str
    bytes: int
    seconds: float
    gbps: float = 0.0
    ratio: float | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Ctx:
    files: list[Path]
    biggest: Path
    deadline: float
    drop_caches: bool
    warmup_env: dict[str, str]
    repeat: int
    log: Callable[[str], None]
    mount: slowfs.SlowMount | None = None

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 1:
            raise BenchTimeout("benchmark time limit (--max-seconds) reached")
        return left

    def evict(self) -> None:
        evict(self.files, self.drop_caches)

    def run(self, cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
        full_env = dict(os.environ)
        full_env.update(env or {})
        t0 = time.monotonic()
        try:
            proc = subprocess.run(
                cmd,
                env=full_env,
                capture_output=True,
                text=True,
                timeout=self.remaining(),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BenchTimeout(f"timed out: {' '.join(cmd[:3])} ...") from None
        seconds = time.monotonic() - t0
        out = proc.stdout + proc.stderr
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:4])} ... exited {proc.returncode}: {out[-500:]}")
        return seconds, out


def _backend(ctx: Ctx) -> int | None:
    return int(ctx.mount.stats()["bytes"]) if ctx.mount is not None else None


def measure_limit(ctx: Ctx) -> tuple[int, float, str]:
    ctx.evict()
    cmd = ["dd", f"if={ctx.biggest}", "of=/dev/null", "bs=16M", "iflag=direct"]
    try:
        wall, out = ctx.run(cmd)
        note = "dd bs=16M iflag=direct, biggest file"
    except RuntimeError as exc:
        if "Invalid argument" not in str(exc):
            raise
        ctx.evict()  # no O_DIRECT here (tmpfs): cold buffered read instead
        wall, out = ctx.run(cmd[:-1])
        note = "no O_DIRECT on this fs: buffered"
    m = re.search(r"^(\d+) bytes .* copied, ([\d.e+-]+) s", out, re.MULTILINE)
    if m and float(m.group(2)) > 0:
        return int(m.group(1)), float(m.group(2)), note
    return ctx.biggest.stat().st_size, wall, note


def measure_seed(ctx: Ctx, target: Path) -> tuple[int, float, str]:
    ctx.evict()
    wall, _ = ctx.run(["bash", "-c", SEED_SCRIPT], {"TARGET_DIR": str(target)})
    return sum(p.stat().st_size for p in ctx.files), wall, "bs=4M, <=16 parallel"


def _run_warmup(ctx: Ctx, target: Path, env: dict[str, str]) -> tuple[int, float, str]:
    full = {k: v for k, v in ctx.warmup_env.items()}
    full.update(env)
    full["WARMUP_DIR"] = str(target)
    full["WARMUP_PROGRESS_INTERVAL"] = "0"
    wall, out = ctx.run([sys.executable, str(WARMUP_SCRIPT)], full)
    done = [ln for ln in out.splitlines() if " event=done " in ln]
    if not done:
        raise RuntimeError(f"warmup.py printed no done line: {out[-500:]}")
    m = re.search(r" bytes=(\d+) ", done[-1])
    start = [ln for ln in out.splitlines() if " event=start " in ln]
    settings = ""
    if start:
        keys = ("concurrency", "block_size", "range_size", "ranges")
        found = [re.search(rf" {k}=(\S+)", start[0]) for k in keys]
        settings = " ".join(f"{k}={f.group(1)}" for k, f in zip(keys, found, strict=True) if f)
    return int(m.group(1)) if m else 0, wall, settings


def measure_warmup(ctx: Ctx, target: Path, env: dict[str, str]) -> tuple[int, float, str]:
    ctx.evict()
    return _run_warmup(ctx, target, env)


def gpu_unavailable_reason() -> str | None:
    try:
        import torch
    except Exception as exc:
        return f"PyTorch not importable ({type(exc).__name__}: {exc})"
    try:
        if not torch.cuda.is_available():
            return "PyTorch has no CUDA device"
    except Exception as exc:
        return f"CUDA check failed: {exc}"
    try:
        import safetensors.torch  # noqa: F401
    except Exception as exc:
        return f"safetensors.torch not importable: {exc}"
    return None


def gpu_load(shards: Sequence[Path]) -> tuple[int, float]:
    import torch
    from safetensors.torch import load_file

    torch.cuda.synchronize()
    t0 = time.monotonic()
    total = 0
    for shard in shards:
        tensors = load_file(str(shard), device="cuda")
        torch.cuda.synchronize()
        total += sum(t.numel() * t.element_size() for t in tensors.values())
        del tensors
    seconds = time.monotonic() - t0
    torch.cuda.empty_cache()
    return total, seconds


# --------------------------------------------------------------------------- driver


def _median_run(
    ctx: Ctx, fn: Callable[[], tuple[int, float, str]]
) -> tuple[int, float, str, list[float], list[int | None]]:
    runs: list[tuple[int, float, str]] = []
    backend: list[int | None] = []
    for _ in range(ctx.repeat):
        before = _backend(ctx)
        runs.append(fn())
        after = _backend(ctx)
        backend.append(after - before if after is not None and before is not None else None)
    secs = [r[1] for r in runs]
    med = statistics.median(secs)
    best = min(runs, key=lambda r: abs(r[1] - med))
    return best[0], med, best[2], secs, backend


ROW_KEYS = ("limit", "seed", "warmup", "warmup-1range", "gpu", "stream")


def bench_fs(
    ctx: Ctx, fs: str, target: Path, gpu_reason: str | None, selected: Sequence[str] = ROW_KEYS
) -> list[Row]:
    rows: list[Row] = []
    limit_gbps: float | None = None

    def add(name: str, nbytes: int, seconds: float, note: str, extra: dict[str, Any]) -> None:
        nonlocal limit_gbps
        gbps = nbytes / seconds / GB if seconds > 0 else 0.0
        if limit_gbps is None and name == "limit":
            limit_gbps = gbps
        ratio = gbps / limit_gbps if limit_gbps else None
        row = Row(fs, name, nbytes, seconds, gbps, ratio, note, extra)
        rows.append(row)
        ctx.log(f"  {fs:7s} {name:30s} {seconds:8.2f} s {gbps:7.3f} GB/s  {note}")

    target_files = [target / p.name for p in ctx.files]
    biggest = target / ctx.biggest.name
    sub = Ctx(
        target_files,
        biggest,
        ctx.deadline,
        ctx.drop_caches and fs == "local",
        ctx.warmup_env,
        ctx.repeat,
        ctx.log,
        ctx.mount,
    )
    measures: list[tuple[str, str, Callable[[], tuple[int, float, str]]]] = [
        ("limit", "limit", lambda: measure_limit(sub)),
        ("seed", "seed dd loop", lambda: measure_seed(sub, target)),
        ("warmup", "warmup.py", lambda: measure_warmup(sub, target, {})),
        (
            "warmup-1range",
            "warmup.py 1 range/file",
            lambda: measure_warmup(sub, target, {"WARMUP_RANGE_SIZE": "0"}),
        ),
    ]
    for key, name, fn in measures:
        if key not in selected:
            continue
        nbytes, seconds, note, secs, backend = _median_run(sub, fn)
        extra: dict[str, Any] = {"runs_s": secs}
        if sub.mount is not None:
            extra["fuse_backend_bytes"] = backend
            if any(b is not None and b < 0.99 * nbytes for b in backend):
                note = (note + "; " if note else "") + "WARNING: page-cache hits, not all via FUSE"
        add(name, nbytes, seconds, note, extra)

    if gpu_reason is not None or "gpu" not in selected:
        return rows
    shards = [p for p in target_files if p.suffix == ".safetensors"]
    cold: list[tuple[int, float]] = []
    after: list[tuple[int, float, float]] = []
    for _ in range(ctx.repeat):
        sub.remaining()
        sub.evict()
        cold.append(gpu_load(shards))
        sub.evict()
        _, warm_s, _ = _run_warmup(sub, target, {})
        nbytes, load_s = gpu_load(shards)
        after.append((nbytes, load_s, warm_s))
    c = sorted(cold, key=lambda r: r[1])[len(cold) // 2]
    a = sorted(after, key=lambda r: r[1] + r[2])[len(after) // 2]
    add("gpu load_file cold", c[0], c[1], "safetensors.torch.load_file(device='cuda')", {})
    add("gpu load_file after warm-up", a[0], a[1], "load only", {"warmup_s": a[2]})
    add("gpu warm-up + load_file", a[0], a[1] + a[2], "warmup.py then load", {})
    return rows


def s3_limit(endpoint: str, key: str) -> tuple[int, float]:
    """One GET of the whole object on one connection: the emulation's single-stream limit."""
    import urllib.request

    start = time.monotonic()
    total = 0
    with urllib.request.urlopen(f"{endpoint}/{S3_BUCKET}/{key}", timeout=3600) as response:
        while chunk := response.read(16 << 20):
            total += len(chunk)
    return total, time.monotonic() - start


def stream_run(ctx: Ctx, endpoint: str, keys: Sequence[str], device: str, concurrency: int) -> dict:
    """bench/stream_load.py in a fresh process (the streamer reads its settings at start)."""
    cmd = [sys.executable, str(STREAM_SCRIPT), "--endpoint", endpoint, "--bucket", S3_BUCKET]
    cmd += ["--device", device, "--concurrency", str(concurrency), *keys]
    _, out = ctx.run(cmd)
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"stream_load.py printed no result: {out[-500:]}")
    return dict(json.loads(lines[-1]))


def bench_s3(
    ctx: Ctx,
    emulation: s3emu.S3Emulation,
    gpu_reason: str | None,
    concurrency: int,
    selected: Sequence[str] = ROW_KEYS,
    failures: list[str] | None = None,
) -> list[Row]:
    """The S3 emulation's rows: its single-connection limit, then the streamer to CPU and GPU.
    A streamer run that fails adds a line to `failures` instead of a row."""
    failures = [] if failures is None else failures
    rows: list[Row] = []
    keys = [p.name for p in ctx.files if p.suffix == ".safetensors"]
    cap = concurrency * emulation.stream_mbps * 1e6 / GB if emulation.stream_mbps else 0.0

    def served() -> int:
        return int(emulation.stats()["bytes"])

    def add(name: str, nbytes: int, seconds: float, note: str, extra: dict[str, Any]) -> None:
        gbps = nbytes / seconds / GB if seconds > 0 else 0.0
        limit = rows[0].gbps if rows else gbps
        row = Row("s3", name, nbytes, seconds, gbps, gbps / limit if limit else None, note, extra)
        rows.append(row)
        ctx.log(f"  s3      {name:30s} {seconds:8.2f} s {gbps:7.3f} GB/s  {note}")

    before = served()
    nbytes, seconds = s3_limit(emulation.endpoint, ctx.biggest.name)
    add("limit", nbytes, seconds, "one GET, one connection, biggest file",
        {"server_bytes": served() - before})  # fmt: skip
    devices = ["cpu"] if gpu_reason is not None or "gpu" not in selected else ["cpu", "cuda"]
    for device in devices:
        runs: list[dict[str, Any]] = []
        backend: list[int] = []
        try:
            for _ in range(ctx.repeat):
                ctx.remaining()
                before = served()
                runs.append(stream_run(ctx, emulation.endpoint, keys, device, concurrency))
                backend.append(served() - before)
        except RuntimeError as exc:  # the streamer failed: say so, keep the other rows
            last = (str(exc).strip().splitlines() or ["?"])[-1]
            failures.append(f"s3: runai streamer -> {device} failed: {last}")
            ctx.log(failures[-1])
            continue
        secs = [r["seconds"] for r in runs]
        med = statistics.median(secs)
        best = min(runs, key=lambda r: abs(r["seconds"] - med))
        note = f"runai streamer, concurrency {concurrency}, to {device}"
        if cap:
            note += f"; cap {concurrency} x {emulation.stream_mbps:g} MB/s = {cap:.2f} GB/s"
        if any(b < 0.99 * best["bytes"] for b in backend):
            note += "; WARNING: fewer bytes served than loaded"
        name = "runai streamer -> cpu" if device == "cpu" else "runai streamer -> gpu"
        add(name, int(best["bytes"]), med, note,
            {"runs_s": secs, "server_bytes": backend, "tensors": best["tensors"],
             "cap_gbps": cap})  # fmt: skip
    return rows


def format_table(rows: Sequence[Row], skipped: Sequence[str]) -> str:
    head = (
        f"{'fs':7s} {'row':28s} {'bytes':>14s} {'seconds':>9s} {'GB/s':>8s} {'x limit':>8s}  note"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        ratio = f"{r.ratio:8.2f}" if r.ratio is not None else f"{'-':>8s}"
        lines.append(
            f"{r.fs:7s} {r.name:28s} {r.bytes:14d} {r.seconds:9.3f} {r.gbps:8.3f} {ratio}  {r.note}"
        )
    lines += list(skipped)
    return "\n".join(lines)


def _parse_size_arg(text: str) -> int | None:
    if text.strip().lower() in ("llama", "full", "real"):
        return None
    try:
        value = warmup.parse_size(text)
    except ValueError:
        msg = f"not a size: {text!r} (e.g. 4GiB, 64MiB, llama)"
        raise argparse.ArgumentTypeError(msg) from None
    if value < 1024 * 1024:
        raise argparse.ArgumentTypeError("--size must be at least 1MiB")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(
            "Benchmark the model-cache warm-up (seed dd loop vs tools/in_cluster/warmup.py)."
        ),
    )
    parser.add_argument(
        "--size",
        type=_parse_size_arg,
        default=None,
        help="total model size, e.g. 4GiB; 'llama' (default) = real Llama-3.1-8B, 16.06 GB",
    )
    parser.add_argument("--shards", type=int, default=4, help="safetensors shards (default 4)")
    default_cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "warmup-bench"
    parser.add_argument("--cache-dir", type=Path, default=default_cache, help="generated files")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--fuse", choices=("auto", "on", "off"), default="auto")
    parser.add_argument("--skip-local", action="store_true", help="only the slowfs rows")
    parser.add_argument("--latency-ms", type=float, default=2.0, help="slowfs per-request latency")
    parser.add_argument("--stream-mbps", type=float, default=200.0, help="slowfs MB/s per handle")
    parser.add_argument("--fuse-max-background", type=int, default=0, help="0: kernel default")
    parser.add_argument("--block-size", help="WARMUP_BLOCK_SIZE for warmup.py rows")
    parser.add_argument("--concurrency", help="WARMUP_CONCURRENCY for warmup.py rows")
    parser.add_argument("--range-size", help="WARMUP_RANGE_SIZE for the warmup.py row")
    parser.add_argument("--gpu", choices=("auto", "off"), default="auto")
    parser.add_argument("--s3", choices=("auto", "off"), default="auto", help="s3 emulation rows")
    parser.add_argument(
        "--stream-concurrency",
        type=int,
        default=STREAM_CONCURRENCY,
        help=f"streamer connections (default {STREAM_CONCURRENCY}, as the stack)",
    )
    parser.add_argument(
        "--no-drop-caches",
        action="store_true",
        help="evict with fadvise only (drop_caches is global: it also hits other workloads)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per row (median)")
    parser.add_argument(
        "--rows",
        default=",".join(ROW_KEYS),
        help=f"comma-separated subset of {','.join(ROW_KEYS)} (default: all)",
    )
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="overall time bound")
    args = parser.parse_args(argv)
    if args.shards < 1 or args.repeat < 1:
        parser.error("--shards and --repeat must be >= 1")
    selected = [k.strip() for k in args.rows.split(",") if k.strip()]
    if not selected or any(k not in ROW_KEYS for k in selected):
        parser.error(f"--rows: choose from {','.join(ROW_KEYS)}")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    started = time.monotonic()
    deadline = started + args.max_seconds
    model_dir = ensure_model(args.cache_dir, args.size, args.shards, log)
    files = model_files(model_dir)
    biggest = max(files, key=lambda p: p.stat().st_size)
    total = sum(p.stat().st_size for p in files)
    warmup_env = {
        k: v
        for k, v in (
            ("WARMUP_BLOCK_SIZE", args.block_size),
            ("WARMUP_CONCURRENCY", args.concurrency),
            ("WARMUP_RANGE_SIZE", args.range_size),
        )
        if v
    }
    drop = not args.no_drop_caches and _drop_caches_possible()
    skipped: list[str] = []
    gpu_reason = "disabled (--gpu off)" if args.gpu == "off" else gpu_unavailable_reason()
    if "gpu" not in selected:
        gpu_reason = "not selected (--rows)"
    if gpu_reason:
        skipped.append(f"gpu: skipped: {gpu_reason}")
    ctx = Ctx(files, biggest, deadline, drop, warmup_env, args.repeat, log)
    rows: list[Row] = []
    errors: list[str] = []
    fuse_stats: dict[str, Any] = {}
    s3_stats: dict[str, Any] = {}
    log(
        f"model {model_dir}: {len(files)} files, {total / GB:.2f} GB, biggest {biggest.name}; "
        f"drop_caches={'yes' if drop else 'no (fadvise only)'}"
    )
    try:
        if not args.skip_local:
            rows += bench_fs(ctx, "local", model_dir, gpu_reason, selected)
        fuse_reason = "disabled (--fuse off)" if args.fuse == "off" else slowfs.unavailable_reason()
        if fuse_reason is None:
            with tempfile.TemporaryDirectory(prefix="slowfs-") as tmp:
                mount = slowfs.SlowMount(
                    model_dir,
                    Path(tmp) / "mnt",
                    latency_ms=args.latency_ms,
                    stream_mbps=args.stream_mbps,
                    max_background=args.fuse_max_background,
                )
                try:
                    mount.mount()
                except slowfs.SlowFSError as exc:
                    fuse_reason = str(exc)
                else:
                    try:
                        # the emulated remote cache is warm: keep the backing files cached
                        if _mem_available() > 2 * total + 2 * GIB:
                            warmup.warm(str(model_dir), 8 << 20, 8, 256 << 20)
                            backing = "backing files in page cache"
                        else:
                            backing = "backing files NOT cached (not enough memory)"
                        log(
                            f"slowfs mounted at {mount.mountpoint}: latency {args.latency_ms} ms"
                            f"/request, {args.stream_mbps} MB/s per open file; {backing}"
                        )
                        ctx.mount = mount
                        rows += bench_fs(
                            ctx, "slowfs", Path(mount.mountpoint), gpu_reason, selected
                        )
                    finally:
                        ctx.mount = None
                        with contextlib.suppress(Exception):
                            fuse_stats = mount.stats()
                        mount.unmount()
        if fuse_reason is not None:
            skipped.append(f"slowfs: skipped: {fuse_reason}")
        s3_reason = "disabled (--s3 off)" if args.s3 == "off" else stream_load.unavailable_reason()
        if "stream" not in selected:
            s3_reason = "not selected (--rows)"
        if s3_reason is None:
            with s3emu.S3Emulation(
                model_dir, latency_ms=args.latency_ms, stream_mbps=args.stream_mbps
            ) as emulation:
                log(
                    f"s3 emulation at {emulation.endpoint}: latency {args.latency_ms} ms/request, "
                    f"{args.stream_mbps} MB/s per connection"
                )
                failed: list[str] = []
                rows += bench_s3(
                    ctx, emulation, gpu_reason, args.stream_concurrency, selected, failed
                )
                skipped += failed
                errors += failed
                s3_stats = emulation.stats()
        else:
            skipped.append(f"s3: skipped: {s3_reason}")
    except BenchTimeout as exc:
        errors.append(str(exc))
        skipped.append(f"stopped: {exc}")

    print(
        f"warm-up benchmark: {total} bytes ({total / GB:.2f} GB) in {len(files)} files "
        f"({args.shards} safetensors shards), page cache evicted before each run "
        f"({'fadvise+drop_caches' if drop else 'fadvise'}); slowfs: {args.latency_ms} ms/request, "
        f"{args.stream_mbps} MB/s per open file; s3: the same per request and per connection"
    )
    print(format_table(rows, skipped))
    if args.json:
        doc = {
            "config": {
                "model_dir": str(model_dir),
                "bytes": total,
                "files": len(files),
                "shards": args.shards,
                "dims": model_dims(args.size),
                "drop_caches": drop,
                "slowfs": {
                    "latency_ms": args.latency_ms,
                    "stream_mbps": args.stream_mbps,
                    "max_background": args.fuse_max_background,
                    "server_counters": fuse_stats,
                },
                "s3": {
                    "latency_ms": args.latency_ms,
                    "stream_mbps": args.stream_mbps,
                    "concurrency": args.stream_concurrency,
                    "server_counters": s3_stats,
                },
                "warmup_env": warmup_env,
                "repeat": args.repeat,
                "seconds": time.monotonic() - started,
            },
            "rows": [asdict(r) for r in rows],
            "skipped": skipped,
            "errors": errors,
        }
        args.json.write_text(json.dumps(doc, indent=2))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
