"""Upload progress: a rich bar (bytes, rate, ETA) on a terminal, plain log lines otherwise.

Methods are called from upload threads; implementations are thread-safe. ``rich`` is optional
(the in-cluster image does not ship it): without it, or when stderr is not a terminal, progress
is logged as lines.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO


class Progress(Protocol):
    def start(self, total_bytes: int, total_files: int) -> None: ...
    def advance(self, nbytes: int) -> None: ...
    def file_done(self, key: str, size: int, *, uploaded: bool) -> None: ...
    def log(self, message: str) -> None: ...
    def close(self) -> None: ...


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"


class NullProgress:
    """Reports nothing (the library default)."""

    def start(self, total_bytes: int, total_files: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass

    def file_done(self, key: str, size: int, *, uploaded: bool) -> None:
        pass

    def log(self, message: str) -> None:
        pass

    def close(self) -> None:
        pass


class PlainProgress:
    """One line per file, plus a throughput line at most every ``interval`` seconds."""

    def __init__(self, stream: TextIO | None = None, interval: float = 10.0) -> None:
        self._stream = stream or sys.stderr
        self._interval = interval
        self._lock = threading.Lock()
        self._total = 0
        self._files = 0
        self._done_bytes = 0
        self._done_files = 0
        self._started = time.monotonic()
        self._last_report = self._started

    def _emit(self, line: str) -> None:
        print(f"[stage_model] {line}", file=self._stream, flush=True)

    def start(self, total_bytes: int, total_files: int) -> None:
        with self._lock:
            self._total, self._files = total_bytes, total_files
            self._started = self._last_report = time.monotonic()
        self._emit(f"{total_files} files, {human_bytes(total_bytes)}")

    def advance(self, nbytes: int) -> None:
        with self._lock:
            self._done_bytes += nbytes
            now = time.monotonic()
            if now - self._last_report < self._interval:
                return
            self._last_report = now
            line = self._status(now)
        self._emit(line)

    def _status(self, now: float) -> str:
        elapsed = max(now - self._started, 1e-6)
        rate = self._done_bytes / elapsed
        left = max(self._total - self._done_bytes, 0)
        eta = f"{left / rate:.0f}s" if rate > 0 else "?"
        return (
            f"{human_bytes(self._done_bytes)}/{human_bytes(self._total)} "
            f"{human_bytes(rate)}/s ETA {eta}"
        )

    def file_done(self, key: str, size: int, *, uploaded: bool) -> None:
        with self._lock:
            self._done_files += 1
            if not uploaded:
                self._total -= size  # an unchanged file leaves the work to do
            count = f"{self._done_files}/{self._files}"
        self._emit(f"{count} {'uploaded' if uploaded else 'unchanged'} {key} ({human_bytes(size)})")

    def log(self, message: str) -> None:
        self._emit(message)

    def close(self) -> None:
        with self._lock:
            line = self._status(time.monotonic())
        self._emit(f"done: {line}")


class RichProgress:
    """A live bar on stderr: bytes done/total, transfer rate, time remaining."""

    def __init__(self, console: Any = None, clock: Callable[[], float] | None = None) -> None:
        """`clock` (seconds, default time.monotonic) is what rate and ETA are measured by."""
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as RichBar

        self._console = console or Console(stderr=True)
        self._bar = RichBar(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self._console,
            get_time=clock,
        )
        self._task: Any = None
        self._files = 0
        self._done_files = 0
        self._lock = threading.Lock()

    def start(self, total_bytes: int, total_files: int) -> None:
        self._files = total_files
        self._bar.start()
        self._task = self._bar.add_task(f"0/{total_files} files", total=total_bytes)

    def advance(self, nbytes: int) -> None:
        self._bar.advance(self._task, nbytes)

    def file_done(self, key: str, size: int, *, uploaded: bool) -> None:
        with self._lock:
            self._done_files += 1
            description = f"{self._done_files}/{self._files} files"
            total = self._bar.tasks[0].total or 0
            if not uploaded:
                total -= size  # an unchanged file leaves the work to do
            self._bar.update(self._task, description=description, total=total)
        if not uploaded:
            self._console.log(f"unchanged {key}")

    def log(self, message: str) -> None:
        self._console.log(message)

    def close(self) -> None:
        self._bar.stop()


def make_progress(stream: TextIO | None = None) -> Progress:
    """Rich on a terminal when rich is installed, plain lines otherwise."""
    stream = stream or sys.stderr
    if stream.isatty():
        try:
            return RichProgress()
        except ImportError:
            pass
    return PlainProgress(stream)
