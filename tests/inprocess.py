"""A network in this test process, without Ray or a socket: the product's own nodes,
client, membership and gateway app, wired as ``dwp up`` wires them.

Each node is the product's ``dwp.node.actor.StorageNode`` (a ``Node`` over a ``Replica`` and
a SQLite store in its data dir, with one writer thread), here not in a Ray actor; nodes reach
each other, and the gateway's ``NetworkClient`` reaches them, through
``dwp.node.local_transport.LocalTransport``. Nodes and app share one event loop, run by a blocking
portal in a background thread, so tests stay synchronous: their httpx client hands each
request to the app on that loop (``PortalTransport``).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
from anyio.from_thread import BlockingPortal
from fastapi import FastAPI

from dwp.client.membership import Membership
from dwp.client.network import NetworkClient
from dwp.core.transport import Handler
from dwp.core.view import View
from dwp.local import LOCAL_HOST, NodeHomes, open_network
from dwp.node.actor import StorageNode
from dwp.node.local_transport import LocalTransport
from dwp.node.loop import NodeSettings

# No server listens here: requests never leave the process (see ``PortalTransport``).
URL = "http://127.0.0.1:8000"
SETTINGS = NodeSettings("test", anti_entropy_interval=1.0)


class InProcessNodes:
    """The nodes, and the ``Launcher`` a ``Membership`` starts and stops them with."""

    def __init__(self, data_dir: Path) -> None:
        self.homes = NodeHomes(data_dir)
        self.nodes: dict[str, Handler] = {}  # LocalTransport's: a node not in it is down
        self._running: dict[str, StorageNode] = {}

    def transport(self, sender: str) -> LocalTransport:
        return LocalTransport(sender, self.nodes)

    def local_host(self) -> str:
        return LOCAL_HOST

    async def start(self, view: View, node_id: str, initial: View | None = None) -> None:
        """Open the node's store and start its loop (a running node is left as it is)."""
        if node_id in self.nodes:
            return
        node = StorageNode(node_id, self.homes.of(view, node_id), (initial or view).to_json(),
                           SETTINGS, self.transport(node_id), lambda: self._forget(node_id))
        self.nodes[node_id] = node
        self._running[node_id] = node

    def _forget(self, node_id: str) -> None:
        """A node that left ended by itself (its store is closed, its dir gone)."""
        self.nodes.pop(node_id, None)
        self._running.pop(node_id, None)

    async def stop(self, node_id: str) -> None:
        """The node goes down: its loop stops, its last commit finishes, its store closes."""
        self.nodes.pop(node_id, None)
        running = self._running.pop(node_id, None)
        if running is not None:
            running.close()

    async def stop_all(self) -> None:
        for node_id in list(self._running):
            await self.stop(node_id)

    async def discard(self, view: View, node_id: str) -> None:
        await self.stop(node_id)
        shutil.rmtree(self.homes.of(view, node_id), ignore_errors=True)

    def record(self, view: View) -> None:
        (self.homes.data_dir / "view.json").write_text(view.to_json())


class PortalTransport(httpx.BaseTransport):
    """A synchronous httpx transport into an ASGI app whose requests run on the portal's
    event loop, where the nodes live (an app request on another loop would wait on
    futures of the nodes' loop). The body is read whole both ways."""

    def __init__(self, app: FastAPI, portal: BlockingPortal) -> None:
        self.asgi = httpx.ASGITransport(app)  # from 127.0.0.1: the local user
        self.portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # a sync body stream becomes bytes the async side can send
        return self.portal.call(self._send, request)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        response = await self.asgi.handle_async_request(request)
        body = b"".join([part async for part in response.stream])
        # a stream, not content: httpx decodes a Content-Encoding only when it is read,
        # so a test can read the bytes as sent with iter_raw()
        return httpx.Response(response.status_code, headers=response.headers,
                              stream=httpx.ByteStream(body))


@dataclass(frozen=True)
class InProcessNetwork:
    client: NetworkClient
    secret: str
    membership: Membership
    portal: BlockingPortal  # runs the nodes' event loop


@contextlib.contextmanager
def in_process_network(data_dir: Path, nodes: int = 4, replicas: int = 2, **create: Any
                       ) -> Iterator[InProcessNetwork]:
    """Create (or reopen) the network in ``data_dir`` and run its nodes until the caller
    is done, then stop them. ``create``: more of ``open_network``'s settings."""
    view, secret = open_network(data_dir, name="test", nodes=nodes, replicas=replicas,
                                **create)
    launcher = InProcessNodes(data_dir)
    with anyio.from_thread.start_blocking_portal() as portal:
        try:
            client, membership = portal.call(_start, view, secret, launcher)
            yield InProcessNetwork(client, secret, membership, portal)
        finally:
            portal.call(launcher.stop_all)


async def _start(view: View, secret: str, launcher: InProcessNodes
                 ) -> tuple[NetworkClient, Membership]:
    """What ``dwp.local`` does for ``dwp up``: start every node, then recover any change
    a previous coordinator left prepared."""
    for spec in view.nodes:
        await launcher.start(view, spec.id)
    client = NetworkClient(view, launcher.transport("gateway"), secret)
    membership = Membership(client, launcher)
    await membership.recover()
    return client, membership
