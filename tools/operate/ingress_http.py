"""HTTP sessions for requests through the ingress NLB that may wait minutes for a cold start.

An NLB closes a TCP flow on which neither side sent anything for 350 s (the default TCP idle
timeout; AWS Elastic Load Balancing guide, "Update the TCP idle timeout for your Network Load
Balancer listener"), and a scale-from-zero request sends nothing until the model answers. TCP
keepalive probes every 60 s keep the flow alive (curl does this by default; Python's sockets do
not), so a cold start is bounded by the stack's request timeout, not by the load balancer.
"""

from __future__ import annotations

import socket
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection

KEEPALIVE_SECONDS = 60
"""Idle time before the first probe and between probes: well under the NLB's 350 s."""


def keepalive_options() -> list[tuple[int, int, int]]:
    options = [*HTTPConnection.default_socket_options, (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name in ("TCP_KEEPIDLE", "TCP_KEEPINTVL"):  # Linux names; macOS has TCP_KEEPALIVE
        if hasattr(socket, name):
            options.append((socket.IPPROTO_TCP, getattr(socket, name), KEEPALIVE_SECONDS))
    if not hasattr(socket, "TCP_KEEPIDLE") and hasattr(socket, "TCP_KEEPALIVE"):
        options.append((socket.IPPROTO_TCP, socket.TCP_KEEPALIVE, KEEPALIVE_SECONDS))
    return options


class KeepaliveAdapter(HTTPAdapter):
    """HTTPAdapter whose pooled connections carry the keepalive socket options."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["socket_options"] = keepalive_options()
        super().init_poolmanager(*args, **kwargs)


def keepalive_session() -> requests.Session:
    """A session whose connections send TCP keepalive probes every KEEPALIVE_SECONDS."""
    session = requests.Session()
    session.mount("http://", KeepaliveAdapter())
    session.mount("https://", KeepaliveAdapter())
    return session
