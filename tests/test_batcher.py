"""Per-node write batching (``dwp.client.batcher``) against a scripted node: what goes in one
call, and how each write is answered or refused on its own."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from dwp.client.batcher import Batcher
from dwp.core.errors import NotFound, NotOwner
from dwp.core.messages import MAX_MESSAGE_BYTES, Batch, Message, Put, PutChunks, Written
from dwp.core.transport import Unreachable
from dwp.core.version import Version
from tests.inprocess import in_process_network


def put(key: str, size: int = 10) -> Put:
    return Put(key, Version("text/plain", size, b"h" * 32, 0.0, data=b"d" * size), None)


class ScriptedNode:
    """Answers each write with its key (a PutChunks with None), refuses keys starting
    with 'bad', and holds each call until the test releases it."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[Message] = []
        self.release = asyncio.Event()
        self.fail = fail

    async def send(self, node: str, message: Message, timeout: float) -> Any:
        self.calls.append(message)
        await self.release.wait()
        if self.fail:
            raise Unreachable(f"node {node} is down")
        if isinstance(message, Batch):
            return [self.answer(w) for w in message.writes]
        answer = self.answer(message)
        if isinstance(answer, Exception):
            raise answer
        return answer

    @staticmethod
    def answer(write: Message) -> Any:
        if isinstance(write, PutChunks):
            return None
        assert isinstance(write, Put)
        return NotFound(write.key) if write.key.startswith("bad") else write.key


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_lone_write_goes_alone_and_the_rest_queue_for_one_batch() -> None:
    async def scenario() -> None:
        node = ScriptedNode()
        batcher = Batcher(node.send)
        first = asyncio.create_task(batcher.call("n1", put("a"), 1.0))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        rest = [asyncio.create_task(batcher.call("n1", put(k), 1.0)) for k in "bcd"]
        await asyncio.sleep(0)
        node.release.set()
        assert await first == "a"
        assert [await t for t in rest] == ["b", "c", "d"]
        assert isinstance(node.calls[0], Put)
        assert isinstance(node.calls[1], Batch)
        assert [w.key for w in node.calls[1].writes] == ["b", "c", "d"]  # type: ignore[union-attr]
        assert len(node.calls) == 2
    run(scenario())


def test_a_refusal_is_that_writes_alone() -> None:
    async def scenario() -> None:
        node = ScriptedNode()
        node.release.set()
        batcher = Batcher(node.send)
        tasks = [asyncio.create_task(batcher.call("n1", put(k), 1.0))
                 for k in ("a", "bad", "c")]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert results[0] == "a" and results[2] == "c"
        assert isinstance(results[1], NotFound)
    run(scenario())


def test_an_unreachable_node_fails_every_write_of_the_call() -> None:
    async def scenario() -> None:
        node = ScriptedNode(fail=True)
        node.release.set()
        batcher = Batcher(node.send)
        tasks = [asyncio.create_task(batcher.call("n1", put(k), 1.0)) for k in "abc"]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, Unreachable) for r in results)
    run(scenario())


def test_a_full_chunk_goes_at_once_beside_a_call_in_flight() -> None:
    async def scenario() -> None:
        node = ScriptedNode()
        batcher = Batcher(node.send)
        small = asyncio.create_task(batcher.call("n1", put("a"), 1.0))
        big = PutChunks([(b"c" * 32, b"x" * (64 * 1024))])
        chunks = [asyncio.create_task(batcher.call("n1", big, 1.0)) for _ in range(2)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert len(node.calls) == 3  # none waited for another
        node.release.set()
        assert await small == "a"
        assert await asyncio.gather(*chunks) == [None, None]
    run(scenario())


def test_a_call_stays_under_the_byte_bound() -> None:
    async def scenario() -> None:
        node = ScriptedNode()
        batcher = Batcher(node.send)
        chunk = PutChunks([(b"c" * 32, b"x" * (40 * 1024))])
        tasks = [asyncio.create_task(batcher.call("n1", chunk, 1.0)) for _ in range(5)]
        await asyncio.sleep(0)
        node.release.set()
        await asyncio.gather(*tasks)
        sizes = [sum(len(d) for w in (m.writes if isinstance(m, Batch) else [m])
                     for _, d in w.chunks)  # type: ignore[union-attr]
                 for m in node.calls]
        assert sum(sizes) == 5 * 40 * 1024
        assert max(sizes) <= MAX_MESSAGE_BYTES
    run(scenario())


def test_nodes_have_their_own_lanes() -> None:
    async def scenario() -> None:
        node = ScriptedNode()
        batcher = Batcher(node.send)
        tasks = [asyncio.create_task(batcher.call(n, put(n), 1.0)) for n in ("n1", "n2")]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert len(node.calls) == 2  # neither waited for the other
        node.release.set()
        assert await asyncio.gather(*tasks) == ["n1", "n2"]
    run(scenario())


@pytest.mark.parametrize("in_flight", [1, 2])
def test_every_write_is_answered_under_load(in_flight: int) -> None:
    async def scenario() -> None:
        node = ScriptedNode()
        node.release.set()
        batcher = Batcher(node.send, in_flight=in_flight)
        keys = [f"k{i}" for i in range(300)]
        assert await asyncio.gather(*(batcher.call("n1", put(k), 1.0) for k in keys)) == keys
        assert len(node.calls) < len(keys)
    run(scenario())


def test_a_node_applies_a_batch_and_refuses_only_what_it_must(tmp_path: Path) -> None:
    """The node side: a write for a partition the node does not own is refused with the
    node's view; the others in the same message are written."""
    with in_process_network(tmp_path) as network:
        client = network.client
        node = client.view.shards[client.shard_of_key("s/mine")][0]
        theirs = next(k for k in (f"s/{i}" for i in range(1000))
                      if node not in client.view.shards[client.shard_of_key(k)])

        async def send() -> Any:
            return await client.transport.call(node, Batch([put("s/mine"), put(theirs)]), 10)
        written, refused = network.portal.call(send)
        assert isinstance(written, Written) and written.state is not None
        assert isinstance(refused, NotOwner)
