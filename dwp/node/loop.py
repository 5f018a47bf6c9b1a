"""A storage node's loop: it persists, sends and receives; the replica decides.

The loop follows the etcd-raft order: operations queue up, one writer applies a whole
batch in one store transaction (group commit), commits (fsync), and only then are
callers answered and peers' senders woken. Background tasks push outbox batches to
peers in order, run anti-entropy rounds and hand-offs (``dwp.core.sessions``). The same loop
runs inside the Ray actor (``dwp.node.actor``) with a SQLite store and in the simulator with
an in-memory store and transport on virtual time, so it holds no decision of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from dwp.core.codec import decode_state, encode_state
from dwp.core.errors import DwpError, NotOwner, Partitioned
from dwp.core.messages import (
    WRITES,
    Abort,
    AeEntries,
    AeExport,
    AePartitions,
    AeRoot,
    Batch,
    ChunkRefs,
    ClearOutbox,
    Commit,
    Delete,
    Get,
    GetChunk,
    GetView,
    HandOff,
    HandOffRequest,
    Import,
    Info,
    ListEntry,
    ListKeys,
    Message,
    NodeInfo,
    Ping,
    Prepare,
    Put,
    PutChunks,
    ReadReply,
    Reap,
    Reapable,
    RefsPage,
    Replicate,
    SetFaults,
    Snapshot,
    Sweep,
    Swept,
    SyncNow,
    Written,
)
from dwp.core.replica import Replica, live
from dwp.core.sessions import Local, Session, answer, copy, hand_off, sync
from dwp.core.store import Usage
from dwp.core.transport import Transport
from dwp.core.version import Version
from dwp.core.view import View

T = TypeVar("T")
Committer = Callable[[Callable[[], Any]], Awaitable[Any]]
ACK_FLUSH_SECONDS = 0.5
HAND_OFFS_AT_ONCE = 16
REAP_SCAN = 2048  # keys a replica looks at for deleted ones to reap, per message
log = logging.getLogger("dwp.node.loop")
PEER_MESSAGES = (Replicate, AeRoot, AePartitions, AeEntries, AeExport, Snapshot, HandOff,
                 HandOffRequest)
CHANGING = (Replicate, HandOff, HandOffRequest)  # the peer messages that change a replica


@dataclass(frozen=True)
class NodeSettings:
    namespace: str
    anti_entropy_interval: float = 5.0
    peer_timeout: float = 5.0
    hand_off_interval: float = 1.0


@dataclass
class Tally:
    """What the last whole collection round found here, in bytes: chunks no version
    names (awaiting collection) and chunks only kept versions name. A round sweeps
    ranges in hash order, from the start (``lo`` empty) to the end (``hi`` None), each
    once or twice (what may go, then what goes): the last word on a range counts."""

    garbage: int = 0
    history: int = 0
    _ranges: dict[bytes, tuple[int, int]] = field(default_factory=dict)

    def note(self, lo: bytes, hi: bytes | None, garbage: int, history: int) -> None:
        if not lo:
            self._ranges.clear()
        self._ranges[lo] = (garbage, history)
        if hi is None:
            self.garbage = sum(g for g, _ in self._ranges.values())
            self.history = sum(h for _, h in self._ranges.values())

    def bytes(self, usage: Usage) -> dict[str, int]:
        kept = min(self.history, usage.chunk_bytes)
        garbage = min(self.garbage, usage.chunk_bytes - kept)
        return {"live": usage.state_bytes + usage.chunk_bytes - kept - garbage,
                "history": usage.history_bytes + kept, "garbage": garbage,
                "disk": usage.disk}


class Node:
    """One replica's loop. ``run_in_writer`` runs a function on the store's writer (a
    thread for SQLite, inline in the simulator); ``on_departed`` ends the process once
    the node has left and handed everything off."""

    def __init__(self, replica: Replica, transport: Transport, settings: NodeSettings,
                 run_in_writer: Committer,
                 on_departed: Callable[[], None] = lambda: None) -> None:
        self.replica = replica
        self._on_departed = on_departed
        self.node_id = replica.node_id
        self.transport = transport
        self.settings = settings
        self._run_in_writer = run_in_writer
        self._queue: list[tuple[Callable[[Replica], Any], asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._applied = asyncio.Condition()
        self._outbox_ready: dict[str, asyncio.Event] = {}
        self._blocked: set[str] = set()
        self._tasks: list[asyncio.Task[Any]] = []
        self.tally = Tally()
        self._handlers: dict[type, Callable[[Any], Awaitable[Any]]] = {
            Put: self._put, Delete: self._delete, PutChunks: self._put_chunks,
            Batch: self._batch,
            Get: self._get, GetChunk: self._get_chunk, ListKeys: self._list,
            Info: self._info, Ping: self._ping, Prepare: self._prepare,
            Import: self._import, Commit: self._commit,
            Abort: self._abort, SetFaults: self._set_faults, SyncNow: self._sync_now,
            ClearOutbox: self._clear_outbox, ChunkRefs: self._chunk_refs, Sweep: self._sweep,
            Reap: self._reap,
        }

    @property
    def view(self) -> View:
        return self.replica.view

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks += [loop.create_task(self._commit_loop()),
                        loop.create_task(self._every(self.settings.anti_entropy_interval,
                                                     self._sync_round)),
                        loop.create_task(self._every(self.settings.hand_off_interval,
                                                     self._hand_off_round)),
                        loop.create_task(self._every(ACK_FLUSH_SECONDS, self._flush_acks))]
        self._ensure_senders()

    def stop(self) -> None:
        """Stop every task (a crash, in the simulator; the actor process just dies)."""
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()

    async def handle(self, sender: str, message: Message) -> Any:
        """Answer one message (see ``dwp.core.messages`` for what each answers)."""
        if isinstance(message, PEER_MESSAGES):
            if sender in self._blocked:
                raise Partitioned(f"{self.node_id} is cut off from {sender} by fault injection")
            if isinstance(message, CHANGING) and self.replica.refuses(sender):
                raise Partitioned(f"{sender} was removed from the network by force")
            reply = answer(self.replica, message)
            return await self._submit(reply.op) if isinstance(reply, Local) else reply
        if isinstance(message, GetView):
            return answer(self.replica, message)
        return await self._handlers[type(message)](message)

    def _ensure_senders(self) -> None:
        """One sender per node that should hear from us or still has queued entries."""
        wanted = set(self.replica.peers) | set(self.replica.outbox_sizes())
        if self.replica.pending is not None:
            wanted |= set(self.replica.pending.members)
        loop = asyncio.get_running_loop()
        for peer in sorted(wanted - set(self._outbox_ready) - {self.node_id}):
            self._outbox_ready[peer] = asyncio.Event()
            self._tasks.append(loop.create_task(self._send_loop(peer)))
        for ready in self._outbox_ready.values():
            ready.set()

    # -- group commit -----------------------------------------------------------------

    async def _submit(self, op: Callable[[Replica], T]) -> T:
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((op, fut))
        self._wake.set()
        return await fut

    async def _commit_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            if not batch:
                continue
            try:
                results = await self._run_in_writer(functools.partial(self._run_batch, batch))
            except Exception as exc:
                log.exception("commit failed")
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), result in zip(batch, results, strict=True):
                if fut.done():
                    continue
                if isinstance(result, _Refused):
                    fut.set_exception(result.error)
                else:
                    fut.set_result(result)
            for ready in self._outbox_ready.values():
                ready.set()
            async with self._applied:
                self._applied.notify_all()

    def _run_batch(self, batch: list[tuple[Callable[[Replica], Any], Any]]) -> list[Any]:
        """Every operation of the batch in one transaction. An operation the replica
        refuses (it raises before changing anything) is answered with its error alone."""
        results: list[Any] = []
        with self.replica.transaction():
            for op, _ in batch:
                try:
                    results.append(op(self.replica))
                except DwpError as exc:
                    results.append(_Refused(exc))
        return results

    async def _flush_acks(self) -> None:
        """Acknowledgements ride on the next write's commit; with no writes, commit them
        within a second so the outbox does not hold delivered entries for long."""
        if self.replica.has_unflushed_acks and not self._queue:
            await self._submit(lambda r: None)

    async def _every(self, seconds: float, work: Callable[[], Awaitable[Any]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await work()
            except Exception:
                log.exception("background work failed")

    # -- client operations ------------------------------------------------------------

    async def _ping(self, _: Ping) -> str:
        return self.node_id

    async def _put(self, m: Put) -> Written:
        state = await self._submit(lambda r: r.write(m.key, m.version, m.context, m.need))
        return Written(encode_state(state))

    async def _delete(self, m: Delete) -> Written:
        tombstone = Version.tombstone(m.mtime, m.deps, m.write_id)
        state = await self._submit(lambda r: r.delete(m.key, tombstone, m.context, m.need))
        return Written(encode_state(state) if state is not None else None)

    async def _put_chunks(self, m: PutChunks) -> None:
        def op(r: Replica) -> None:
            for chunk, data in m.chunks:
                r.put_chunk(chunk, data)
        await self._submit(op)

    async def _batch(self, m: Batch) -> list[Any]:
        """Each write queues its own operation in this same turn of the loop, so they
        share one commit; each is answered, or refused with its own error, as if sent
        alone. A failure that is no refusal (the commit itself) fails the whole batch."""
        if not all(isinstance(w, WRITES) for w in m.writes):
            raise TypeError("a batch holds only Put, Delete and PutChunks")
        answers = await asyncio.gather(*(self._handlers[type(w)](w) for w in m.writes),
                                       return_exceptions=True)
        for a in answers:
            if isinstance(a, BaseException) and not isinstance(a, DwpError):
                raise a
        return answers

    async def _get(self, m: Get) -> ReadReply:
        """The key's state once this replica holds what the client has seen (bounded).
        Ownership is checked after the wait, and ``applied`` taken before the state, so
        the state always holds at least what it vouches for."""
        p = self.view.partition_of_key(m.key)
        if not await self._fresh_within(m.need, m.wait, [p]):
            return ReadReply(False, None, {})
        if not self.replica.owns(p):
            raise NotOwner(self.view.to_json())
        applied = {**self.replica.applied(), **_vouched(self.replica, m.need)}
        blob = (self.replica.whole(m.key) if m.history
                else self.replica.store.get_state(m.key))
        return ReadReply(True, blob, applied)

    async def _fresh_within(self, need: dict[str, int], wait: float,
                            partitions: list[int] | None = None) -> bool:
        """Wait (bounded) until this replica holds every write ``need`` names."""
        if not need or self.replica.fresh(need, partitions):
            return True
        try:
            async with self._applied:
                await asyncio.wait_for(self._applied.wait_for(
                    lambda: self.replica.fresh(need, partitions)), wait)
        except TimeoutError:
            return False
        return True

    async def _get_chunk(self, m: GetChunk) -> bytes | None:
        return self.replica.store.get_chunk(m.chunk)

    async def _list(self, m: ListKeys) -> list[ListEntry] | None:
        """Live keys in order; None when this replica is behind the client's token."""
        if not await self._fresh_within(m.need, m.wait):
            return None
        out: list[ListEntry] = []
        after = m.after
        while len(out) < m.limit:
            rows = self.replica.store.scan(m.prefix, after, m.limit)
            for key, blob in rows:
                if not self.replica.owns_key(key):
                    continue
                versions = live(decode_state(blob))
                if versions:
                    v = versions[0]
                    out.append(ListEntry(key, v.size, v.content_type, v.hash.hex(), v.mtime,
                                         len(versions)))
            if len(rows) < m.limit:
                break
            after = rows[-1][0]
        return out[:m.limit]

    async def _info(self, _: Info) -> NodeInfo:
        r = self.replica
        owned = r.owned
        keys = sum(n for p, n in r.store.count_by_partition().items() if p in owned)
        return NodeInfo(
            id=self.node_id, shard=r.shard, replica_id=r.id, pid=os.getpid(),
            partitions=len(owned), keys=keys, digest=r.digest(), outbox=r.outbox_sizes(),
            epoch=self.view.epoch, changing=r.pending is not None,
            held=len(r.held_unowned()), bytes=self.tally.bytes(r.store.usage()))

    # -- garbage collection -----------------------------------------------------------

    async def _chunk_refs(self, m: ChunkRefs) -> RefsPage:
        refs, kept, after = self.replica.chunk_refs(m.after, m.budget)
        return RefsPage(sorted(refs), sorted(kept), after, self.view.epoch,
                        self.replica.unsettled())

    async def _sweep(self, m: Sweep) -> Swept:
        referenced, kept = set(m.referenced), set(m.kept)
        only = set(m.only) if m.only is not None else None
        result = await self._submit(lambda r: r.sweep(
            m.epoch, m.before, m.lo, m.hi, referenced, kept, m.limit, m.dry_run, only))
        if result.refused:
            return Swept([], [], 0, f"Nothing was swept because {result.refused}.")
        reclaimed = sum(size for _, size in result.chunks)
        waiting = sum(size for _, size in result.waiting)
        self.tally.note(m.lo, m.hi, waiting + (reclaimed if m.dry_run else 0), result.history)
        return Swept(result.chunks, [c for c, _ in result.waiting], waiting)

    async def _reap(self, m: Reap) -> Reapable:
        if m.only is not None:
            only = m.only
            return Reapable(await self._submit(lambda r: r.reap(only)), [], None)
        keys, last = self.replica.deleted_after(m.after, REAP_SCAN)
        removable = await self._submit(lambda r: r.reap(keys, dry_run=True))
        return Reapable(removable, sorted(set(keys) - set(removable)), last)

    # -- replication between peers ----------------------------------------------------

    async def _send(self, peer: str, message: Message) -> Any:
        if peer in self._blocked:
            raise Partitioned(f"{self.node_id} is cut off from {peer} by fault injection")
        return await self.transport.call(peer, message, self.settings.peer_timeout)

    async def _send_loop(self, peer: str) -> None:
        ready = self._outbox_ready[peer]
        backoff = 0.05
        while True:
            ready.clear()
            batch = self.replica.outbox_batch(peer) if peer not in self._blocked else None
            if batch is None:
                if not self._wants(peer):
                    del self._outbox_ready[peer]
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ready.wait(), 1.0)
                continue
            try:
                await self._send(peer, batch.message)
            except Exception as exc:
                log.debug("send to %s failed: %s", peer, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.05
            self.replica.ack(peer, batch.last_seq, batch.upto)

    def _wants(self, peer: str) -> bool:
        pending = self.replica.pending
        return peer in self.replica.peers or (
            pending is not None and peer in pending.members)

    async def _drive(self, peer: str, session: Session) -> Any:
        """Run a session (``dwp.core.sessions``) against ``peer``: send what it asks, commit
        what it does locally, and answer its result."""
        reply: Any = None
        try:
            while True:
                step = session.send(reply)
                if isinstance(step, Local):
                    reply = await self._submit(step.op)
                else:
                    reply = await self._send(peer, step)
        except StopIteration as done:
            return done.value

    # -- anti-entropy -----------------------------------------------------------------

    async def _sync_round(self) -> dict[str, str]:
        outcome = {}
        for peer in self.replica.peers:
            try:
                outcome[peer] = await self._drive(peer, sync(self.replica, peer))
            except Exception as exc:
                outcome[peer] = f"failed: {exc}"
        await asyncio.gather(*(self._send(holder, HandOffRequest(partitions))
                               for holder, partitions in self.replica.unsealed_holders().items()),
                             return_exceptions=True)
        return outcome

    async def _sync_now(self, _: SyncNow) -> dict[str, str]:
        return await self._sync_round()

    # -- hand-off ---------------------------------------------------------------------

    async def _hand_off_round(self) -> None:
        """Give up each partition this replica holds but no longer owns, once every one
        of its owners holds all of it; many at once (a leaving node may hold hundreds,
        most of them empty, and each costs a few round trips)."""
        slots = asyncio.Semaphore(HAND_OFFS_AT_ONCE)

        async def one(p: int) -> None:
            async with slots:
                await self._hand_off(p)
        await asyncio.gather(*(one(p) for p in self.replica.held_unowned()))
        if self.replica.departed():
            log.info("node %s left the network and handed everything off; stopping",
                     self.node_id)
            self._on_departed()

    async def _hand_off(self, p: int) -> None:
        owners = self.view.owners_of_partition(p)
        prints = await asyncio.gather(*(self._drive(o, hand_off(self.replica, p))
                                        for o in owners), return_exceptions=True)
        failed = [x for x in prints if isinstance(x, BaseException)]
        if failed:
            log.debug("hand-off of partition %d failed: %s", p, failed[0])
        elif len(set(prints)) == 1:
            fingerprint = prints[0]
            await self._submit(lambda r: r.drop_if_unchanged(p, cast(int, fingerprint)))

    # -- view changes -----------------------------------------------------------------

    async def _prepare(self, m: Prepare) -> None:
        target = View.from_json(m.target)
        await self._submit(lambda r: r.prepare(target))
        self._ensure_senders()

    async def _abort(self, m: Abort) -> bool:
        undone: bool = await self._submit(lambda r: r.abort(m.change))
        return undone

    async def _import(self, m: Import) -> int:
        copied: int = await self._drive(m.source, copy(self.replica, m.partitions, m.whole))
        return copied

    async def _commit(self, m: Commit) -> int:
        view = View.from_json(m.view)
        if await self._submit(lambda r: r.commit(view, m.decided)):
            self._ensure_senders()
        return self.view.epoch

    # -- test and operator hooks ------------------------------------------------------

    async def _set_faults(self, m: SetFaults) -> None:
        self._blocked = set(m.blocked)
        for ready in self._outbox_ready.values():
            ready.set()

    async def _clear_outbox(self, _: ClearOutbox) -> None:
        await self._submit(lambda r: r.store.outbox_clear())


@dataclass(frozen=True)
class _Refused:
    error: DwpError


def _vouched(replica: Replica, need: dict[str, int]) -> dict[str, int]:
    """The entries of a need this replica was found fresh for that its applied vector
    does not show (vouched for by lineage), so a cache may serve the same need again."""
    applied = replica.applied()
    return {r: c for r, c in need.items() if applied.get(r, 0) < c}
