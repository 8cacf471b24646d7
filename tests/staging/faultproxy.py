"""A small HTTP proxy for tests: sits between an S3 client and moto on 127.0.0.1 and injects
failures (5xx answers, connection resets, lost responses, 403s) chosen by a rule."""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# What a rule may answer for one request.
RESET = "reset"  # close the client connection with RST before forwarding
DROP_RESPONSE = "drop-response"  # forward, then reset instead of relaying the answer
Fault = int | str  # an HTTP status to answer with an S3 error body, or RESET / DROP_RESPONSE
Rule = Callable[[str, str, Message], Fault | None]

_ERROR_CODES = {403: "AccessDenied", 500: "InternalError", 503: "SlowDown"}
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "expect"}


def error_body(status: int) -> bytes:
    code = _ERROR_CODES.get(status, "InternalError")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>injected by test proxy</Message>"
        "<RequestId>faultproxy</RequestId></Error>"
    ).encode()


@dataclass
class RandomFaults:
    """Fails about ``rate`` of requests, at most ``max_faults`` in all, cycling through 500,
    503 and connection resets so that every kind occurs once three faults have happened. The
    choice of which request (by arrival number) fails is fixed by ``seed``."""

    seed: int = 7
    rate: float = 0.3
    max_faults: int = 9
    kinds: tuple[Fault, ...] = (500, RESET, 503)
    injected: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def __call__(self, method: str, path: str, headers: Message) -> Fault | None:
        with self._lock:
            hit = self._rng.random() < self.rate
            if not hit or len(self.injected) >= self.max_faults:
                return None
            fault = self.kinds[len(self.injected) % len(self.kinds)]
            self.injected.append(fault)
            return fault


def deny_writes(method: str, path: str, headers: Message) -> Fault | None:
    """Read-only credentials: every PUT/POST gets 403 AccessDenied."""
    return 403 if method in ("PUT", "POST") else None


class FaultProxy:
    def __init__(self, upstream: str, rule: Rule) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.rule = rule
        self.requests = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _read_body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline().strip():
                                pass  # trailers
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _reset(self) -> None:
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
                self.close_connection = True

            def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _handle(self) -> None:
                body = self._read_body()
                with proxy._lock:
                    proxy.requests += 1
                fault = proxy.rule(self.command, self.path, self.headers)
                if fault == RESET:
                    self._reset()
                    return
                if isinstance(fault, int):
                    self._answer(fault, [("Content-Type", "application/xml")], error_body(fault))
                    return
                upstream = http.client.HTTPConnection(*proxy._upstream, timeout=60)
                try:
                    forwarded = {
                        k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP
                    }
                    forwarded["Content-Length"] = str(len(body))
                    upstream.request(self.command, self.path, body=body, headers=forwarded)
                    response = upstream.getresponse()
                    data = response.read()
                    headers = [
                        (k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP
                    ]
                finally:
                    upstream.close()
                if fault == DROP_RESPONSE:
                    self._reset()
                    return
                self._answer(response.status, headers, data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # resets make the handler's final flush fail; that is the point

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
