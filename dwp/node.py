"""The StorageNode Ray actor: a thin asyncio shell around one Replica and its store.

Its loop follows the etcd-raft order: operations queue up, one writer thread applies a
whole batch in one SQLite transaction (group commit), commits (fsync), and only then
are callers answered and peers' outboxes woken. Background tasks push outbox batches to
peers in order and run anti-entropy; all of them restart with the actor, which reopens
the same data dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import ray

from dwp.codec import Causal, decode_state, encode_state
from dwp.errors import NotOwner, Partitioned
from dwp.replica import Export, Replica, diff, live
from dwp.store import SqliteStore
from dwp.version import Version
from dwp.view import View

T = TypeVar("T")
ACK_FLUSH_SECONDS = 0.5
log = logging.getLogger("dwp.node")


@dataclass(frozen=True)
class NodeSettings:
    namespace: str
    anti_entropy_interval: float = 5.0
    peer_timeout: float = 5.0


@dataclass(frozen=True)
class ListEntry:
    key: str
    size: int
    content_type: str
    hash: str
    mtime: float
    siblings: int


def actor_name(node_id: str) -> str:
    return f"node-{node_id}"


class StorageNode:
    def __init__(self, node_id: str, data_dir: str, view_json: str,
                 settings: NodeSettings) -> None:
        self.node_id = node_id
        self.settings = settings
        self.store = SqliteStore(Path(data_dir).expanduser() / "replica.db")
        self.replica = Replica(node_id, View.from_json(view_json), self.store,
                               lambda: secrets.token_hex(3))
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="dwp-writer")
        self._queue: list[tuple[Callable[[Replica], Any], asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._applied = asyncio.Condition()
        self._outbox_ready: dict[str, asyncio.Event] = {}
        self._blocked: set[str] = set()
        self._handles: dict[str, Any] = {}
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._commit_loop()),
                       loop.create_task(self._anti_entropy_loop()),
                       loop.create_task(self._flush_acks())]
        self._ensure_senders()
        if self.replica.view.epoch > 1:
            self._tasks.append(loop.create_task(self._drop_handed_off()))

    @property
    def view(self) -> View:
        return self.replica.view

    def _ensure_senders(self) -> None:
        """One sender per peer that should hear from us or still has queued entries."""
        wanted = set(self.replica.peers) | set(self.replica.outbox_sizes())
        if self.replica.pending is not None:
            wanted |= {n for m in self.replica.pending.shards.values() for n in m}
        loop = asyncio.get_running_loop()
        for peer in wanted - set(self._outbox_ready) - {self.node_id}:
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
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(self._writer, self._run_batch, batch)
            except Exception as exc:
                log.exception("commit failed")
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), result in zip(batch, results, strict=True):
                if not fut.done():
                    fut.set_result(result)
            for ready in self._outbox_ready.values():
                ready.set()
            async with self._applied:
                self._applied.notify_all()

    async def _flush_acks(self) -> None:
        """Acknowledgements ride on the next write's commit; with no writes, commit them
        within a second so the outbox does not hold delivered entries for long."""
        while True:
            await asyncio.sleep(ACK_FLUSH_SECONDS)
            if self.replica.has_unflushed_acks and not self._queue:
                await self._submit(lambda r: None)

    def _run_batch(self, batch: list[tuple[Callable[[Replica], Any], Any]]) -> list[Any]:
        with self.replica.transaction():
            return [op(self.replica) for op, _ in batch]

    # -- client operations ------------------------------------------------------------

    async def ping(self) -> str:
        return self.node_id

    def _check_owner(self, partition: int) -> None:
        if partition not in self.replica.owned:
            raise NotOwner(self.view.to_json())

    async def put(self, key: str, version: Version, context: dict[str, int] | None) -> bytes:
        """Coordinate a write; answers the key's new state once it is on disk."""
        self._check_owner(self.view.partition_of_key(key))
        state = await self._submit(lambda r: r.write(key, version, context))
        return encode_state(state)

    async def delete(self, key: str, mtime: float, deps: Causal,
                     context: dict[str, int] | None) -> bytes | None:
        self._check_owner(self.view.partition_of_key(key))
        state = await self._submit(
            lambda r: r.delete(key, Version.tombstone(mtime, deps), context))
        return encode_state(state) if state is not None else None

    async def put_chunks(self, chunks: list[tuple[bytes, bytes]]) -> None:
        for chunk, _ in chunks:
            self._check_owner(self.view.partition_of_chunk(chunk))

        def op(r: Replica) -> None:
            for chunk, data in chunks:
                r.put_chunk(chunk, data)
        await self._submit(op)

    async def get(self, key: str, need: dict[str, int] | None, wait: float
                  ) -> tuple[bool, bytes | None, dict[str, int]]:
        """(fresh, state blob, what this replica had applied). Not fresh: this replica is
        behind the client's token. ``applied`` is taken before the state is read, so the
        state always holds at least what it claims."""
        self._check_owner(self.view.partition_of_key(key))
        if not await self._fresh_within(need, wait):
            return False, None, {}
        applied = self.replica.applied()
        return True, self.store.get_state(key), applied

    async def _fresh_within(self, need: dict[str, int] | None, wait: float) -> bool:
        """Wait (bounded) until this replica has applied every dot ``need`` names."""
        if not need or self.replica.fresh(need):
            return True
        try:
            async with self._applied:
                await asyncio.wait_for(
                    self._applied.wait_for(lambda: self.replica.fresh(need)), wait)
        except TimeoutError:
            return False
        return True

    async def get_chunk(self, chunk: bytes) -> bytes | None:
        return self.store.get_chunk(chunk)

    async def list(self, prefix: str, after: str, limit: int,
                   need: dict[str, int] | None = None, wait: float = 0.0
                   ) -> list[ListEntry] | None:
        """Live keys in order; None when this replica is behind the client's token."""
        if not await self._fresh_within(need, wait):
            return None
        out: list[ListEntry] = []
        while len(out) < limit:
            rows = self.store.scan(prefix, after, limit)
            for key, blob in rows:
                if not self.replica.owns_key(key):
                    continue
                versions = live(decode_state(blob))
                if versions:
                    v = versions[0]
                    out.append(ListEntry(key, v.size, v.content_type, v.hash.hex(), v.mtime,
                                         len(versions)))
            if len(rows) < limit:
                break
            after = rows[-1][0]
        return out[:limit]

    async def info(self) -> dict[str, Any]:
        owned = self.replica.owned
        keys = sum(n for p, n in self.store.count_by_partition().items() if p in owned)
        return {
            "id": self.node_id, "shard": self.replica.shard, "replica_id": self.replica.id,
            "pid": os.getpid(), "partitions": len(owned), "keys": keys,
            "digest": self.replica.digest(), "outbox": self.replica.outbox_sizes(),
            "epoch": self.view.epoch, "changing": self.replica.pending is not None,
        }

    # -- replication between peers ----------------------------------------------------

    def _check_link(self, sender: str) -> None:
        if sender in self._blocked:
            raise Partitioned(f"{self.node_id} is cut off from {sender} by fault injection")

    async def replicate(self, sender: str, origin: str | None, states: list[tuple[str, bytes]],
                        chunks: list[tuple[bytes, bytes]], upto: int | None = None,
                        after: int | None = None) -> None:
        self._check_link(sender)
        await self._submit(lambda r: r.apply(origin, states, chunks, upto, after))

    async def _peer(self, peer: str) -> Any:
        if peer not in self._handles:
            self._handles[peer] = ray.get_actor(actor_name(peer),
                                                namespace=self.settings.namespace)
        return self._handles[peer]

    async def _call_peer(self, peer: str, method: str, *args: Any) -> Any:
        if peer in self._blocked:
            raise Partitioned(f"{self.node_id} is cut off from {peer} by fault injection")
        try:
            handle = await self._peer(peer)
            ref = getattr(handle, method).remote(self.node_id, *args)
            return await asyncio.wait_for(ref, self.settings.peer_timeout)
        except Exception:
            self._handles.pop(peer, None)
            raise

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
                await self._call_peer(peer, "replicate", batch.origin, batch.states,
                                      batch.chunks, batch.upto, batch.after)
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
            pending is not None and any(peer in m for m in pending.shards.values()))

    # -- anti-entropy -----------------------------------------------------------------

    async def ae_root(self, sender: str, epoch: int = 0) -> tuple[str, dict[str, int], int]:
        """Our digest, what we have applied, and our epoch (a newer one is fetched)."""
        self._check_link(sender)
        if epoch > self.view.epoch:
            asyncio.get_running_loop().create_task(self._learn_view_from(sender))
        return self.replica.digest(), self.replica.applied(), self.view.epoch

    async def ae_partitions(self, sender: str) -> dict[int, int]:
        self._check_link(sender)
        return self.replica.partition_hashes()

    async def ae_entries(self, sender: str, partition: int) -> dict[str | bytes, int]:
        self._check_link(sender)
        return self.replica.entries(partition)

    async def ae_export(self, sender: str, refs: list[str | bytes]) -> Export:
        self._check_link(sender)
        return self.replica.export(refs)

    async def _anti_entropy_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.anti_entropy_interval)
            await self.sync_now()

    async def sync_now(self) -> dict[str, str]:
        """One anti-entropy round with every peer; returns each peer's outcome."""
        outcome = {}
        for peer in self.replica.peers:
            try:
                outcome[peer] = await self._sync_with(peer)
            except Exception as exc:
                outcome[peer] = f"failed: {exc}"
        return outcome

    async def _sync_with(self, peer: str) -> str:
        root, applied, epoch = await self._call_peer(peer, "ae_root", self.view.epoch)
        if epoch != self.view.epoch:
            if epoch > self.view.epoch:
                await self._learn_view_from(peer)
            return f"views differ (epoch {epoch}); skipped"
        repaired = 0
        if root != self.replica.digest():
            theirs = await self._call_peer(peer, "ae_partitions")
            mine = self.replica.partition_hashes()
            for p in sorted(set(mine) | set(theirs)):
                if mine.get(p) != theirs.get(p):
                    repaired += await self._repair_partition(peer, p)
        await self._submit(lambda r: r.learn(applied))
        return f"in sync, {repaired} entries repaired"

    async def _repair_partition(self, peer: str, partition: int, push_too: bool = True) -> int:
        theirs = await self._call_peer(peer, "ae_entries", partition)
        pull, push = diff(self.replica.entries(partition), theirs)
        if not push_too:
            push = []
        remaining = pull
        while remaining:
            states, chunks, remaining = await self._call_peer(peer, "ae_export", remaining)
            await self._submit(lambda r, s=states, c=chunks: r.apply(None, s, c, None))
        remaining = push
        while remaining:
            states, chunks, remaining = self.replica.export(remaining)
            await self._call_peer(peer, "replicate", None, states, chunks, None)
        return len(pull) + len(push)

    # -- view changes -----------------------------------------------------------------

    async def get_view(self, sender: str = "") -> str:
        return self.view.to_json()

    async def _learn_view_from(self, peer: str) -> None:
        with contextlib.suppress(Exception):
            await self.commit(await self._call_peer(peer, "get_view"))

    async def prepare(self, view_json: str) -> None:
        """Start queueing writes for the target view's owners too (durably)."""
        target = View.from_json(view_json)
        await self._submit(lambda r: r.prepare(target))
        self._ensure_senders()

    async def abort(self) -> None:
        await self._submit(lambda r: r.abort())

    async def import_partitions(self, source: str, partitions: list[int],
                                whole_shard: bool) -> int:
        """Copy partitions from an old owner before the change is committed. Copying a
        whole shard from a replica also brings everything that replica had applied."""
        applied = None
        if whole_shard:
            _, applied, _ = await self._call_peer(source, "ae_root", self.view.epoch)
        copied = 0
        for p in partitions:
            copied += await self._repair_partition(source, p, push_too=False)
        if applied is not None:
            await self._submit(lambda r: r.learn(applied))
        return copied

    async def commit(self, view_json: str) -> int:
        """Adopt a newer view; drop what was handed off once its forwarding is sent."""
        view = View.from_json(view_json)
        if await self._submit(lambda r: r.commit(view)):
            self._ensure_senders()
            self._tasks.append(asyncio.get_running_loop().create_task(
                self._drop_handed_off()))
        return self.view.epoch

    async def _drop_handed_off(self) -> None:
        while any(peer not in self.replica.peers for peer in self.replica.outbox_sizes()):
            await asyncio.sleep(1.0)
        dropped = await self._submit(lambda r: r.drop_unowned())
        if dropped:
            log.info("dropped %d handed-off partitions", dropped)

    # -- test and operator hooks ------------------------------------------------------

    async def set_faults(self, blocked: list[str]) -> None:
        self._blocked = set(blocked)
        for ready in self._outbox_ready.values():
            ready.set()

    async def outbox_sizes(self) -> dict[str, int]:
        return self.replica.outbox_sizes()

    async def clear_outbox(self) -> None:
        await self._submit(lambda r: r.store.outbox_clear())

