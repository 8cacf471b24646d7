"""Benchmark: ``tools.in_cluster.stage_model`` against ``aws s3 cp --recursive`` on the same
model-shaped data, uploaded to a local moto S3 server that this script starts and stops.

    python bench/stage_bench.py --gib 1

Both tools run as separate processes with the same request concurrency and part size, into
different prefixes of one bucket, for --rounds rounds (alternating which goes first); medians
are printed. A second staging run per round (nothing changed) shows the cost of the idempotent
re-run. moto keeps objects in memory: about 2 x --gib per round, freed after each round.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.local_aws import moto_server  # noqa: E402 - needs ROOT on sys.path when run as a script

MiB = 1024 * 1024
GiB = 1024 * MiB
BUCKET = "stage-bench"
SMALL_FILES = {
    "config.json": {"architectures": ["LlamaForCausalLM"], "hidden_size": 4096},
    "generation_config.json": {"temperature": 0.6, "top_p": 0.9},
    "tokenizer_config.json": {"bos_token": "<|begin_of_text|>"},
    "special_tokens_map.json": {"bos_token": "<|begin_of_text|>"},
}


def write_model(root: Path, total: int, shards: int) -> int:
    """``shards`` safetensors files of random bytes summing to ``total``, plus small json
    files and a weight index. Returns the bytes written."""
    root.mkdir(parents=True, exist_ok=True)
    shard_size = total // shards
    names = [f"model-{i:05d}-of-{shards:05d}.safetensors" for i in range(1, shards + 1)]
    block = 64 * MiB
    for name in names:
        with (root / name).open("wb") as handle:
            left = shard_size
            while left > 0:
                handle.write(os.urandom(min(block, left)))
                left -= block
    index = {"weight_map": {f"layer.{i}.weight": name for i, name in enumerate(names)}}
    for name, document in {**SMALL_FILES, "model.safetensors.index.json": index}.items():
        (root / name).write_text(json.dumps(document))
    return sum(p.stat().st_size for p in root.iterdir())


def timed(command: list[str], env: dict[str, str], timeout: float) -> float:
    started = time.perf_counter()
    completed = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(
            f"{command[:4]} exited {completed.returncode}: {completed.stderr[-2000:]}"
        )
    return elapsed


def stored(s3: Any, prefix: str) -> dict[str, int]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{prefix}/")
    return {
        obj["Key"][len(prefix) + 1 :]: obj["Size"]
        for page in pages
        for obj in page.get("Contents", [])
    }


def aws_cli() -> str:
    beside = Path(sys.executable).parent / "aws"
    found = str(beside) if beside.exists() else shutil.which("aws")
    if not found:
        raise SystemExit("aws CLI not found (`make install-test` installs it)")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gib", type=float, default=1.0, help="data size in GiB (default 1)")
    parser.add_argument("--shards", type=int, default=4, help="safetensors shards (default 4)")
    parser.add_argument("--concurrency", type=int, default=10, help="requests in flight (10)")
    parser.add_argument("--chunk-mib", type=int, default=8, help="part size in MiB (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each tool (default 3)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per tool run (600)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.shards < 1 or args.gib <= 0:
        parser.error("--rounds and --shards must be >= 1 and --gib > 0")

    total = int(args.gib * GiB)
    available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if 3 * total > available:  # two copies in moto plus multipart assembly
        raise SystemExit(f"--gib {args.gib}: moto needs ~{3 * total / GiB:.1f} GiB of free memory")

    import boto3

    with tempfile.TemporaryDirectory(prefix="stage-bench-") as tmp:
        data = Path(tmp) / "model"
        size = write_model(data, total, args.shards)
        aws_config = Path(tmp) / "aws-config"
        aws_config.write_text(
            "[default]\nregion = us-east-1\ns3 =\n"
            f"  max_concurrent_requests = {args.concurrency}\n"
            f"  multipart_chunksize = {args.chunk_mib}MB\n"
            f"  multipart_threshold = {args.chunk_mib}MB\n"
        )
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(aws_config),
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        with moto_server(timeout=30) as endpoint:
            s3 = boto3.client(
                "s3",
                endpoint_url=endpoint,
                aws_access_key_id="bench",
                aws_secret_access_key="bench",
                region_name="us-east-1",
            )
            s3.create_bucket(Bucket=BUCKET)
            results: dict[str, list[float]] = {"stage": [], "aws": [], "rerun": []}
            for round_ in range(args.rounds):
                commands = {
                    "stage": [
                        sys.executable, "-m", "tools.in_cluster.stage_model",
                        "--source", str(data),
                        "--dest", f"s3://{BUCKET}/stage_model-{round_}",
                        "--endpoint-url", endpoint,
                        "--concurrency", str(args.concurrency),
                        "--chunk-size-mib", str(args.chunk_mib),
                    ],
                    "aws": [
                        aws_cli(), "s3", "cp", "--recursive", "--only-show-errors",
                        str(data), f"s3://{BUCKET}/awscli-{round_}", "--endpoint-url", endpoint,
                    ],
                }  # fmt: skip
                # Alternate who goes first, so neither always meets a warmer or fuller server.
                order = ["stage", "aws"] if round_ % 2 == 0 else ["aws", "stage"]
                for tool in order:
                    results[tool].append(timed(commands[tool], env, args.timeout))
                results["rerun"].append(timed(commands["stage"], env, args.timeout))

                ours = stored(s3, f"stage_model-{round_}")
                theirs = stored(s3, f"awscli-{round_}")
                ours.pop(".stage-manifest.json", None)
                if ours != theirs or sum(ours.values()) != size:
                    raise SystemExit(f"copies differ: stage_model {ours} vs awscli {theirs}")
                for prefix in (f"stage_model-{round_}", f"awscli-{round_}"):
                    keys = [{"Key": f"{prefix}/{k}"} for k in stored(s3, prefix)]
                    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": keys})

    stage_s, aws_s, rerun_s = (statistics.median(results[t]) for t in ("stage", "aws", "rerun"))
    mb = size / 1e6
    print(
        f"data: {size / GiB:.2f} GiB in {len(ours)} files ({args.shards} shards), "
        f"concurrency {args.concurrency}, parts {args.chunk_mib} MiB, moto on 127.0.0.1, "
        f"median of {args.rounds} round(s)"
    )
    print(f"{'tool':<34}{'seconds':>9}{'MB/s':>9}  all runs (s)")
    for label, tool, seconds in (
        ("tools.in_cluster.stage_model", "stage", stage_s),
        ("aws s3 cp --recursive", "aws", aws_s),
    ):
        runs = ", ".join(f"{t:.2f}" for t in results[tool])
        print(f"{label:<34}{seconds:>9.2f}{mb / seconds:>9.1f}  {runs}")
    runs = ", ".join(f"{t:.2f}" for t in results["rerun"])
    print(f"{'tools.in_cluster.stage_model re-run (no-op)':<34}{rerun_s:>9.2f}{'-':>9}  {runs}")
    print(f"ratio aws/stage_model: {aws_s / stage_s:.2f} (above 1: stage_model faster)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
