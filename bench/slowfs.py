"""Bench-only remote-cache emulation: a read-only passthrough FUSE file system that is slow.

Emulates the Fluid/JindoFS FUSE mount on the GPU node, where every read request goes to a
remote cache worker: each FUSE read request pays a fixed latency (``--latency-ms``) and
every open file handle is one stream capped at ``--stream-mbps`` (MB/s, 1e6 bytes); requests
on one handle share its bandwidth, different handles do not. Mounted with ``kernel_cache``
like Jindo's ``-okernel_cache``: pages read once stay in the kernel page cache (which is
what a warm-up fills), so the benchmark evicts them between runs
(``posix_fadvise(POSIX_FADV_DONTNEED)`` on the files of the mount).

A hidden file ``/.slowfs-stats`` (not listed, opened with direct I/O so never cached) holds
JSON counters (requests, bytes served, opens, peak in-flight requests), which the benchmark
uses to prove that every byte of a run went through the emulation.

Run as a program (foreground; the benchmark does this through :class:`SlowMount`)::

    python bench/slowfs.py SOURCE_DIR MOUNTPOINT [--latency-ms 2] [--stream-mbps 200]

Needs ``/dev/fuse``, libfuse 2 or 3 (Debian: ``fuse3``) and the mfusepy package; see
:func:`unavailable_reason`.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import errno
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

STATS_NAME = ".slowfs-stats"
STATS_FH = 1 << 62  # file handle of the stats file (never a real descriptor)
MB = 1_000_000


def unavailable_reason() -> str | None:
    """Why a FUSE mount cannot work here (one line), or None when it may."""
    if sys.platform != "linux":
        return f"not Linux ({sys.platform})"
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    try:
        fd = os.open("/dev/fuse", os.O_RDWR)
    except OSError as exc:
        return f"cannot open /dev/fuse: {exc.strerror}"
    os.close(fd)
    if not (shutil.which("fusermount3") or shutil.which("fusermount")) and os.geteuid() != 0:
        return "no fusermount3/fusermount (Debian package fuse3) and not root"
    probe = subprocess.run(
        [sys.executable, "-c", "import mfusepy"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return f"mfusepy unusable ({last}; Debian package fuse3 provides libfuse3)"
    return None


class _Stream:
    __slots__ = ("busy_until", "fd", "lock")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()
        self.busy_until = 0.0


def make_operations(root: str, latency_s: float, stream_bps: float, max_background: int) -> Any:
    """The mfusepy Operations object (mfusepy is imported here, not at module import)."""
    import mfusepy

    class SlowFS(mfusepy.Operations):
        use_ns = True

        def __init__(self) -> None:
            self.root = os.path.realpath(root)
            self.streams: dict[int, _Stream] = {}
            self.mutex = threading.Lock()  # not "lock": that is the FUSE lock operation
            self.counters = {
                "requests": 0,
                "bytes": 0,
                "opens": 0,
                "inflight": 0,
                "peak_inflight": 0,
                "max_request": 0,
            }
            self.settings = {
                "latency_ms": latency_s * 1000,
                "stream_mbps": stream_bps / MB if stream_bps else 0,
                "max_background": max_background,
            }

        def _real(self, path: str) -> str:
            return os.path.join(self.root, path.lstrip("/"))

        def init_with_config(self, conn_info: Any, config_3: Any) -> None:
            if conn_info is not None and max_background > 0:
                conn_info.max_background = max_background
                conn_info.congestion_threshold = max(1, max_background * 3 // 4)

        def getattr(self, path: str, fh: Any = None) -> dict[str, Any]:
            if path == "/" + STATS_NAME:
                now = time.time_ns()
                return {
                    "st_mode": stat.S_IFREG | 0o444,
                    "st_nlink": 1,
                    "st_size": 1 << 16,
                    "st_mtime": now,
                    "st_atime": now,
                    "st_ctime": now,
                }
            st = os.lstat(self._real(path))
            keys = ("st_mode", "st_nlink", "st_size", "st_uid", "st_gid", "st_blocks")
            out: dict[str, Any] = {k: getattr(st, k) for k in keys}
            out.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns, st_ctime=st.st_ctime_ns)
            return out

        def readdir(self, path: str, fh: int) -> list[str]:
            return [".", "..", *sorted(os.listdir(self._real(path)))]

        def readlink(self, path: str) -> str:
            return os.readlink(self._real(path))

        def statfs(self, path: str) -> dict[str, int]:
            sv = os.statvfs(self._real(path))
            keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree")
            return {k: getattr(sv, k) for k in (*keys, "f_files", "f_frsize", "f_namemax")}

        def open(self, path: str, fi: Any) -> int:
            if fi.flags & (os.O_WRONLY | os.O_RDWR):
                raise mfusepy.FuseOSError(errno.EROFS)
            if path == "/" + STATS_NAME:
                fi.direct_io = 1
                fi.fh = STATS_FH
                return 0
            fd = os.open(self._real(path), os.O_RDONLY)
            fi.fh = fd
            with self.mutex:
                self.streams[fd] = _Stream(fd)
                self.counters["opens"] += 1
            return 0

        def read(self, path: str, size: int, offset: int, fi: Any) -> bytes:
            if fi.fh == STATS_FH:
                with self.mutex:
                    doc = dict(self.counters, settings=self.settings)
                data = json.dumps(doc).encode()
                return data[offset : offset + size]
            stream = self.streams[fi.fh]
            now = time.monotonic()
            with stream.lock:  # one stream per handle: transfers on it are serialised
                start = max(now, stream.busy_until)
                stream.busy_until = start + (size / stream_bps if stream_bps else 0.0)
                ready = stream.busy_until + latency_s
            with self.mutex:
                c = self.counters
                c["inflight"] += 1
                c["peak_inflight"] = max(c["peak_inflight"], c["inflight"])
            data = b""
            try:
                data = os.pread(stream.fd, size, offset)
                delay = ready - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            finally:
                with self.mutex:
                    c["inflight"] -= 1
                    c["requests"] += 1
                    c["bytes"] += len(data)
                    c["max_request"] = max(c["max_request"], size)
            return data

        def release(self, path: str, fi: Any) -> int:
            if fi.fh != STATS_FH:
                with self.mutex:
                    self.streams.pop(fi.fh, None)
                os.close(fi.fh)
            return 0

    return SlowFS()


def serve(
    source: str,
    mountpoint: str,
    latency_ms: float,
    stream_mbps: float,
    max_background: int = 0,
    max_threads: int = 256,
) -> None:
    """Mount and serve in the foreground until unmounted."""
    import mfusepy

    ops = make_operations(source, latency_ms / 1000.0, stream_mbps * MB, max_background)
    options: dict[str, Any] = {
        "foreground": True,
        "ro": True,
        "kernel_cache": True,  # like Jindo's -okernel_cache
        "attr_timeout": 7200,
        "entry_timeout": 7200,
        "fsname": "slowfs",
    }
    if mfusepy.fuse_version_major == 3 and mfusepy.fuse_version_minor >= 12:
        # libfuse's default of 10 worker threads would cap the requests in flight at 10,
        # an artefact of this emulation; the real cache client serves many more at once
        options["max_threads"] = max_threads
    if shutil.which("fusermount3") or shutil.which("fusermount"):
        options["auto_unmount"] = True  # unmounted even if this process is killed
    mfusepy.FUSE(ops, mountpoint, raw_fi=True, **options)


class SlowFSError(RuntimeError):
    pass


def _unmount_cmds(mountpoint: str) -> list[list[str]]:
    cmds = []
    for tool in ("fusermount3", "fusermount"):
        if shutil.which(tool):
            cmds += [[tool, "-u", "-q", mountpoint], [tool, "-u", "-z", "-q", mountpoint]]
            break
    if os.geteuid() == 0 and shutil.which("umount"):
        cmds += [["umount", mountpoint], ["umount", "-l", mountpoint]]
    return cmds


class SlowMount:
    """Mount ``source`` at a temporary mountpoint through slowfs in a child process.

    Always unmounts: on ``__exit__``, at interpreter exit (atexit) and, through libfuse's
    ``auto_unmount`` helper, if this process is killed.
    """

    def __init__(
        self,
        source: str | Path,
        mountpoint: str | Path,
        latency_ms: float = 2.0,
        stream_mbps: float = 200.0,
        max_background: int = 0,
        start_timeout: float = 20.0,
    ) -> None:
        self.source = str(source)
        self.mountpoint = str(mountpoint)
        self.latency_ms = latency_ms
        self.stream_mbps = stream_mbps
        self.max_background = max_background
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.mountpoint + ".log"
        self._created_dir = False

    def __enter__(self) -> SlowMount:
        self.mount()
        return self

    def __exit__(self, *exc: object) -> None:
        self.unmount()

    def mount(self) -> None:
        if not os.path.isdir(self.mountpoint):
            os.makedirs(self.mountpoint)
            self._created_dir = True
        atexit.register(self.unmount)
        cmd = [
            sys.executable,
            os.path.abspath(__file__),
            self.source,
            self.mountpoint,
            f"--latency-ms={self.latency_ms}",
            f"--stream-mbps={self.stream_mbps}",
            f"--max-background={self.max_background}",
        ]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.start_timeout
        while not os.path.ismount(self.mountpoint):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.unmount()
                raise SlowFSError(f"slowfs mount failed: {self.log_tail()}")
            time.sleep(0.05)

    def log_tail(self) -> str:
        try:
            lines = Path(self.log_path).read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return " | ".join(lines[-3:]) or "no output"

    def stats(self) -> dict[str, Any]:
        with open(os.path.join(self.mountpoint, STATS_NAME), "rb") as f:
            return dict(json.loads(f.read()))

    def unmount(self) -> None:
        if os.path.ismount(self.mountpoint):
            for cmd in _unmount_cmds(self.mountpoint):
                with contextlib.suppress(OSError, subprocess.SubprocessError):
                    subprocess.run(cmd, capture_output=True, timeout=30, check=False)
                if not os.path.ismount(self.mountpoint):
                    break
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None
        if self._created_dir and not os.path.ismount(self.mountpoint):
            with contextlib.suppress(OSError):
                os.rmdir(self.mountpoint)
            self._created_dir = False
        with contextlib.suppress(Exception):
            atexit.unregister(self.unmount)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("source")
    parser.add_argument("mountpoint")
    parser.add_argument("--latency-ms", type=float, default=2.0, help="per read request")
    parser.add_argument("--stream-mbps", type=float, default=200.0, help="MB/s per open file")
    parser.add_argument(
        "--max-background", type=int, default=0, help="FUSE max_background (0: kernel default)"
    )
    args = parser.parse_args(argv)
    serve(args.source, args.mountpoint, args.latency_ms, args.stream_mbps, args.max_background)
    return 0


if __name__ == "__main__":
    sys.exit(main())
