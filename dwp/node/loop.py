"""A storage node's loop: it persists, sends and receives; the core decides.

What each message means is the core's (``dwp.core.answers``): the loop carries out the
reply or step it answers, and itself answers only its own I/O (fault injection, driving
sessions, its process id). The loop follows the etcd-raft order: operations queue up,
one writer applies a whole batch in one store transaction (group commit), commits
(fsync), and only then are callers answered and peers' senders woken. Background tasks
push outbox batches to peers in order, run anti-entropy rounds and hand-offs
(``dwp.core.sessions``). The same loop runs inside the Ray actor (``dwp.node.actor``)
with a SQLite store and in the simulator with an in-memory store and transport on
virtual time, so it holds no decision of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from dwp.core.answers import Each, Fresh, Local, Rerouted, answer
from dwp.core.errors import DwpError, Partitioned
from dwp.core.messages import (
    AeEntries,
    AeExport,
    AePartitions,
    AeRoot,
    AeSynced,
    HandOff,
    HandOffRequest,
    Import,
    Info,
    Message,
    NodeInfo,
    Replicate,
    SetFaults,
    Snapshot,
    SyncNow,
)
from dwp.core.reads import node_info
from dwp.core.replica import Replica
from dwp.core.sessions import Session, copy, drop_at, hand_off, sync
from dwp.core.transport import Transport
from dwp.core.view import View

T = TypeVar("T")
R = TypeVar("R")
Committer = Callable[[Callable[[], Any]], Awaitable[Any]]
ACK_FLUSH_SECONDS = 0.5
HAND_OFFS_AT_ONCE = 16
log = logging.getLogger("dwp.node.loop")
PEER_MESSAGES = (Replicate, AeRoot, AePartitions, AeEntries, AeExport, AeSynced, Snapshot,
                 HandOff, HandOffRequest)
CHANGING = (Replicate, AeSynced, HandOff, HandOffRequest)  # the peer messages that change a replica


@dataclass(frozen=True)
class NodeSettings:
    namespace: str
    anti_entropy_interval: float = 5.0
    peer_timeout: float = 5.0
    hand_off_interval: float = 1.0


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
        # The messages the node answers itself (``NODE_MESSAGES``: its own I/O); the
        # core answers every other one
        self._own: dict[type, Callable[[Any], Awaitable[Any]]] = {
            SetFaults: self._set_faults, SyncNow: self._sync_now, Import: self._import,
            Info: self._info,
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

    async def handle(self, sender: str, message: Message[R]) -> R:
        """Answer one message: the core says what it means (``dwp.core.answers``), the
        node carries that out; a few are the node's own (``_own``)."""
        if isinstance(message, PEER_MESSAGES):
            if sender in self._blocked:
                raise Partitioned(f"{self.node_id} is cut off from {sender} by fault injection")
            if isinstance(message, CHANGING) and self.replica.refuses(sender):
                raise Partitioned(f"{sender} was removed from the network by force")
        own = self._own.get(type(message))
        if own is not None:
            return await own(message)
        return await self._carry_out(answer(self.replica, message))

    async def _carry_out(self, reply: Any) -> Any:
        """Carry out what the core answered (``dwp.core.answers``) and give the reply."""
        match reply:
            case Local(op=op):
                return await self._submit(op)
            case Fresh(need=need, wait=wait, partitions=partitions, then=then):
                if not await self._fresh_within(need, wait, partitions):
                    return reply.behind
                return then(self.replica)
            case Each(answers=answers):
                done = await asyncio.gather(*(self._carry_out(a) for a in answers),
                                            return_exceptions=True)
                for a in done:  # a failure that is no refusal (the commit) fails them all
                    if isinstance(a, BaseException) and not isinstance(a, DwpError):
                        raise a
                return done
            case Rerouted(op=op, reply=after):
                if await self._submit(op):
                    self._ensure_senders()
                return after(self.replica)
        return reply

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

    # -- answering -----------------------------------------------------------------------

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

    async def _info(self, _: Info) -> NodeInfo:
        return node_info(self.replica, os.getpid())

    # -- replication between peers ----------------------------------------------------

    async def _send(self, peer: str, message: Message[R]) -> R:
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
        fingerprint = drop_at(prints)
        if fingerprint is not None:
            await self._submit(lambda r: r.drop_if_unchanged(p, fingerprint))

    # -- view changes -----------------------------------------------------------------

    async def _import(self, m: Import) -> int:
        copied: int = await self._drive(m.source, copy(self.replica, m.partitions, m.whole))
        return copied

    # -- test and operator hooks ------------------------------------------------------

    async def _set_faults(self, m: SetFaults) -> None:
        self._blocked = set(m.blocked)
        for ready in self._outbox_ready.values():
            ready.set()


@dataclass(frozen=True)
class _Refused:
    error: DwpError
