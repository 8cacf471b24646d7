"""Bench-only S3 emulation: a read-only S3-compatible HTTP server on 127.0.0.1 that is slow.

The object-storage twin of ``bench/slowfs.py``, with the same cost model so the two can be
compared on the same files: every request pays a fixed latency (``--latency-ms``) and every TCP
connection is one stream capped at ``--stream-mbps`` (MB/s, 1e6 bytes). Requests on one
connection are sequential (HTTP/1.1 keep-alive) and share its bandwidth; different connections do
not, as FUSE file handles do not in slowfs. A client that opens N connections can draw up to
N x ``--stream-mbps``, which is how the Run:ai Model Streamer's concurrency pays off against S3.

It serves one directory as every bucket, path-style (``/<bucket>/<key>``): ``HEAD``/``GET`` of an
object with an optional ``Range: bytes=a-b`` (what the streamer's C++ AWS SDK sends),
``HEAD /<bucket>`` and ``GET /<bucket>?list-type=2&prefix=...`` (ListObjectsV2, one page).
Signatures are not checked. ``GET /__stats`` returns JSON counters (requests, bytes, connections,
peak in-flight requests), which the benchmark uses to prove that every byte of a run came
through the emulation.

Run as a program (the benchmark does this through :class:`S3Emulation`); it prints its port::

    python bench/s3emu.py ROOT [--port 0] [--latency-ms 2] [--stream-mbps 200]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

MB = 1_000_000
PIECE = 1 << 20  # bytes written between pacing checks
STATS_PATH = "/__stats"
RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class Counters:
    """Shared, lock-protected counters (the ``/__stats`` document)."""

    def __init__(self, latency_s: float, stream_bps: float) -> None:
        self.lock = threading.Lock()
        self.values = {
            "requests": 0,
            "get_requests": 0,
            "bytes": 0,
            "connections": 0,
            "inflight": 0,
            "peak_inflight": 0,
            "max_request": 0,
        }
        self.settings = {"latency_ms": latency_s * 1000, "stream_mbps": stream_bps / MB}

    def add(self, **deltas: int) -> None:
        with self.lock:
            for key, delta in deltas.items():
                self.values[key] += delta
            self.values["peak_inflight"] = max(
                self.values["peak_inflight"], self.values["inflight"]
            )

    def note_request_size(self, size: int) -> None:
        with self.lock:
            self.values["max_request"] = max(self.values["max_request"], size)

    def document(self) -> dict[str, Any]:
        with self.lock:
            return dict(self.values, settings=dict(self.settings))


def make_handler(root: Path, latency_s: float, stream_bps: float, counters: Counters) -> type:
    """The request handler class for one server (one instance per connection)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "s3emu"

        def setup(self) -> None:
            super().setup()
            counters.add(connections=1)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        # --- helpers -------------------------------------------------------------------------
        def _split(self) -> tuple[str, str, dict[str, list[str]]]:
            parts = urlsplit(self.path)
            path = unquote(parts.path).lstrip("/")
            bucket, _, key = path.partition("/")
            return bucket, key, parse_qs(parts.query)

        def _file(self, key: str) -> Path | None:
            target = (root / key).resolve()
            if root not in target.parents or not target.is_file():
                return None
            return target

        def _send_bytes(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _error(self, status: int, code: str) -> None:
            body = (
                f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                f"<Message>{code}</Message><Resource>{escape(self.path)}</Resource></Error>"
            ).encode()
            self._send_bytes(status, body, "application/xml")

        def _paced(self, handle: Any, offset: int, length: int, started: float) -> int:
            """Send `length` bytes from `offset`, no faster than the connection's stream."""
            sent = 0
            while sent < length:
                data = os.pread(handle, min(PIECE, length - sent), offset + sent)
                if not data:
                    break
                if stream_bps:
                    due = started + latency_s + (sent + len(data)) / stream_bps
                    delay = due - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                self.wfile.write(data)
                sent += len(data)
            return sent

        # --- verbs ---------------------------------------------------------------------------
        def do_HEAD(self) -> None:
            self._serve(head=True)

        def do_GET(self) -> None:
            if self.path == STATS_PATH:
                self._send_bytes(200, json.dumps(counters.document()).encode(), "application/json")
                return
            self._serve(head=False)

        def _serve(self, head: bool) -> None:
            started = time.monotonic()
            counters.add(requests=1, inflight=1)
            try:
                bucket, key, query = self._split()
                if not bucket:
                    self._error(400, "InvalidBucketName")
                elif not key and "list-type" in query:
                    self._list(bucket, query.get("prefix", [""])[0], started)
                elif not key:
                    self._wait(started)
                    self._send_bytes(200, b"", "application/xml")
                else:
                    self._object(key, head, started)
            finally:
                counters.add(inflight=-1)

        def _wait(self, started: float) -> None:
            delay = started + latency_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)

        def _list(self, bucket: str, prefix: str, started: float) -> None:
            self._wait(started)
            entries = []
            for path in sorted(root.rglob("*")):
                key = path.relative_to(root).as_posix()
                if path.is_file() and key.startswith(prefix):
                    stat = path.stat()
                    modified = datetime.datetime.fromtimestamp(stat.st_mtime, datetime.UTC)
                    entries.append(
                        f"<Contents><Key>{escape(key)}</Key>"
                        f"<LastModified>{modified.strftime('%Y-%m-%dT%H:%M:%S.000Z')}"
                        f'</LastModified><ETag>"{stat.st_size:x}-{stat.st_mtime_ns:x}"</ETag>'
                        f"<Size>{stat.st_size}</Size><StorageClass>STANDARD</StorageClass>"
                        "</Contents>"
                    )
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>'
                '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                f"<Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}</Prefix>"
                f"<KeyCount>{len(entries)}</KeyCount><MaxKeys>1000</MaxKeys>"
                f"<IsTruncated>false</IsTruncated>{''.join(entries)}</ListBucketResult>"
            ).encode()
            self._send_bytes(200, body, "application/xml")

        def _object(self, key: str, head: bool, started: float) -> None:
            target = self._file(key)
            if target is None:
                self._wait(started)
                self._error(404, "NoSuchKey")
                return
            stat = target.stat()
            size = stat.st_size
            start, end, status = 0, size - 1, 200
            wanted = self.headers.get("Range")
            if wanted:
                match = RANGE.match(wanted.strip())
                if match is None or (not match.group(1) and not match.group(2)):
                    self._error(416, "InvalidRange")
                    return
                if match.group(1):
                    start = int(match.group(1))
                    end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
                else:  # suffix range: the last N bytes
                    start = max(0, size - int(match.group(2)))
                if start >= size or start > end:
                    self._error(416, "InvalidRange")
                    return
                status = 206
            length = end - start + 1
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", f'"{size:x}-{stat.st_mtime_ns:x}"')
            self.send_header("Last-Modified", formatdate(stat.st_mtime, usegmt=True))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if head:
                return
            counters.add(get_requests=1)
            counters.note_request_size(length)
            self._wait(started)
            with open(target, "rb") as f:
                sent = self._paced(f.fileno(), start, length, started)
            counters.add(bytes=sent)

    return Handler


def serve(root: str, port: int, latency_ms: float, stream_mbps: float) -> None:
    """Serve in the foreground; print the bound port on the first line of stdout."""
    counters = Counters(latency_ms / 1000.0, stream_mbps * MB)
    handler = make_handler(Path(root).resolve(), latency_ms / 1000.0, stream_mbps * MB, counters)
    # Python's listen backlog of 5 drops connections when the streamer opens its 32 at once.
    ThreadingHTTPServer.request_queue_size = 1024
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


class S3EmuError(RuntimeError):
    pass


class S3Emulation:
    """Run the server over ``root`` in a child process; ``endpoint`` is its URL."""

    def __init__(
        self,
        root: str | Path,
        latency_ms: float = 2.0,
        stream_mbps: float = 200.0,
        start_timeout: float = 20.0,
    ) -> None:
        self.root = str(root)
        self.latency_ms = latency_ms
        self.stream_mbps = stream_mbps
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> S3Emulation:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        cmd = [
            sys.executable,
            os.path.abspath(__file__),
            self.root,
            f"--latency-ms={self.latency_ms}",
            f"--stream-mbps={self.stream_mbps}",
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.stop()
            raise S3EmuError(f"s3emu did not start: {line} {err[-300:]}")
        self.port = int(line)
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                self.stats()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise S3EmuError("s3emu did not answer") from None
                time.sleep(0.05)

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.endpoint + STATS_PATH, timeout=10) as response:
            return dict(json.loads(response.read()))

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            for stream in (self.proc.stdout, self.proc.stderr):
                with contextlib.suppress(Exception):
                    if stream is not None:
                        stream.close()
            self.proc = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("root")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    parser.add_argument("--latency-ms", type=float, default=2.0, help="per request")
    parser.add_argument("--stream-mbps", type=float, default=200.0, help="MB/s per connection")
    args = parser.parse_args(argv)
    serve(args.root, args.port, args.latency_ms, args.stream_mbps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
