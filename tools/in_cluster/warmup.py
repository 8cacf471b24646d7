#!/usr/bin/env python3
"""Warm the model cache before the model server starts, then hand over to the server.

Runs inside the KServe ``kserve-container`` (the ``python3`` of the kserve/huggingfaceserver
image, delivered by a ConfigMap), before vLLM opens the weights. The model directory is a
Fluid/JindoFS FUSE mount whose data lives on remote cache workers: one stream is served
slowly, and vLLM's safetensors loader reads in a random-ish order. Reading every file once,
in parallel byte ranges, pulls the model into the FUSE client cache and the node's page cache
(Jindo mounts with ``-okernel_cache``), so the loader then reads at memory speed.

Standard library only, a single file, Python >= 3.10.

Usage::

    python3 warmup.py                     # warm WARMUP_DIR, exit with the warm-up status
    python3 warmup.py -- CMD [ARG ...]    # warm, then os.execvp(CMD, [CMD, ARG ...])
    python3 warmup.py --help

The warm-up ServingRuntime container (ConfigMap with this file mounted at ``/warmup``)::

    command: ["python3", "/warmup/warmup.py", "--", "python3", "-m", "huggingfaceserver"]
    args: ["--model_name={{.Name}}"]      # KServe appends the InferenceService's args

i.e. the container runs ``python3 /warmup/warmup.py -- python3 -m huggingfaceserver
--model_name=NAME [ISVC args ...]``; no ``bash -c`` wrapper is needed.

Everything after ``--`` is the server command, passed verbatim to ``os.execvp`` (no shell):
the server replaces this process (same PID, so it receives the pod's signals). Arguments
before ``--`` other than ``-h``/``--help`` are a usage error (exit 2).

Environment (sizes accept bytes or a suffix: ``K``/``M``/``G``/``T`` and ``KiB``/``MiB``/...
are powers of 1024, ``KB``/``MB``/... powers of 1000, case-insensitive, e.g. ``4M``,
``16MiB``, ``1g``):

=========================  ==========  ====================================================
variable                   default     meaning
=========================  ==========  ====================================================
WARMUP_DIR                 /mnt/models directory walked recursively (symlinks followed)
WARMUP_BLOCK_SIZE          4MiB        bytes per read call (one reused buffer per thread, so
                                       concurrency x block size of memory); 4KiB..1GiB
WARMUP_CONCURRENCY         32          reader threads (1..1024)
WARMUP_RANGE_SIZE          256MiB      files are split into ranges of this size, each read
                                       by one thread through its own file descriptor (its
                                       own stream); 0 = one range per file
WARMUP_FAIL_OPEN           true        true: on a warm-up failure log it and still start
                                       the server (it reads the files itself, slower);
                                       false: exit 1 (the pod restarts: one FUSE read error
                                       would crash-loop the predictor)
WARMUP_TIMEOUT             auto        seconds; stop the warm-up after this long and treat
                                       it as a failure (see WARMUP_FAIL_OPEN); 0 = no limit;
                                       auto = 60 s + the model's bytes at 50 MB/s, so a hung
                                       FUSE read cannot hold the server back forever
WARMUP_ENABLED             true        false: skip the warm-up, only start the server
WARMUP_EXEC                (unset)     server command (split like a shell would, no shell
                                       features) used when no command follows ``--``;
                                       a command after ``--`` wins
WARMUP_LOG_LEVEL           info        ``debug`` adds one line per file
WARMUP_PROGRESS_INTERVAL   10          seconds between progress lines; 0 = none
=========================  ==========  ====================================================

Booleans accept true/false, 1/0, yes/no, on/off (case-insensitive).

Log lines go to stdout, one ``key=value`` line each, always starting with ``warmup`` and
``level=`` and ``event=``::

    warmup level=info event=start dir=/mnt/models files=9 bytes=16060563456 ranges=62 ...
    warmup level=info event=progress bytes=... total_bytes=... seconds=... gbps=...
    warmup level=debug event=file path=... bytes=...
    warmup level=info event=done dir=/mnt/models files=9 bytes=16060563456 seconds=12.345 gbps=1.301
    warmup level=info event=empty dir=/mnt/models files=0 bytes=0
    warmup level=error event=read_error path=/mnt/models/x.safetensors error="..."
    warmup level=error event=failed errors=1 fail_open=false
    warmup level=info event=exec argv="python3 -m huggingfaceserver ..."
    warmup level=error event=bad_env var=WARMUP_CONCURRENCY value=abc allowed="..."

``gbps`` is decimal GB (1e9 bytes) per second.

Every regular file is read (through symlinks; a file reached twice is read once). FIFOs,
sockets and devices are skipped. Any file that cannot be opened or read, including a short
read (file shrank) and a dangling symlink, is a warm-up failure naming the file; the other
files are still read (the cache is warm for the next attempt), then the status is decided.

Throughput notes: page-cache reads through FUSE are sent as background requests, so the
kernel's FUSE ``max_background`` (default 12 in flight per mount, set by the FUSE daemon)
bounds a warm-up more than WARMUP_CONCURRENCY does; the page cache filled here is charged to
the pod's memory cgroup (reclaimable, but size the memory limit above the model size).
``bench/warmup_bench.py`` measures this against the seed's ``dd`` loop.

SIGTERM during the warm-up (the pod is deleted or scaled down) stops it at once: the process
logs ``event=terminated`` and exits 143 without starting the server. Once the server has
replaced this process, signals are the server's.

Exit status: 0 warmed (or nothing to warm; or failed with WARMUP_FAIL_OPEN=true and no
command); 1 warm-up failed; 143 SIGTERM during the warm-up; 2 usage error or bad environment
value (always fatal, regardless of WARMUP_FAIL_OPEN); 127 the server command could not be
executed. With a server command and success (or fail-open) the process becomes the server
and its status is the server's.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

__all__ = [
    "ConfigError",
    "FileEntry",
    "Range",
    "Settings",
    "WarmupError",
    "WarmupResult",
    "discover",
    "main",
    "parse_bool",
    "parse_size",
    "plan_ranges",
    "read_ranges",
    "settings_from_env",
    "warm",
]

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

DEFAULT_DIR = "/mnt/models"
DEFAULT_BLOCK_SIZE = 4 * MIB
DEFAULT_CONCURRENCY = 32
DEFAULT_RANGE_SIZE = 256 * MIB
MIN_BLOCK_SIZE = 4 * KIB
MAX_BLOCK_SIZE = GIB
MAX_CONCURRENCY = 1024
MAX_REPORTED_ERRORS = 20

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_EXEC_FAILED = 127
EXIT_TERMINATED = 128 + 15  # the shell's convention for "killed by SIGTERM"
AUTO_TIMEOUT_BASE_SECONDS = 60.0
AUTO_TIMEOUT_FLOOR_BYTES_PER_SECOND = 50e6
"""The slowest read-through worth waiting for: well below a cold S3 read (the seed's storage
initializer managed 15 GB in 265 s, ~60 MB/s) and far below a warm cache."""

LogFn = Callable[..., None]


# --------------------------------------------------------------------------- logging


def _fmt_value(value: object) -> str:
    if isinstance(value, float):
        text = f"{value:.3f}"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    if text == "" or re.search(r'[\s"=\\]', text):
        return json.dumps(text)
    return text


def format_line(level: str, event: str, **fields: object) -> str:
    """One machine-greppable log line: ``warmup level=L event=E k=v ...``."""
    parts = ["warmup", f"level={level}", f"event={event}"]
    parts.extend(f"{key}={_fmt_value(value)}" for key, value in fields.items())
    return " ".join(parts)


class _Logger:
    def __init__(self, debug: bool = False, stream: TextIO | None = None) -> None:
        self.debug_enabled = debug
        self._stream = stream
        self._lock = threading.Lock()

    def __call__(self, level: str, event: str, **fields: object) -> None:
        if level == "debug" and not self.debug_enabled:
            return
        line = format_line(level, event, **fields)
        stream = self._stream if self._stream is not None else sys.stdout
        with self._lock:
            print(line, file=stream, flush=True)


def _null_log(level: str, event: str, **fields: object) -> None:
    return None


# --------------------------------------------------------------------------- configuration


class ConfigError(ValueError):
    """A bad environment value or command line (exit status 2)."""

    def __init__(self, var: str, value: str, allowed: str) -> None:
        super().__init__(f"{var}={value!r}: allowed: {allowed}")
        self.var = var
        self.value = value
        self.allowed = allowed


_SIZE_RE = re.compile(r"^\s*(\d+)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_SIZE_ALLOWED = (
    "a whole number of bytes, optionally with a suffix K, M, G, T or KiB, MiB, GiB, TiB "
    "(powers of 1024) or KB, MB, GB, TB (powers of 1000), e.g. 4M, 16MiB"
)
_BOOL_ALLOWED = "true/false, 1/0, yes/no, on/off"


def parse_size(text: str) -> int:
    """Parse ``4M``, ``16MiB``, ``1GB``, ``4096`` into bytes; ValueError otherwise."""
    match = _SIZE_RE.match(text)
    if not match:
        raise ValueError(f"not a size: {text!r}")
    number, unit, tail = match.group(1), match.group(2).lower(), match.group(3).lower()
    if not unit and tail:
        # "b" alone is bytes; "ib" alone is nonsense.
        if tail != "b":
            raise ValueError(f"not a size: {text!r}")
        return int(number)
    exponent = "kmgt".index(unit) + 1 if unit else 0
    base = 1000 if tail == "b" else 1024  # "M"/"MiB" -> 1024, "MB" -> 1000
    return int(number) * base**exponent


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


@dataclass(frozen=True)
class Settings:
    dir: str = DEFAULT_DIR
    block_size: int = DEFAULT_BLOCK_SIZE
    concurrency: int = DEFAULT_CONCURRENCY
    range_size: int = DEFAULT_RANGE_SIZE
    fail_open: bool = True
    timeout: float | None = None
    """Seconds; None derives it from the model's size (``auto_timeout``); 0 = no limit."""
    enabled: bool = True
    exec_argv: tuple[str, ...] = ()
    debug: bool = False
    progress_interval: float = 10.0


def _env_size(env: dict[str, str], var: str, default: int, low: int, high: int | None) -> int:
    raw = env.get(var)
    if raw is None or raw.strip() == "":
        return default
    hi = f" and at most {high} bytes" if high is not None else ""
    allowed = f"{_SIZE_ALLOWED}; at least {low}{hi}"
    try:
        value = parse_size(raw)
    except ValueError:
        raise ConfigError(var, raw, allowed) from None
    if value < low or (high is not None and value > high):
        raise ConfigError(var, raw, allowed)
    return value


def _env_int(env: dict[str, str], var: str, default: int, low: int, high: int) -> int:
    raw = env.get(var)
    if raw is None or raw.strip() == "":
        return default
    allowed = f"an integer from {low} to {high}"
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(var, raw, allowed) from None
    if not low <= value <= high:
        raise ConfigError(var, raw, allowed)
    return value


def _env_seconds(env: dict[str, str], var: str, default: float) -> float:
    raw = env.get(var)
    if raw is None or raw.strip() == "":
        return default
    allowed = "a number of seconds >= 0 (0 = off)"
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(var, raw, allowed) from None
    if not value >= 0 or value == float("inf"):  # also rejects NaN
        raise ConfigError(var, raw, allowed)
    return value


def _env_timeout(env: dict[str, str]) -> float | None:
    raw = env.get("WARMUP_TIMEOUT")
    if raw is None or raw.strip().lower() in ("", "auto"):
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):  # also rejects NaN
        raise ConfigError(
            "WARMUP_TIMEOUT", raw, "auto, or a number of seconds >= 0 (0 = no limit)"
        ) from None
    return value


def auto_timeout(total_bytes: int) -> float:
    """The warm-up's time limit for a model of ``total_bytes``: a base plus a floor rate."""
    return AUTO_TIMEOUT_BASE_SECONDS + total_bytes / AUTO_TIMEOUT_FLOOR_BYTES_PER_SECOND


def _env_bool(env: dict[str, str], var: str, default: bool) -> bool:
    raw = env.get(var)
    if raw is None or raw.strip() == "":
        return default
    try:
        return parse_bool(raw)
    except ValueError:
        raise ConfigError(var, raw, _BOOL_ALLOWED) from None


def settings_from_env(env: dict[str, str] | None = None) -> Settings:
    """Read the WARMUP_* variables; raises ConfigError naming the variable."""
    env = dict(os.environ) if env is None else env
    directory = env.get("WARMUP_DIR", "").strip() or DEFAULT_DIR
    level = env.get("WARMUP_LOG_LEVEL", "").strip().lower() or "info"
    if level not in ("info", "debug"):
        raise ConfigError("WARMUP_LOG_LEVEL", env["WARMUP_LOG_LEVEL"], "info, debug")
    exec_raw = env.get("WARMUP_EXEC", "")
    try:
        exec_argv = tuple(shlex.split(exec_raw))
    except ValueError:
        raise ConfigError(
            "WARMUP_EXEC", exec_raw, "a command line with balanced shell quotes"
        ) from None
    return Settings(
        dir=directory,
        block_size=_env_size(
            env, "WARMUP_BLOCK_SIZE", DEFAULT_BLOCK_SIZE, MIN_BLOCK_SIZE, MAX_BLOCK_SIZE
        ),
        concurrency=_env_int(env, "WARMUP_CONCURRENCY", DEFAULT_CONCURRENCY, 1, MAX_CONCURRENCY),
        range_size=_env_size(env, "WARMUP_RANGE_SIZE", DEFAULT_RANGE_SIZE, 0, None),
        fail_open=_env_bool(env, "WARMUP_FAIL_OPEN", True),
        timeout=_env_timeout(env),
        enabled=_env_bool(env, "WARMUP_ENABLED", True),
        exec_argv=exec_argv,
        debug=level == "debug",
        progress_interval=_env_seconds(env, "WARMUP_PROGRESS_INTERVAL", 10.0),
    )


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int


@dataclass(frozen=True)
class Range:
    path: str
    offset: int
    length: int


def discover(root: str) -> tuple[list[FileEntry], list[tuple[str, str]]]:
    """Regular files under ``root`` (symlinks followed, each inode once) and errors.

    Errors are ``(path, message)`` for paths that could not be listed or stat'ed (dangling
    symlink, symlink loop, unreadable directory). FIFOs, sockets and devices are skipped.
    """
    files: list[FileEntry] = []
    errors: list[tuple[str, str]] = []
    seen_files: set[tuple[int, int]] = set()
    seen_dirs: set[tuple[int, int]] = set()
    try:
        st = os.stat(root)
    except OSError as exc:
        return [], [(root, f"cannot access the directory: {exc.strerror or exc}")]
    if not stat.S_ISDIR(st.st_mode):
        return [], [(root, "not a directory")]
    stack = [root]
    seen_dirs.add((st.st_dev, st.st_ino))
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            errors.append((directory, f"cannot list the directory: {exc.strerror or exc}"))
            continue
        subdirs: list[str] = []
        for entry in entries:
            try:
                est = entry.stat(follow_symlinks=True)
            except OSError as exc:
                errors.append((entry.path, f"cannot stat: {exc.strerror or exc}"))
                continue
            key = (est.st_dev, est.st_ino)
            if stat.S_ISDIR(est.st_mode):
                if key not in seen_dirs:  # guards against symlink cycles
                    seen_dirs.add(key)
                    subdirs.append(entry.path)
            elif stat.S_ISREG(est.st_mode) and key not in seen_files:
                seen_files.add(key)
                files.append(FileEntry(entry.path, est.st_size))
        stack.extend(reversed(subdirs))
    return files, errors


def plan_ranges(files: Iterable[FileEntry | tuple[str, int]], range_size: int) -> list[Range]:
    """Split files into byte ranges of at most ``range_size`` (0 = whole file).

    Every byte of every file is covered exactly once; empty files get no range. Ranges are
    ordered round-robin over the files (largest file first), so that many files, and so
    many cache workers, are streamed at once.
    """
    if range_size < 0:
        raise ValueError("range_size must be >= 0")
    entries = [f if isinstance(f, FileEntry) else FileEntry(f[0], f[1]) for f in files]
    per_file: list[list[Range]] = []
    for entry in sorted(entries, key=lambda e: (-e.size, e.path)):
        if entry.size < 0:
            raise ValueError(f"negative size for {entry.path}")
        step = range_size if range_size > 0 else max(entry.size, 1)
        per_file.append(
            [
                Range(entry.path, offset, min(step, entry.size - offset))
                for offset in range(0, entry.size, step)
            ]
        )
    ordered: list[Range] = []
    depth = max((len(r) for r in per_file), default=0)
    for i in range(depth):
        ordered.extend(ranges[i] for ranges in per_file if i < len(ranges))
    return ordered


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class WarmupResult:
    bytes: int
    seconds: float
    files: int
    errors: tuple[str, ...] = field(default=())

    @property
    def gbps(self) -> float:
        return self.bytes / self.seconds / 1e9 if self.seconds > 0 else 0.0


class WarmupError(RuntimeError):
    """The warm-up failed; ``errors`` name the files, ``result`` says what was read."""

    def __init__(self, errors: Sequence[str], result: WarmupResult) -> None:
        shown = list(errors[:MAX_REPORTED_ERRORS])
        more = len(errors) - len(shown)
        text = "; ".join(shown) + (f"; ... and {more} more" if more > 0 else "")
        super().__init__(f"warm-up failed: {text}")
        self.errors = tuple(errors)
        self.result = result


class _Progress:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bytes = 0


def _read_range(
    rng: Range,
    buf: bytearray,
    view: memoryview,
    stop: threading.Event,
    progress: _Progress,
) -> None:
    """Read ``rng`` through its own descriptor; raises OSError/EOFError on failure."""
    fd = os.open(rng.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        if hasattr(os, "posix_fadvise"):
            with contextlib.suppress(OSError):  # advice only
                os.posix_fadvise(fd, rng.offset, rng.length, os.POSIX_FADV_SEQUENTIAL)
        pos = rng.offset
        end = rng.offset + rng.length
        block = len(buf)
        while pos < end and not stop.is_set():
            want = min(block, end - pos)
            n = os.preadv(fd, [view[:want]] if want < block else [buf], pos)
            if n == 0:
                raise EOFError(
                    f"short read at offset {pos}: expected {end - pos} more bytes "
                    f"up to {end}, got end of file (file shrank?)"
                )
            pos += n
            with progress.lock:
                progress.bytes += n
    finally:
        os.close(fd)


def read_ranges(
    ranges: Sequence[Range],
    block_size: int,
    concurrency: int,
    *,
    timeout: float | None = None,
    log: LogFn = _null_log,
    progress_interval: float = 0.0,
    total_bytes: int | None = None,
) -> tuple[int, float, list[str]]:
    """Read ranges with ``concurrency`` threads; returns (bytes, seconds, errors)."""
    if block_size <= 0:
        raise ValueError("block_size must be > 0")
    if concurrency <= 0:
        raise ValueError("concurrency must be > 0")
    total = sum(r.length for r in ranges) if total_bytes is None else total_bytes
    remaining: dict[str, int] = {}
    file_bytes: dict[str, int] = {}
    for r in ranges:
        remaining[r.path] = remaining.get(r.path, 0) + 1
        file_bytes[r.path] = file_bytes.get(r.path, 0) + r.length
    lock = threading.Lock()
    errors: list[tuple[str, str]] = []
    failed_paths: set[str] = set()
    stop = threading.Event()
    progress = _Progress()
    it = iter(ranges)

    def worker() -> None:
        buf = bytearray(block_size)
        view = memoryview(buf)
        while not stop.is_set():
            with lock:
                rng = next(it, None)
            if rng is None:
                return
            error: str | None = None
            try:
                _read_range(rng, buf, view, stop, progress)
            except EOFError as exc:
                error = str(exc)
            except OSError as exc:
                error = (
                    f"read of bytes {rng.offset}..{rng.offset + rng.length} failed: "
                    f"{exc.strerror or exc}"
                )
            except Exception as exc:  # report anything, never hang
                error = f"{type(exc).__name__}: {exc}"
            with lock:
                first = error is not None and rng.path not in failed_paths
                if error is not None and first:
                    failed_paths.add(rng.path)
                    errors.append((rng.path, error))
                remaining[rng.path] -= 1
                done = remaining[rng.path] == 0 and rng.path not in failed_paths
            if error is not None and first:
                log("error", "read_error", path=rng.path, error=error)
            elif done:
                log("debug", "file", path=rng.path, bytes=file_bytes[rng.path])

    start = time.monotonic()
    threads = [
        threading.Thread(target=worker, name=f"warmup-{i}", daemon=True)
        for i in range(min(concurrency, len(ranges)))
    ]
    for t in threads:
        t.start()
    deadline = start + timeout if timeout else None
    next_progress = start + progress_interval if progress_interval > 0 else None
    timed_out = False
    for t in threads:
        while t.is_alive():
            now = time.monotonic()
            waits = [1.0]
            if deadline is not None:
                waits.append(deadline - now)
            if next_progress is not None:
                waits.append(next_progress - now)
            t.join(max(0.0, min(waits)))
            now = time.monotonic()
            if deadline is not None and now >= deadline and t.is_alive():
                timed_out = True
                stop.set()
                break
            if next_progress is not None and now >= next_progress:
                with progress.lock:
                    done_bytes = progress.bytes
                elapsed = now - start
                log(
                    "info",
                    "progress",
                    bytes=done_bytes,
                    total_bytes=total,
                    seconds=elapsed,
                    gbps=done_bytes / elapsed / 1e9 if elapsed > 0 else 0.0,
                )
                next_progress = now + progress_interval
        if timed_out:
            break
    seconds = time.monotonic() - start
    with progress.lock:
        done_bytes = progress.bytes
    with lock:
        errs = [f"{path}: {message}" for path, message in errors]
    if timed_out:
        msg = f"timed out after {timeout:g} s with {done_bytes} of {total} bytes read"
        errs.append(msg)
        log("error", "timeout", error=msg)
    return done_bytes, seconds, errs


def warm(
    dir: str,
    block_size: int = DEFAULT_BLOCK_SIZE,
    concurrency: int = DEFAULT_CONCURRENCY,
    range_size: int = DEFAULT_RANGE_SIZE,
    *,
    timeout: float | None = None,
    timeout_for: Callable[[int], float] | None = None,
    log: LogFn = _null_log,
    progress_interval: float = 0.0,
) -> WarmupResult:
    """Read every regular file under ``dir`` once; raise WarmupError naming failed files.

    ``timeout`` (seconds, None or 0 = no limit) or, when it is None, ``timeout_for(total bytes)``
    bounds the reading.
    """
    start = time.monotonic()
    files, found_errors = discover(dir)
    ranges = plan_ranges(files, range_size)
    total = sum(f.size for f in files)
    if timeout is None and timeout_for is not None:
        timeout = timeout_for(total)
    errors: list[str] = []
    for path, message in found_errors:
        log("error", "read_error", path=path, error=message)
        errors.append(f"{path}: {message}")
    if not files and not errors:
        log("info", "empty", dir=dir, files=0, bytes=0)
        return WarmupResult(0, time.monotonic() - start, 0)
    if not files:
        seconds = time.monotonic() - start
        raise WarmupError(errors, WarmupResult(0, seconds, 0, tuple(errors)))
    log(
        "info",
        "start",
        dir=dir,
        files=len(files),
        bytes=total,
        ranges=len(ranges),
        block_size=block_size,
        concurrency=concurrency,
        range_size=range_size,
        timeout=timeout or 0.0,
    )
    done, _, read_errors = read_ranges(
        ranges,
        block_size,
        concurrency,
        timeout=timeout,
        log=log,
        progress_interval=progress_interval,
        total_bytes=total,
    )
    errors.extend(read_errors)
    seconds = time.monotonic() - start
    result = WarmupResult(done, seconds, len(files), tuple(errors))
    if errors:
        raise WarmupError(errors, result)
    log(
        "info",
        "done",
        dir=dir,
        files=len(files),
        bytes=done,
        seconds=seconds,
        gbps=result.gbps,
    )
    return result


# --------------------------------------------------------------------------- CLI


class Terminated(BaseException):
    """SIGTERM arrived during the warm-up (a BaseException so no ``except Exception`` eats it)."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def _on_sigterm_raise() -> object:
    """Turn SIGTERM into ``Terminated`` in the main thread (which only waits on the readers,
    so it handles the signal within a second); returns the previous handler."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


def _restore_sigterm(previous: object) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)  # type: ignore[arg-type]


def _exec(argv: Sequence[str], log: LogFn) -> int:
    log("info", "exec", argv=shlex.join(argv))
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(argv[0], list(argv))
    except OSError as exc:
        log("error", "exec_failed", argv=shlex.join(argv), error=exc.strerror or str(exc))
        return EXIT_EXEC_FAILED
    return EXIT_EXEC_FAILED  # pragma: no cover - execvp does not return


def main(argv: Sequence[str] | None = None, env: dict[str, str] | None = None) -> int:
    """Entry point; ``argv`` excludes the program name. Returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    log = _Logger()
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        return EXIT_OK
    command: list[str] = []
    if args:
        if args[0] != "--":
            log(
                "error",
                "usage",
                error=f"unexpected argument {args[0]!r}: the server command must follow '--'",
                usage="warmup.py [-h] [-- SERVER_COMMAND [ARG ...]]",
            )
            return EXIT_USAGE
        command = args[1:]
    try:
        settings = settings_from_env(env)
    except ConfigError as exc:
        log("error", "bad_env", var=exc.var, value=exc.value, allowed=exc.allowed)
        return EXIT_USAGE
    log.debug_enabled = settings.debug
    if not command and settings.exec_argv:
        command = list(settings.exec_argv)
    elif command and settings.exec_argv:
        log("info", "exec_override", reason="command after -- wins over WARMUP_EXEC")

    status = EXIT_OK
    if not settings.enabled:
        log("info", "disabled", dir=settings.dir)
    else:
        previous = _on_sigterm_raise()
        try:
            warm(
                settings.dir,
                settings.block_size,
                settings.concurrency,
                settings.range_size,
                timeout=settings.timeout,
                timeout_for=auto_timeout,
                log=log,
                progress_interval=settings.progress_interval,
            )
        except Terminated:
            # The pod is going away: do not start a server that would only be killed.
            log("error", "terminated", dir=settings.dir, signal="SIGTERM")
            return EXIT_TERMINATED
        except WarmupError as exc:
            res = exc.result
            log(
                "error",
                "failed",
                dir=settings.dir,
                errors=len(exc.errors),
                files=res.files,
                bytes=res.bytes,
                seconds=res.seconds,
                fail_open=settings.fail_open,
                first_error=exc.errors[0],
            )
            if not settings.fail_open:
                return EXIT_FAILED
            status = EXIT_OK
        finally:
            _restore_sigterm(previous)
    if command:
        return _exec(command, log)
    return status


if __name__ == "__main__":
    sys.exit(main())
