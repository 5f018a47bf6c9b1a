"""The Ray shell: the StorageNode actor around a node loop, and the Ray transport.

The actor owns a SQLite store in its data dir and one writer thread for it; every
message arrives through ``handle``. It is detached and restarts with its host, reopening
the same data dir. Nothing here decides anything about the data.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import ray
from ray.exceptions import RayActorError, RayError, RayTaskError

from dwp.core.errors import DwpError
from dwp.core.messages import Message
from dwp.core.replica import Replica
from dwp.core.transport import Transport, Unreachable
from dwp.core.view import View
from dwp.node.data_socket import DataSocketServer, SocketAddress
from dwp.node.loop import Node, NodeSettings
from dwp.node.sqlite import SqliteStore

# A restarted actor may start while its predecessor's process is still ending (and
# holding the store's lock); past this, it fails and Ray restarts it again.
STORE_WAIT = 10.0
R = TypeVar("R")
log = logging.getLogger("dwp.node.actor")


def actor_name(node_id: str) -> str:
    return f"node-{node_id}"


class RayTransport:
    """Messages as actor calls; handles are looked up once and kept (a lookup costs
    about as much as a call)."""

    def __init__(self, namespace: str, sender: str = "") -> None:
        self.namespace = namespace
        self.sender = sender
        self._handles: dict[str, Any] = {}

    def handle_of(self, node: str) -> Any:
        handle = self._handles.get(node)
        if handle is None:
            try:
                handle = ray.get_actor(actor_name(node), namespace=self.namespace)
            except ValueError as exc:
                raise Unreachable(f"node {node} is not running") from exc
            self._handles[node] = handle
        return handle

    def forget(self, node: str) -> None:
        """Drop the handle of a stopped actor: one started later under its name is new."""
        self._handles.pop(node, None)

    async def call(self, node: str, message: Message[R], timeout: float) -> R:
        try:
            ref = self.handle_of(node).handle.remote(self.sender, message)
            return await asyncio.wait_for(ref, timeout)
        except DwpError as exc:  # the node's own error, which Ray wraps with its traceback
            cause = exc.cause if isinstance(exc, RayTaskError) else exc
            raise cause from None
        except (RayError, TimeoutError) as exc:
            if isinstance(exc, RayActorError):
                self._handles.pop(node, None)
            raise Unreachable(f"node {node}: {type(exc).__name__}") from exc


class StorageNode:
    """A node over its SQLite store in its data dir, with one writer thread for it; in a
    Ray actor (``StorageNodeActor``) or, for tests, in process over another transport,
    ended by ``end`` instead of by Ray."""

    def __init__(self, node_id: str, data_dir: str, view_json: str, settings: NodeSettings,
                 transport: Transport | None = None,
                 end: Callable[[], None] | None = None) -> None:
        self.data_dir = Path(data_dir).expanduser()
        self.store = SqliteStore(self.data_dir / "replica.db", f"storage node {node_id}",
                                 wait=STORE_WAIT)
        replica = Replica(node_id, View.from_json(view_json), self.store,
                          lambda: secrets.token_hex(3), time.time)
        self.writer = ThreadPoolExecutor(1, thread_name_prefix=f"dwp-writer-{node_id}")
        self._end = end or _end_this_actor
        loop = asyncio.get_running_loop()
        self.node = Node(replica, transport or RayTransport(settings.namespace, node_id),
                         settings, lambda fn: loop.run_in_executor(self.writer, fn),
                         self._depart)
        self.node.start()
        self.socket: DataSocketServer | None = DataSocketServer(self.data_dir, node_id,
                                                                self.handle)
        try:
            self.socket.start()
        except OSError as exc:  # every client reaches it over Ray instead
            log.warning("node %s serves no data socket: %s", node_id, exc)
            self.socket = None

    async def handle(self, sender: str, message: Message[R]) -> R:
        return await self.node.handle(sender, message)

    def data_socket(self) -> SocketAddress | None:
        """Where this node serves writes and reads on its own socket (``dwp.node.data_socket``)."""
        return self.socket.address() if self.socket is not None else None

    def close(self) -> None:
        """Stop the loop and the data socket, let the last commit finish, close the store."""
        if self.socket is not None:
            self.socket.close()
        self.node.stop()
        self.writer.shutdown(wait=True)
        self.store.close()

    def _depart(self) -> None:
        """The node left and every other node holds what it held: its data dir goes, and
        the node ends for good."""
        self.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self._end()


def _end_this_actor() -> None:
    """For good: a detached actor with unlimited restarts would come back from an exit."""
    ray.kill(ray.get_runtime_context().current_actor, no_restart=True)


StorageNodeActor = ray.remote(StorageNode)
