"""Command line: ``python -m tools.in_cluster.stage_model --source ... --dest s3://...`` (in the
cluster: ``python3 -m stage_model``). Prints one line ``error: <message>`` and exits with the
code from ``errors.ExitCode`` on every known failure."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ExitCode, StageError, from_setup_error
from .progress import make_progress
from .s3sync import (
    DEFAULT_CONCURRENCY,
    DEFAULT_FILE_ATTEMPTS,
    DEFAULT_MAX_ATTEMPTS,
    MiB,
    make_s3_client,
)
from .sources import DownloadFn, hf_snapshot_download
from .stage import stage

STACK_OUTPUT = "modelUris"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stage_model",
        description="Stage a model (Hugging Face repo or local directory) to s3://bucket/prefix.",
    )
    parser.add_argument(
        "--source", required=True, help="hf:<org>/<name>@<revision> or a local directory"
    )
    parser.add_argument("--dest", help="s3://bucket/prefix (default: the stack's modelUris)")
    parser.add_argument("--stack", help="Pulumi stack whose modelUris output gives --dest")
    parser.add_argument("--model", help="model name: the key in the stack's modelUris")
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL") or None,
        help="S3 endpoint (default: AWS_ENDPOINT_URL, else AWS)",
    )
    parser.add_argument("--region", default=None, help="AWS region (default: the AWS config)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"parallel S3 requests across all files (default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--chunk-size-mib",
        type=int,
        default=None,
        help="multipart part size in MiB (default: from the largest file, at least 8)",
    )
    parser.add_argument(
        "--staging-dir",
        type=Path,
        default=None,
        help="where a Hub snapshot is downloaded (default: ~/.cache/stage_model/<repo>/<rev>)",
    )
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=DEFAULT_MAX_ATTEMPTS,
        help=f"attempts per S3 request (default {DEFAULT_MAX_ATTEMPTS})",
    )
    parser.add_argument(
        "--file-attempts",
        type=int,
        default=DEFAULT_FILE_ATTEMPTS,
        help=f"attempts per whole file upload (default {DEFAULT_FILE_ATTEMPTS})",
    )
    return parser


def dest_from_stack(stack: str, model: str) -> str:
    """``modelUris[model]`` from ``pulumi stack output --json --stack <stack>``."""
    try:
        completed = subprocess.run(
            ["pulumi", "stack", "output", "--json", "--stack", stack],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except FileNotFoundError as exc:
        raise StageError(ExitCode.PULUMI_CLI_MISSING) from exc
    if completed.returncode != 0:
        lines = (completed.stderr or completed.stdout).strip().splitlines() or ["no output"]
        raise StageError(
            ExitCode.STACK_OUTPUT_MISSING,
            stack=stack,
            model=model,
            detail=f"pulumi exited {completed.returncode}: {lines[-1]}",
        )
    outputs: Any = json.loads(completed.stdout or "{}")
    uris = outputs.get(STACK_OUTPUT) if isinstance(outputs, dict) else None
    if not isinstance(uris, dict):
        detail = f"the stack has no {STACK_OUTPUT} output"
        raise StageError(ExitCode.STACK_OUTPUT_MISSING, stack=stack, model=model, detail=detail)
    if model not in uris:
        detail = f"models: {', '.join(sorted(uris)) or 'none'}"
        raise StageError(ExitCode.STACK_OUTPUT_MISSING, stack=stack, model=model, detail=detail)
    return str(uris[model])


def _fail(error: StageError) -> int:
    print(f"error: {error.message}", file=sys.stderr)
    return int(error.code)


def main(
    argv: Sequence[str] | None = None,
    *,
    download: DownloadFn = hf_snapshot_download,
    s3_client: Any = None,
) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.dest is None and not (args.stack and args.model):
        parser.error("give --dest s3://bucket/prefix, or --stack and --model")
    try:
        dest = args.dest or dest_from_stack(args.stack, args.model)
        client = s3_client or make_s3_client(
            endpoint_url=args.endpoint_url,
            region=args.region,
            concurrency=args.concurrency,
            max_attempts=args.max_attempts,
        )
        result = stage(
            args.source,
            dest,
            s3_client=client,
            staging_dir=args.staging_dir,
            download=download,
            concurrency=args.concurrency,
            chunk_size=args.chunk_size_mib * MiB if args.chunk_size_mib else None,
            file_attempts=args.file_attempts,
            progress=make_progress(sys.stderr),
        )
    except ValueError as exc:  # bad --source/--dest/--chunk-size-mib/--concurrency values
        return _fail(StageError(ExitCode.USAGE, detail=str(exc)))
    except StageError as exc:
        return _fail(exc)
    except Exception as exc:  # an operator's setup mistake gets a sentence, a bug its traceback
        known = from_setup_error(exc)
        if known is None:
            raise
        return _fail(known)
    print(result.summary())
    return int(ExitCode.OK)
