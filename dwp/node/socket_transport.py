"""The gateway's transport: writes and reads over a node's data socket when this process
can reach it (same machine, same user), everything else over Ray.

One connection per node per process (per event loop), requests multiplexed by id. The
socket's address is learned over Ray (``StorageNode.data_socket``), checked at connect
against the node's start (``nonce``), and learned again after a connection fails, so a
restarted actor is found where it binds again. A node on another machine, one whose dir
this process may not enter, or an actor from before the socket existed is reached over
Ray, as before. A call times out into ``Unreachable``, as over Ray.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
from typing import Any, TypeVar, cast

from ray.exceptions import RayError

from dwp.core.frames import (
    CARRIED,
    MAX_REPLY_BYTES,
    MAX_REQUEST_BYTES,
    FrameError,
    FrameReader,
    NodeFailed,
    decode_hello,
    decode_reply,
    encode_request,
    frame,
)
from dwp.core.messages import Message
from dwp.core.transport import Unreachable
from dwp.node.actor import RayTransport
from dwp.node.data_socket import SocketAddress, addressable, machine

RAY_ONLY_FOR = 10.0  # seconds a node whose socket could not be reached stays on Ray
R = TypeVar("R")
ENV_SWITCH = "DWP_DATA_SOCKET"  # "0": every message over Ray (for benchmarks, or a fault)


def socket_enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "1") != "0"


class SocketTransport(RayTransport):
    """``RayTransport``, with the messages the data socket carries sent on it."""

    def __init__(self, namespace: str, sender: str = "") -> None:
        super().__init__(namespace, sender)
        self.machine = machine()
        self._addresses: dict[str, SocketAddress] = {}
        # by node and event loop: a connection serves the loop it was made on
        self._connections: dict[tuple[str, int], _Connection] = {}
        self._opening: dict[tuple[str, int], asyncio.Task[_Connection | None]] = {}
        self._ray_until: dict[str, float] = {}

    def forget(self, node: str) -> None:
        super().forget(node)
        self._addresses.pop(node, None)
        self._ray_until.pop(node, None)
        for key in [k for k in self._connections if k[0] == node]:
            self._connections.pop(key).close()

    async def call(self, node: str, message: Message[R], timeout: float) -> R:
        if isinstance(message, CARRIED):
            deadline = time.monotonic() + timeout
            conn = await self._connection(node, timeout)
            if conn is not None:
                request_id = conn.next_id()
                body = encode_request(request_id, self.sender, message)
                if len(body) <= MAX_REQUEST_BYTES:  # one call's time, connecting included
                    left = max(deadline - time.monotonic(), 0.001)
                    return await conn.request(request_id, body, left)
        return await super().call(node, message, timeout)

    async def _connection(self, node: str, timeout: float) -> _Connection | None:
        """The node's open connection on this loop, one opened now, or None: use Ray."""
        loop = asyncio.get_running_loop()
        key = (node, id(loop))
        conn = self._connections.get(key)
        if conn is not None and conn.alive and conn.loop is loop:
            return conn
        if self._ray_until.get(node, 0.0) > time.monotonic():
            return None
        opening = self._opening.get(key)
        if opening is None or opening.get_loop() is not loop:
            opening = loop.create_task(self._open(key, timeout))
            self._opening[key] = opening
            opening.add_done_callback(lambda t: self._opening.pop(key, None)
                                      if self._opening.get(key) is t else None)
        return await asyncio.shield(opening)

    async def _open(self, key: tuple[str, int], timeout: float) -> _Connection | None:
        """Connect with the address known, or with a fresh one if that fails; None (and
        Ray for a while) if this process cannot reach the node's socket."""
        node = key[0]
        self._drop(key)
        known = self._addresses.get(node)
        if known is not None:
            with contextlib.suppress(OSError, FrameError, TimeoutError):
                return self._keep(key, await _Connection.connect(known, timeout))
            self._addresses.pop(node, None)
        address = await self._learn(node, timeout)
        if address is not None and address.machine == self.machine:
            self._addresses[node] = address
            with contextlib.suppress(OSError, FrameError, TimeoutError):
                return self._keep(key, await _Connection.connect(address, timeout))
            self._addresses.pop(node, None)
        self._ray_until[node] = time.monotonic() + RAY_ONLY_FOR
        return None

    def _drop(self, key: tuple[str, int]) -> None:
        """Close ``key``'s old connection, and forget those of loops that have ended."""
        old = self._connections.pop(key, None)
        if old is not None:
            old.close()
        for ended in [k for k, c in self._connections.items() if c.loop.is_closed()]:
            del self._connections[ended]

    def _keep(self, key: tuple[str, int], conn: _Connection) -> _Connection:
        self._connections[key] = conn
        return conn

    async def _learn(self, node: str, timeout: float) -> SocketAddress | None:
        """The node's socket address, asked over Ray (None: it serves none)."""
        try:
            method = self.handle_of(node).data_socket
        except AttributeError:  # an actor started by a dwp from before the data socket
            return None
        try:
            address = await asyncio.wait_for(method.remote(), timeout)
        except (RayError, TimeoutError) as exc:
            self._handles.pop(node, None)
            raise Unreachable(f"node {node}: {type(exc).__name__}") from exc
        return address if isinstance(address, SocketAddress) else None


class _Connection(asyncio.Protocol):
    """One open data socket: requests out with ids, replies matched back to their calls."""

    def __init__(self, address: SocketAddress) -> None:
        self.address = address
        self.loop = asyncio.get_running_loop()
        self.reader = FrameReader(MAX_REPLY_BYTES)
        self.hello: asyncio.Future[tuple[str, str]] = self.loop.create_future()
        self.hello.add_done_callback(lambda f: f.cancelled() or f.exception())  # seen
        self.pending: dict[int, asyncio.Future[object]] = {}
        self.transport: asyncio.Transport | None = None
        self.alive = False
        self._ids = itertools.count(1)

    @classmethod
    async def connect(cls, address: SocketAddress, timeout: float) -> _Connection:
        """Connect, and check that the node of ``address``, in the same start, answers."""
        loop = asyncio.get_running_loop()
        with addressable(address.path) as name:
            _, conn = await asyncio.wait_for(
                loop.create_unix_connection(lambda: cls(address), name), timeout)
        try:
            node, nonce = await asyncio.wait_for(asyncio.shield(conn.hello), timeout)
            if (node, nonce) != (address.node, address.nonce):
                raise FrameError(f"{address.path} is served by another start of the node")
        except BaseException:
            conn.close()
            raise
        conn.alive = True
        return conn

    def next_id(self) -> int:
        return next(self._ids)

    async def request(self, request_id: int, body: bytes, timeout: float) -> Any:
        if not self.alive or self.transport is None:
            raise Unreachable(f"node {self.address.node}: data socket lost")
        answer: asyncio.Future[object] = self.loop.create_future()
        self.pending[request_id] = answer
        self.transport.write(frame(body))
        try:
            reply = await asyncio.wait_for(answer, timeout)
        except TimeoutError as exc:
            raise Unreachable(f"node {self.address.node}: TimeoutError") from exc
        finally:
            self.pending.pop(request_id, None)
        if isinstance(reply, NodeFailed):
            raise Unreachable(f"node {self.address.node}: {reply}")
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        try:
            for body in self.reader.feed(data):
                if not self.hello.done():
                    self.hello.set_result(decode_hello(body))
                    continue
                request_id, reply = decode_reply(body)
                answer = self.pending.get(request_id)
                if answer is not None and not answer.done():
                    answer.set_result(reply)
        except FrameError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionResetError("the node closed the data socket"))

    def _fail(self, exc: BaseException) -> None:
        self.alive = False
        if not self.hello.done():
            self.hello.set_exception(exc if isinstance(exc, OSError | FrameError)
                                     else OSError(str(exc)))
        lost = Unreachable(f"node {self.address.node}: data socket lost ({exc})")
        for answer in self.pending.values():
            if not answer.done():
                answer.set_exception(lost)
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        """From any thread: the transport is aborted on its own loop."""
        self.alive = False
        if self.transport is None:
            return
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is self.loop:
            self.transport.abort()
            return
        with contextlib.suppress(RuntimeError):  # its loop has ended
            self.loop.call_soon_threadsafe(self.transport.abort)
