"""Where a model comes from: a Hugging Face repo at a revision, or a local directory.

Only the files a server needs are staged; the same patterns filter the Hub download and the
listing of a local directory, so both paths give the same set of files.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .errors import ExitCode, StageError, from_download_error

# Weights as safetensors, configs and tokenizer files (json, sentencepiece/tiktoken models,
# merges/vocab text). Hub matching is fnmatch on the repo path, where "*" also matches "/".
ALLOW_PATTERNS: tuple[str, ...] = ("*.json", "*.safetensors", "*.model", "*.tiktoken", "*.txt")
# Other serialisations of the same weights: large and never read by the server.
IGNORE_PATTERNS: tuple[str, ...] = (
    "*.bin",
    "*.h5",
    "*.msgpack",
    "*.pth",
    "*.pt",
    "*.ckpt",
    "*.onnx",
    "*.ot",
    "*.gguf",
)

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class HfSource:
    repo_id: str
    revision: str

    def __str__(self) -> str:
        return f"hf:{self.repo_id}@{self.revision}"


@dataclass(frozen=True)
class LocalSource:
    path: Path

    def __str__(self) -> str:
        return str(self.path)


Source = HfSource | LocalSource


@dataclass(frozen=True)
class SourceFile:
    path: Path  # on local disk
    relpath: str  # posix path below the model root; becomes the key below the S3 prefix
    size: int


def parse_source(text: str) -> Source:
    """``hf:org/name@revision`` (revision defaults to ``main``) or a local directory path."""
    if text.startswith("hf:"):
        repo_id, _, revision = text[3:].partition("@")
        if not _REPO_ID.match(repo_id):
            raise ValueError(f"--source {text!r}: expected hf:<org>/<name>@<revision>")
        return HfSource(repo_id=repo_id, revision=revision or "main")
    return LocalSource(path=Path(text).expanduser().resolve())


def wanted(relpath: str) -> bool:
    """Whether a file (posix path below the model root) is staged."""
    if any(part.startswith(".") for part in relpath.split("/")):
        return False  # .cache/huggingface bookkeeping, .gitattributes, our own manifest
    if any(fnmatch.fnmatch(relpath, pattern) for pattern in IGNORE_PATTERNS):
        return False
    return any(fnmatch.fnmatch(relpath, pattern) for pattern in ALLOW_PATTERNS)


def list_source_files(root: Path) -> list[SourceFile]:
    """Every staged file below ``root``, sorted by relative path."""
    found: list[SourceFile] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            path = Path(dirpath, name)
            relpath = path.relative_to(root).as_posix()
            if wanted(relpath) and path.is_file():
                found.append(SourceFile(path=path, relpath=relpath, size=path.stat().st_size))
    return sorted(found, key=lambda f: f.relpath)


class DownloadFn(Protocol):
    """Downloads a snapshot into ``local_dir`` and returns the directory holding it."""

    def __call__(
        self,
        *,
        repo_id: str,
        revision: str,
        local_dir: Path,
        allow_patterns: Sequence[str],
        ignore_patterns: Sequence[str],
        token: str | None,
    ) -> str: ...


def hf_snapshot_download(
    *,
    repo_id: str,
    revision: str,
    local_dir: Path,
    allow_patterns: Sequence[str],
    ignore_patterns: Sequence[str],
    token: str | None,
) -> str:
    """The real download: ``huggingface_hub.snapshot_download`` into ``local_dir``.

    A re-run resumes: files already complete in ``local_dir`` are not fetched again.
    """
    from huggingface_hub import snapshot_download

    path = snapshot_download(
        repo_id=repo_id,
        revision=revision,
        local_dir=local_dir,
        allow_patterns=list(allow_patterns),
        ignore_patterns=list(ignore_patterns),
        token=token,
    )
    return str(path)


def hf_token_from_env() -> str | None:
    return os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN") or None


def default_staging_dir(source: HfSource) -> Path:
    base = os.environ.get("STAGE_MODEL_CACHE") or Path.home() / ".cache" / "stage_model"
    return Path(base) / source.repo_id.replace("/", "--") / source.revision


def materialize(
    source: Source,
    *,
    staging_dir: Path | None,
    download: DownloadFn,
    token: str | None,
) -> Path:
    """The local directory holding the model, downloading a Hub snapshot first if needed."""
    if isinstance(source, LocalSource):
        if not source.path.is_dir():
            raise StageError(ExitCode.SOURCE_NOT_FOUND, path=source.path)
        return source.path
    local_dir = staging_dir or default_staging_dir(source)
    try:
        local_dir.mkdir(parents=True, exist_ok=True)
        root = download(
            repo_id=source.repo_id,
            revision=source.revision,
            local_dir=local_dir,
            allow_patterns=ALLOW_PATTERNS,
            ignore_patterns=IGNORE_PATTERNS,
            token=token,
        )
    except Exception as exc:
        mapped = from_download_error(
            exc,
            repo=source.repo_id,
            revision=source.revision,
            token_set=token is not None,
            path=str(local_dir),
        )
        if mapped is not None:
            raise mapped from exc
        raise
    return Path(root)
