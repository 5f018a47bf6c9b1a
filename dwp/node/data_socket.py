"""The node's data socket: a unix socket in its private data dir that the node serves
itself, so a gateway on the same machine writes without a Ray call (~3 ms each).

Ray still creates, places and restarts the actor and carries every other message; a
frame here goes to the same ``node.handle`` as the Ray method does. The dir's mode
(0700, ``dwp.node.private``) is the authentication: only its owner can reach the file,
and nothing listens on the network. Frames are ``dwp.core.frames``; nothing is unpickled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import stat
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from dwp.core.errors import DwpError
from dwp.core.frames import (
    MAX_REPLY_BYTES,
    MAX_REQUEST_BYTES,
    FrameError,
    FrameReader,
    decode_request,
    encode_failure,
    encode_hello,
    encode_reply,
    frame,
)
from dwp.node.private import tighten

SOCKET_NAME = "data.sock"
MAX_PATH = 100  # sun_path holds 108 bytes; a longer path is reached through its dir's fd
log = logging.getLogger("dwp.node.data_socket")


def machine() -> str:
    """This machine, as the processes that share its files know it: host name and boot."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}"


@dataclass(frozen=True)
class SocketAddress:
    """Where a node serves its data socket, learned over Ray (``StorageNode.data_socket``):
    usable only on ``machine``; ``nonce`` tells this start of the node from another."""

    path: str
    machine: str
    node: str
    nonce: str
    served: int  # requests answered on it since the node started


@contextlib.contextmanager
def addressable(path: str) -> Iterator[str]:
    """A name for ``path`` short enough to bind or connect to: itself, or the same file
    through a descriptor of its dir (Linux), which keeps the dir's permission checks."""
    if len(os.fsencode(path)) <= MAX_PATH:
        yield path
        return
    parent, name = os.path.split(path)
    fd = os.open(parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{name}"
    finally:
        os.close(fd)


class DataSocketServer:
    """Serves ``handle`` (the node's) on ``data_dir``/data.sock, on the running loop."""

    def __init__(self, data_dir: Path, node_id: str,
                 handle: Callable[[str, Any], Awaitable[Any]]) -> None:
        self.path = data_dir / SOCKET_NAME
        self.node_id = node_id
        self.handle = handle
        self.nonce = secrets.token_hex(8)
        self.served = 0
        self._server: asyncio.AbstractServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._connections: set[_Connection] = set()

    def start(self) -> None:
        """Bind now (a client may connect as soon as the node answers over Ray) and
        serve on the running loop; a dir others may enter gets no socket at all."""
        tighten(self.path.parent)
        st = self.path.parent.stat()
        if st.st_uid != os.geteuid() or st.st_mode & 0o077:
            raise PermissionError(f"{self.path.parent} is not private to its owner")
        with contextlib.suppress(FileNotFoundError):  # a previous start's
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with addressable(str(self.path)) as name:
                sock.bind(name)
            os.chmod(self.path, stat.S_IRUSR | stat.S_IWUSR)
            sock.listen(64)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._serve(sock))

    async def _serve(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: _Connection(self), sock=sock)

    def address(self) -> SocketAddress:
        return SocketAddress(str(self.path), machine(), self.node_id, self.nonce, self.served)

    def close(self) -> None:
        """Stop listening and drop every connection (clients then fall back or retry)."""
        if self._task is not None:
            self._task.cancel()
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.abort()
        with contextlib.suppress(OSError):
            self.path.unlink()


class _Connection(asyncio.Protocol):
    """One client: frames in, each handled as it arrives, replies out in any order."""

    def __init__(self, server: DataSocketServer) -> None:
        self.server = server
        self.reader = FrameReader(MAX_REQUEST_BYTES)
        self.transport: asyncio.Transport | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.server._connections.add(self)
        self.transport.write(frame(encode_hello(self.server.node_id, self.server.nonce)))

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._connections.discard(self)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        try:
            bodies = self.reader.feed(data)
            requests = [decode_request(body) for body in bodies]
        except FrameError as exc:
            log.warning("data socket of %s: dropping a client that sent %s",
                        self.server.node_id, exc)
            self.abort()
            return
        loop = asyncio.get_running_loop()
        for request_id, sender, message in requests:
            task = loop.create_task(self._answer(request_id, sender, message))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _answer(self, request_id: int, sender: str, message: Any) -> None:
        try:
            body = encode_reply(request_id, await self.server.handle(sender, message))
        except DwpError as exc:
            body = encode_reply(request_id, exc)
        except Exception as exc:  # as a Ray task error: the client treats it as unreachable
            log.exception("data socket request failed")
            body = encode_failure(request_id, f"{type(exc).__name__}: {exc}")
        if len(body) > MAX_REPLY_BYTES:
            body = encode_failure(request_id, "the reply is too large for the data socket")
        self.server.served += 1
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(body))
