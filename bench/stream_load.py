"""Load safetensors from S3 the way vLLM's `runai_streamer` load format does, and time it.

vLLM 0.24.0 (vllm-project/vllm:vllm/model_executor/model_loader/weight_utils.py@v0.24.0
`runai_safetensors_weights_iterator`) opens a `SafetensorsStreamer`, streams every file to the
CPU (`device="cpu"` outside distributed loading) and yields `tensor.clone()` for each tensor,
which `load_weights` then copies into the model's parameters on the GPU. This script does the
same against ``--endpoint`` (the bench's S3 emulation, bench/s3emu.py), with
``--device cuda`` copying every tensor to the GPU, and prints one JSON line:
``{"bytes", "seconds", "tensors", "device", "concurrency"}``. The clock starts before the
streamer opens and stops after the last copy (CUDA synchronized).

    python bench/stream_load.py --endpoint http://127.0.0.1:PORT --bucket b FILE... \\
        [--device cpu|cuda] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def unavailable_reason(device: str = "cpu") -> str | None:
    """Why the streamer cannot run here (one line), or None."""
    try:
        import runai_model_streamer  # noqa: F401
        import runai_model_streamer_s3  # noqa: F401
        import torch
    except Exception as exc:  # ImportError, or a broken native library
        return f"runai-model-streamer not usable ({type(exc).__name__}: {exc})"
    if device == "cuda" and not torch.cuda.is_available():
        return "PyTorch has no CUDA device"
    return None


def stream(endpoint: str, bucket: str, keys: list[str], device: str, concurrency: int) -> dict:
    # The emulation is path-style and unauthenticated (the streamer's documented settings for an
    # S3-compatible store: docs/src/env-vars.md); on EKS none of these is set (IRSA, AWS S3).
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING="0",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ACCESS_KEY_ID=os.environ.get("AWS_ACCESS_KEY_ID", "bench"),
        AWS_SECRET_ACCESS_KEY=os.environ.get("AWS_SECRET_ACCESS_KEY", "bench"),
        AWS_REGION=os.environ.get("AWS_REGION", "us-east-1"),
        RUNAI_STREAMER_CONCURRENCY=str(concurrency),
    )
    import torch
    from runai_model_streamer import SafetensorsStreamer

    uris = [f"s3://{bucket}/{key}" for key in keys]
    if device == "cuda":
        torch.zeros(1, device="cuda")  # CUDA context outside the clock
        torch.cuda.synchronize()
    total = tensors = 0
    start = time.monotonic()
    with SafetensorsStreamer() as streamer:
        streamer.stream_files(uris, device="cpu")
        for _name, tensor in streamer.get_tensors():
            copy = tensor.clone()
            if device == "cuda":
                copy = copy.to("cuda", non_blocking=False)
            total += copy.numel() * copy.element_size()
            tensors += 1
            del copy
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.monotonic() - start
    return {
        "bytes": total,
        "seconds": seconds,
        "tensors": tensors,
        "device": device,
        "concurrency": concurrency,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("keys", nargs="+", help="object keys of the safetensors files")
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--bucket", default="models")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    reason = unavailable_reason(args.device)
    if reason:
        print(reason, file=sys.stderr)
        return 3
    print(json.dumps(stream(args.endpoint, args.bucket, args.keys, args.device, args.concurrency)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
