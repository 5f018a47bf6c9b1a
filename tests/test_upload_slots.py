"""The client's chunk upload slots come back on every path: a chunk write that fails
outright fails its upload, and leaves every slot free for the next one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from dwp.client.network import NetworkClient
from dwp.core.errors import Unavailable
from dwp.core.messages import Message, PutChunks
from dwp.core.token import Token
from dwp.core.transport import Unreachable
from dwp.core.version import CHUNK_SIZE
from dwp.core.view import NodeSpec, View

SLOTS = 8


class ChunkNodes:
    """Nodes that refuse every chunk until ``healed``, then store them."""

    def __init__(self) -> None:
        self.healed = False

    async def call(self, node: str, message: Message, timeout: float) -> Any:
        assert isinstance(message, PutChunks), message
        await asyncio.sleep(0)
        if not self.healed:
            raise Unreachable(f"node {node} is down")
        return None


async def slow_body(chunks: int) -> AsyncIterator[bytes]:
    """A client sending chunk after chunk, so earlier chunk writes end in between."""
    for i in range(chunks):
        yield bytes([i]) * CHUNK_SIZE
        await asyncio.sleep(0.01)


async def upload(client: NetworkClient, chunks: int) -> str:
    """How an upload ended: "stored", "failed", or "hung" (a leaked slot never comes
    back, so an upload that needs it waits for good)."""
    try:
        await asyncio.wait_for(client._store_content(
            slow_body(chunks), "application/octet-stream", Token()), timeout=30)
    except Unavailable:
        return "failed"
    except TimeoutError:
        return "hung"
    return "stored"


async def uploads_after_failures(failures: int) -> list[str]:
    nodes = ChunkNodes()
    view = View.create("t", [NodeSpec("n1", "h"), NodeSpec("n2", "h")], 2)
    client = NetworkClient(view, nodes, "secret", chunk_parallelism=SLOTS)
    ended = [await upload(client, 4) for _ in range(failures)]
    nodes.healed = True
    return [*ended, await upload(client, SLOTS + 2)]


def test_failed_chunk_writes_return_their_slots() -> None:
    assert asyncio.run(uploads_after_failures(SLOTS + 1)) == ["failed"] * (SLOTS + 1) + [
        "stored"]
