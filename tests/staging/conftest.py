"""Fixtures for the staging tests: a real moto S3 server on 127.0.0.1, a fresh bucket per test,
an S3 client whose calls are recorded through botocore event hooks, and a generated model."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from tools.in_cluster.stage_model import make_s3_client

MiB = 1024 * 1024
PART = 5 * MiB  # S3's smallest part: keeps the multipart path fast in tests

WRITE_OPS = frozenset(
    {
        "PutObject",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
        "CopyObject",
        "DeleteObject",
        "DeleteObjects",
    }
)


@pytest.fixture(scope="package")
def aws_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fake credentials only: nothing can reach a real AWS account. Package scope, so the
    environment is restored before tests outside tests/staging run."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_SESSION_TOKEN", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "HF_TOKEN"):
            mp.delenv(name, raising=False)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        mp.setenv("STAGE_MODEL_CACHE", str(tmp_path_factory.mktemp("stage-cache")))
        yield


@pytest.fixture(scope="package")
def moto_endpoint(aws_env: None) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


class S3CallLog:
    """Every S3 API call a client makes, in order: ("start", op, key) when a call begins (once
    per call, not per retry) and ("done", op, key) when it succeeded."""

    def __init__(self, client: Any) -> None:
        self.events: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()
        self._keys: dict[int, str | None] = {}
        client.meta.events.register("before-parameter-build.s3", self._before)
        client.meta.events.register("after-call.s3", self._after)

    def _before(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        with self._lock:
            self._keys[id(context)] = params.get("Key")
            self.events.append(("start", model.name, params.get("Key")))

    def _after(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.events.append(("done", model.name, self._keys.get(id(context))))

    def writes(self) -> list[tuple[str, str | None]]:
        return [(op, key) for phase, op, key in self.events if phase == "start" and op in WRITE_OPS]

    def clear(self) -> None:
        with self._lock:
            self.events.clear()


@pytest.fixture
def bucket(moto_endpoint: str) -> str:
    name = f"models-{uuid.uuid4().hex[:12]}"
    make_s3_client(endpoint_url=moto_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3(moto_endpoint: str) -> Any:
    """The client under test, with its calls recorded in ``s3.call_log``."""
    client = make_s3_client(endpoint_url=moto_endpoint, concurrency=4)
    client.call_log = S3CallLog(client)
    return client


@pytest.fixture
def inspector(moto_endpoint: str) -> Any:
    """A separate client for reading back and tampering, so its calls are not recorded."""
    return make_s3_client(endpoint_url=moto_endpoint)


# A model shaped like the seed's: small json/tokenizer files, one shard above the multipart
# threshold, and files the server never reads (must not be staged).
SMALL_FILES = {
    "config.json": b'{"architectures": ["LlamaForCausalLM"], "hidden_size": 4096}\n',
    "generation_config.json": b'{"temperature": 0.6, "top_p": 0.9}\n',
    "model.safetensors.index.json": (
        b'{"weight_map": {"lm_head.weight": "model-00001-of-00001.safetensors"}}\n'
    ),
    "tokenizer.json": b'{"version": "1.0", "model": {"type": "BPE"}}\n',
    "tokenizer_config.json": b'{"bos_token": "<|begin_of_text|>"}\n',
    "original/tokenizer.model": b"sentencepiece-or-tiktoken-bytes\n",
}
SHARD = "model-00001-of-00001.safetensors"
SHARD_SIZE = 12 * MiB + 12345  # 3 parts of 5 MiB
NOT_STAGED = {
    "pytorch_model.bin": b"pickled weights",
    "original/consolidated.00.pth": b"torch checkpoint",
    "flax_model.msgpack": b"flax",
}


def write_model(root: Path, *, seed: int = 1) -> dict[str, bytes]:
    """Write the model below ``root``; returns the staged files' relative path -> bytes."""
    staged = dict(SMALL_FILES)
    staged[SHARD] = random.Random(seed).randbytes(SHARD_SIZE)
    for relpath, data in {**staged, **NOT_STAGED}.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return staged


@pytest.fixture
def model_dir(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    root = tmp_path / "model"
    return root, write_model(root)
