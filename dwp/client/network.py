"""NetworkClient: the one place that routes keys to shards and talks to storage nodes.

It picks a replica (the first live one in a per-key order, or the one a request pins),
splits large contents into content-addressed chunks and puts them back together,
carries the context token, and moves on to another replica when one is down or behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from dwp.client.batcher import Batcher
from dwp.client.cache import ChunkCache, ReadCache
from dwp.client.status import NetworkStatus, network_status
from dwp.core.codec import State, decode_state
from dwp.core.errors import NotFound, NotOwner, Stale, Unavailable, WrongReplica
from dwp.core.messages import (
    WRITES,
    Delete,
    Get,
    GetChunk,
    Info,
    ListEntry,
    ListKeys,
    Message,
    NodeInfo,
    Put,
    PutChunks,
    SetFaults,
    SyncNow,
)
from dwp.core.placement import preference
from dwp.core.replica import deps_of, live
from dwp.core.token import Token, TokenCodec
from dwp.core.transport import Transport, Unreachable
from dwp.core.version import CHUNK_SIZE, INLINE_MAX, Version, content_hash, new_hasher
from dwp.core.view import View

DOWN_FOR = 2.0  # seconds a failed node goes to the back of the line


@dataclass(frozen=True)
class Located:
    """Where a request was served: the key's shard and the node that answered."""

    shard: int
    node: str


@dataclass(frozen=True)
class ReadResult(Located):
    state: State
    token: Token

    @property
    def versions(self) -> list[Version]:
        """Live siblings, winner first (see ``dwp.core.replica.live``)."""
        return live(self.state)

    @property
    def winner(self) -> Version | None:
        versions = self.versions
        return versions[0] if versions else None


@dataclass(frozen=True)
class WriteResult(Located):
    token: Token
    version: Version | None
    state: State  # the key's state right after this write, at the replica that took it


class _NodeFailed(Exception):
    """A call to one node failed; the caller may try another."""


class _Rerouted(Exception):
    """A node answered with a newer view; route the request again."""


REROUTES = 3
T = TypeVar("T")
R = TypeVar("R")


class NetworkClient:
    def __init__(self, view: View, transport: Transport, secret: str, *,
                 call_timeout: float = 10.0, read_wait: float = 2.0,
                 chunk_parallelism: int = 8, read_cache_ttl: float = 1.0,
                 chunk_cache_bytes: int = 32 * 2**20, batch_in_flight: int = 1,
                 new_write_id: Callable[[], str] = lambda: uuid.uuid4().hex,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.view = view
        # An observer of each view this client adopts (the simulator's; a no-op otherwise).
        self.on_adopt: Callable[[View], None] = lambda adopted: None
        self.transport = transport
        self.tokens = TokenCodec(secret)
        self.call_timeout = call_timeout
        self.read_wait = read_wait
        self.new_write_id = new_write_id
        self.clock, self.wall_clock = clock, wall_clock
        self._chunk_slots = asyncio.Semaphore(chunk_parallelism)
        self._down_until: dict[str, float] = {}
        self.reads = ReadCache(read_cache_ttl, clock=clock)
        self.chunks = ChunkCache(chunk_cache_bytes)
        self._batcher = Batcher(lambda n, m, t: self.transport.call(n, m, t),
                                in_flight=batch_in_flight)

    # -- routing ----------------------------------------------------------------------

    def shard_of_key(self, key: str) -> int:
        return self.view.shard_of_partition(self.view.partition_of_key(key))

    def _shard_of_chunk(self, chunk: bytes) -> int:
        return self.view.shard_of_partition(self.view.partition_of_chunk(chunk))

    def _order(self, routing: bytes, shard: int, pinned: str | None = None) -> list[str]:
        """Replicas to try: the pinned one alone, else live ones first in per-key order."""
        members = self.view.shards[shard]
        if pinned is not None:
            if pinned not in members:
                raise WrongReplica(f"node {pinned!r} does not hold shard {shard}")
            return [pinned]
        now = self.clock()
        ordered = preference(routing, members)
        return sorted(ordered, key=lambda n: self._down_until.get(n, 0) > now)

    async def call(self, node: str, message: Message[R], timeout: float | None = None) -> R:
        """One message to a node; a failure marks the node down for a moment and says
        why, and a node with a newer view makes this client adopt it and route again.
        Writes go through the batcher (``dwp.client.batcher``): those bound for one node while
        a call to it is in flight share the next call."""
        timeout = timeout or self.call_timeout
        try:
            if isinstance(message, WRITES):
                result: R = await self._batcher.call(node, message, timeout)
            else:
                result = await self.transport.call(node, message, timeout)
        except NotOwner as exc:
            if not self.adopt(View.from_json(exc.view_json)):
                raise _NodeFailed(f"node {node} does not own that partition") from exc
            raise _Rerouted from exc
        except Unreachable as exc:
            self._down_until[node] = self.clock() + DOWN_FOR
            raise _NodeFailed(str(exc)) from exc
        self._down_until.pop(node, None)
        return result

    async def ask(self, node: str, message: Message[R], timeout: float | None = None) -> R:
        """One message to one node as it is, with no failover, down mark or new view
        adopted: for GC and view changes, whose coordinators decide what a failure means."""
        return await self.transport.call(node, message, timeout or self.call_timeout)

    def adopt(self, view: View) -> bool:
        """Move to a newer view (learned from a node or a change); False if not newer."""
        if view.epoch <= self.view.epoch:
            return False
        self.view = view
        self.reads.clear()
        self.on_adopt(view)
        return True

    async def _on_first(self, nodes: list[str], shard: int, message: Message[R],
                        fresh: Callable[[R], bool] = lambda _: True) -> tuple[R, str]:
        """The first answer that ``fresh`` accepts, asking ``nodes`` in order, and the node
        that gave it: the one failover loop of reads and writes. Stale when some answered
        but none had seen what the client has; Unavailable when none answered."""
        errors, stale = [], False
        for node in nodes:
            try:
                reply = await self.call(node, message)
            except _NodeFailed as exc:
                errors.append(str(exc))
                continue
            if fresh(reply):
                return reply, node
            stale = True
        if stale:
            raise Stale(f"the replicas of shard {shard} have not yet received writes "
                        "this client has seen")
        raise Unavailable(f"no replica of shard {shard} answered: " + "; ".join(errors))

    # -- objects ----------------------------------------------------------------------

    async def _rerouting(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run ``attempt`` again while nodes answer with a newer view (a few times)."""
        for _ in range(REROUTES):
            with contextlib.suppress(_Rerouted):
                return await attempt()
        raise Unavailable("the network's view kept changing; try again")

    async def get(self, key: str, token: Token, replica: str | None = None,
                  history: bool = False) -> ReadResult:
        """The key's state from a replica that has seen everything ``token`` covers;
        ``history``: with the versions it keeps (``State.history``)."""
        return await self._rerouting(lambda: self._get(key, token, replica, history))

    async def _get(self, key: str, token: Token, replica: str | None, history: bool
                   ) -> ReadResult:
        shard = self.shard_of_key(key)
        need = token.need()
        if (replica is None and not history
                and (hit := self.reads.lookup(key, need)) is not None):
            return ReadResult(hit.shard, hit.node, hit.state, self._observe(
                token, shard, key, hit.state))
        generation = self.reads.generation(key)
        reply, node = await self._on_first(self._order(key.encode(), shard, replica), shard,
                                           Get(key, need, self.read_wait, history),
                                           lambda r: r.fresh)
        if reply.state is None:
            raise NotFound(f"no object at {key!r}")
        state = decode_state(reply.state)
        if not history:
            self.reads.store(key, generation, shard, node, state, reply.applied)
        return ReadResult(shard, node, state, self._observe(token, shard, key, state))

    async def put(self, key: str, body: bytes | AsyncIterable[bytes], content_type: str,
                  token: Token, replica: str | None = None, refs: tuple[bytes, ...] = ()
                  ) -> WriteResult:
        """Store the content (chunks first, so no manifest names a missing chunk), then
        the key: one round trip to one replica of its shard. ``refs``: chunks stored
        before that the version keeps from collection (a deploy's files)."""
        version = replace(await self._store_content(body, content_type, token), refs=refs)
        return await self._rerouting(lambda: self._put(key, version, token, replica))

    async def store_chunks(self, body: bytes | AsyncIterable[bytes]) -> Version:
        """Store content as chunks only, small ones too, under no key: a deploy names it
        by its chunks. Unnamed, it is collected after the grace period."""
        return await self._store_content(body, "", Token(), inline=False)

    async def _put(self, key: str, version: Version, token: Token, replica: str | None
                   ) -> WriteResult:
        shard = self.shard_of_key(key)
        order = self._order(key.encode(), shard, replica)
        self.reads.invalidate(key)
        written, node = await self._on_first(order, shard, Put(
            key, version, token.context_for(key), token.need(), version.write_id))
        self.reads.invalidate(key)
        state = decode_state(written.state)
        return WriteResult(shard, node, self._observe(token, shard, key, state), version,
                           state)

    async def delete(self, key: str, token: Token, replica: str | None = None) -> WriteResult:
        write_id = self.new_write_id()
        return await self._rerouting(lambda: self._delete(key, token, replica, write_id))

    async def _delete(self, key: str, token: Token, replica: str | None, write_id: str
                      ) -> WriteResult:
        shard = self.shard_of_key(key)
        order = self._order(key.encode(), shard, replica)
        self.reads.invalidate(key)
        written, node = await self._on_first(order, shard, Delete(
            key, self.wall_clock(), token.causal, token.context_for(key), token.need(),
            write_id))
        self.reads.invalidate(key)
        if written.state is None:
            raise NotFound(f"no object at {key!r}")
        state = decode_state(written.state)
        return WriteResult(shard, node, self._observe(token, shard, key, state), None, state)

    def _observe(self, token: Token, shard: int, key: str, state: State) -> Token:
        """The client's token once it has seen ``state`` of ``key``, kept compact."""
        return token.observe(shard, key, state.context, deps_of(state)).compact()

    def token_after(self, token: Token, key: str, state: State) -> Token:
        """What a read of ``key`` answering ``state`` gives a reader who had ``token``
        (the gateway's hot path builds its answers with it)."""
        return self._observe(token, self.shard_of_key(key), key, state)

    async def _store_content(self, body: bytes | AsyncIterable[bytes], content_type: str,
                             token: Token, inline: bool = True) -> Version:
        hasher, size = new_hasher(), 0
        buf = bytearray()
        chunks: list[bytes] = []
        writes: set[asyncio.Task[None]] = set()

        async def emit(data: bytes) -> None:
            """Start storing one chunk; wait for a free slot first, so a fast client is
            slowed to the speed of the nodes instead of filling the gateway's memory. The
            slot belongs to the chunk's task from the moment it is taken, so it comes back
            when that task ends, however the upload ends."""
            await self._chunk_slots.acquire()
            chunk = content_hash(data)
            chunks.append(chunk)
            task = asyncio.create_task(self._put_chunk(chunk, data))
            task.add_done_callback(lambda _: self._chunk_slots.release())
            ended = [t for t in writes if t.done()]
            writes.add(task)
            for done in ended:
                writes.discard(done)
                done.result()  # a failed chunk fails the upload now, not at the end

        try:
            async for piece in _pieces(body):
                hasher.update(piece)
                size += len(piece)
                buf += piece
                while len(buf) >= CHUNK_SIZE:
                    await emit(bytes(buf[:CHUNK_SIZE]))
                    del buf[:CHUNK_SIZE]
            if inline and not chunks and len(buf) <= INLINE_MAX:
                return Version(content_type, size, hasher.digest(), self.wall_clock(),
                               data=bytes(buf), deps=token.causal,
                               write_id=self.new_write_id())
            if buf or not chunks:
                await emit(bytes(buf))
            await asyncio.gather(*writes)
        finally:
            for task in writes:
                if task.done() and not task.cancelled():
                    task.exception()  # seen: the upload fails with the first failure
                task.cancel()
        return Version(content_type, size, hasher.digest(), self.wall_clock(),
                       chunks=tuple(chunks), deps=token.causal, write_id=self.new_write_id())

    async def _on_chunk_shard(self, chunk: bytes, message: Message[R],
                              fresh: Callable[[R], bool] = lambda _: True) -> R:
        """``_on_first`` over the replicas of the chunk's shard, worked out again in each
        new view a node makes this client adopt (a change may dissolve the old shard)."""
        async def attempt() -> tuple[R, str]:
            shard = self._shard_of_chunk(chunk)
            return await self._on_first(self._order(chunk, shard), shard, message, fresh)
        reply, _ = await self._rerouting(attempt)
        return reply

    async def _put_chunk(self, chunk: bytes, data: bytes) -> None:
        """Store one chunk at a replica of its shard (the slot ``emit`` took is released
        when this task ends, even if it is cancelled before it starts)."""
        await self._on_chunk_shard(chunk, PutChunks([(chunk, data)]))

    async def _get_chunk(self, chunk: bytes) -> bytes:
        cached = self.chunks.get(chunk)
        if cached is not None:
            return cached
        data = await self._on_chunk_shard(
            chunk, GetChunk(chunk), lambda d: d is not None and content_hash(d) == chunk)
        assert data is not None  # what fresh accepted
        self.chunks.put(chunk, data)
        return data

    async def body(self, version: Version, start: int = 0, end: int | None = None
                   ) -> AsyncIterator[bytes]:
        """The bytes [start, end) of a version, fetched chunk by chunk, a few ahead."""
        end = version.size if end is None else end
        if version.data is not None:
            yield version.data[start:end]
            return
        chunks = version.chunks or ()
        first, last = start // CHUNK_SIZE, (end - 1) // CHUNK_SIZE
        wanted = list(range(first, last + 1)) if end > start else []
        ahead: dict[int, asyncio.Task[bytes]] = {}
        try:
            for i in wanted:
                for j in wanted[wanted.index(i):wanted.index(i) + 4]:
                    if j not in ahead:
                        ahead[j] = asyncio.create_task(self._get_chunk(chunks[j]))
                data = await ahead.pop(i)
                lo = start - i * CHUNK_SIZE if i == first else 0
                hi = end - i * CHUNK_SIZE if i == last else len(data)
                yield data[lo:hi]
        finally:
            for task in ahead.values():
                task.cancel()

    async def list_keys(self, prefix: str, limit: int, cursor: str = "",
                        token: Token | None = None,
                        replica: str | None = None) -> tuple[list[ListEntry], str | None]:
        """Keys under ``prefix`` after ``cursor``, in order, merged across shards, from
        replicas that have seen everything ``token`` covers."""
        token = token or Token()
        if replica is not None:
            shards = [(self.view.shard_of_node(replica), [replica])]
        else:
            shards = [(s, self._order(str(s).encode(), s)) for s in self.view.shards]
        results = await asyncio.gather(*(self._list_shard(s, nodes, prefix, cursor, limit,
                                                          token.need())
                                         for s, nodes in shards))
        merged = sorted((e for entries in results for e in entries), key=lambda e: e.key)
        more = any(len(entries) == limit for entries in results) or len(merged) > limit
        page = merged[:limit]
        return page, (page[-1].key if more and page else None)

    async def _list_shard(self, shard: int, nodes: list[str], prefix: str, cursor: str,
                          limit: int, need: dict[str, int]) -> list[ListEntry]:
        entries, _ = await self._on_first(nodes, shard, ListKeys(prefix, cursor, limit, need,
                                                                 self.read_wait),
                                          lambda e: e is not None)
        return entries or []  # None is a replica behind the token, which ``fresh`` refused

    # -- the network ------------------------------------------------------------------

    async def node_info(self, node: str, timeout: float = 3.0) -> NodeInfo | None:
        try:
            return await self.call(node, Info(), timeout=timeout)
        except _NodeFailed:
            return None

    async def status(self) -> NetworkStatus:
        infos = await asyncio.gather(*(self.node_info(n.id) for n in self.view.nodes))
        return network_status(self.view, infos)

    async def health(self) -> str | None:
        """None when every shard has a live replica, else the reason it has not."""
        infos = await asyncio.gather(*(self.node_info(n.id, 2.0) for n in self.view.nodes))
        dead = network_status(self.view, infos).unavailable_shards()
        if dead:
            return "no live replica for shard(s) " + ", ".join(map(str, dead))
        return None

    async def set_faults(self, groups: list[list[str]]) -> None:
        """Cut replica-to-replica messages between the groups ([] heals)."""
        group_of = {n: i for i, g in enumerate(groups) for n in g}
        unknown = set(group_of) - {n.id for n in self.view.nodes}
        if unknown:
            raise WrongReplica(f"unknown node(s): {', '.join(sorted(unknown))}")
        for spec in self.view.nodes:
            mine = group_of.get(spec.id)
            blocked = [n for n, g in group_of.items() if mine is not None and g != mine]
            await self.call(spec.id, SetFaults(blocked))

    async def sync_now(self) -> None:
        """Run one anti-entropy round on every node (tests and operators)."""
        await asyncio.gather(*(self.call(n.id, SyncNow(), timeout=60)
                               for n in self.view.nodes), return_exceptions=True)


async def _pieces(body: bytes | AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    if isinstance(body, bytes | bytearray):
        for i in range(0, max(len(body), 1), CHUNK_SIZE):
            yield bytes(body[i:i + CHUNK_SIZE])
    else:
        async for piece in body:
            if piece:
                yield piece
