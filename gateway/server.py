"""Serving the app: uvicorn, with bounds on what a client may send before its request
starts, for ``dwp up`` and each of its workers.

uvicorn's httptools protocol reads a request's head (request line and headers) for as
long and as large as the client likes: 64 MiB of headers were accepted, and a client
sending a byte now and then held its connection for good. ``BoundedHttp`` adds both
bounds: a head over ``MAX_HEAD_BYTES`` gets 431, and a head not complete
``HEAD_SECONDS`` after the connection opened (or, on a kept-alive connection, after the
next request's first byte) gets 408; either way the connection is closed. Idle kept-alive
connections close after uvicorn's ``timeout_keep_alive``.
"""

from __future__ import annotations

import asyncio
import json
import socket
from http import HTTPStatus
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway import identity

MAX_HEAD_BYTES = 32 * 1024  # a context token (8 KiB at most) and cookies fit many times
HEAD_SECONDS = 10.0
KEEP_ALIVE_SECONDS = 5


class HeadTooLarge(Exception):
    """Raised from a parser callback, which makes the parser stop at once."""


class BoundedHttp(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_bytes = 0
        self._too_large = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._start_head_timer()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._stop_head_timer()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a parser error, which a head too large is, here."""
        if self._too_large:
            self._refuse(431, f"the request's line and headers are over {MAX_HEAD_BYTES} bytes")
        else:
            super().send_400_response(msg)

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            self._too_large = True
            raise HeadTooLarge

    def _start_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(HEAD_SECONDS, self._head_too_slow)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self._refuse(408, f"the request's line and headers did not arrive within "
                              f"{HEAD_SECONDS:.0f} seconds")

    def _refuse(self, status: int, detail: str) -> None:
        """A JSON error, as the app's, then close: the rest of the request is unread."""
        phrase = HTTPStatus(status).phrase
        body = json.dumps({"error": phrase.lower(), "detail": detail}).encode()
        head = (f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n"
                f"{identity.HEADER.decode()}: {identity.VERSION.decode()}\r\n\r\n")
        self.transport.write(head.encode() + body)
        self.transport.close()


def listening_socket(host: str, port: int, shared: bool = False) -> socket.socket:
    """A listening socket; ``shared``: with ``SO_REUSEPORT``, so the other processes of
    one ``dwp up --workers`` bind the same address and the kernel spreads connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def claim_port(host: str, port: int, shared: bool) -> socket.socket:
    """The gateway's socket, bound before anything else starts, so a busy port is
    refused at once. A shared one is probed without ``SO_REUSEPORT`` first: binding with
    it could join another program's (or another ``dwp up``'s) socket on that port."""
    if shared:
        listening_socket(host, port).close()
    return listening_socket(host, port, shared)


def config(app: Any, **options: Any) -> uvicorn.Config:
    """How ``dwp up`` and its workers serve ``app`` (on sockets they bound themselves)."""
    return uvicorn.Config(app, http=BoundedHttp, timeout_keep_alive=KEEP_ALIVE_SECONDS,
                          log_level="warning", access_log=False, **options)


def serve(app: Any, sock: socket.socket) -> None:
    uvicorn.Server(config(app)).run(sockets=[sock])
