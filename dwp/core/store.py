"""The storage interface a replica needs, and an in-memory implementation for tests.

One writer per store: the replica calls the mutating methods inside ``transaction()``
only, from one thread. Keys are ``str``; chunks are addressed by their hash (``bytes``).
A key's kept versions are rows of their own (``Kept`` and a body each): the write path
reads their metadata, never their bodies, and adds or drops whole rows.

The in-memory store also models what a disk keeps: with ``sync_on_commit`` (SQLite's
``synchronous=FULL``) a commit is on disk when it returns; without it, commits reach the
disk only at ``sync()`` (a checkpoint, the OS writing back), and ``lose_unsynced()`` (a
power loss) forgets every commit since. The simulator takes the setting from a real
SQLite store (``tests/simulation/disk.py``), so a weaker setting there loses writes here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from dwp.core.clock import Dot
from dwp.core.codec import chunk_entry_hash

KIND_KEY = 0
KIND_CHUNK = 1


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    seq: int
    kind: int  # KIND_KEY or KIND_CHUNK
    ref: str | bytes  # key, or chunk hash
    counter: int | None  # the dot counter of a key write, None for chunks


@dataclass(frozen=True, slots=True)
class Kept:
    """A kept version as the write path sees it: what ranks it and tells it apart
    (``dwp.core.history``) and its share of the key's fingerprint, never its body, which
    sits in a row of its own that a write inserts or deletes whole."""

    dot: Dot
    mtime: float
    write_id: str
    deleted: bool
    fingerprint: int  # codec.kept_hash of the version: XORed out when it goes


@dataclass(frozen=True, slots=True)
class Stored:
    """What a write reads of a key, in one go: its state, the fingerprint of state and
    kept set together, and the kept versions without their bodies."""

    state: bytes
    ehash: int
    kept: tuple[Kept, ...] = ()


@dataclass(frozen=True, slots=True)
class Usage:
    """What a store holds, in bytes of payload (``disk``: its files, overhead included)."""

    keys: int
    state_bytes: int
    history_bytes: int
    chunks: int
    chunk_bytes: int
    disk: int


class Store(Protocol):
    def transaction(self) -> AbstractContextManager[None]: ...
    def meta_get(self, name: str) -> str | None: ...
    def meta_set(self, name: str, value: str) -> None: ...
    def get_state(self, key: str) -> bytes | None: ...
    def get_stored(self, key: str) -> Stored | None: ...
    def put_state(self, key: str, partition: int, blob: bytes, ehash: int) -> None: ...
    def keep_version(self, key: str, kept: Kept, body: bytes) -> None: ...
    def drop_kept(self, key: str, dot: Dot) -> None: ...
    def get_whole(self, key: str) -> tuple[bytes, list[tuple[Dot, bytes]]] | None: ...
    def drop_state(self, key: str) -> None: ...
    def states_after(self, after: str, limit: int) -> list[tuple[str, bytes]]: ...
    def kept_between(self, after: str, upto: str) -> list[tuple[str, bytes]]: ...
    def get_chunk(self, chunk: bytes) -> bytes | None: ...
    def has_chunk(self, chunk: bytes) -> bool: ...
    def put_chunk(self, chunk: bytes, partition: int, data: bytes, now: float) -> None: ...
    def touch_chunk(self, chunk: bytes, now: float) -> None: ...
    def drop_chunk(self, chunk: bytes) -> None: ...
    def chunks_after(self, after: bytes, limit: int) -> list[tuple[bytes, int, float]]: ...
    def usage(self) -> Usage: ...
    def partition_hashes(self) -> dict[int, int]: ...
    def set_partition_hash(self, partition: int, value: int) -> None: ...
    def drop_partition_hash(self, partition: int) -> None: ...
    def drop_partition(self, partition: int) -> None: ...
    def partition_entries(self, partition: int) -> dict[str | bytes, int]: ...
    def scan(self, prefix: str, after: str, limit: int) -> list[tuple[str, bytes]]: ...
    def count_keys(self) -> int: ...
    def count_by_partition(self) -> dict[int, int]: ...
    def outbox_add(self, peer: str, kind: int, ref: str | bytes, counter: int | None) -> None: ...
    def outbox_read(self, peer: str, limit: int, after_seq: int = 0) -> list[OutboxEntry]: ...
    def outbox_ack(self, peer: str, upto_seq: int) -> None: ...
    def outbox_sizes(self, after_seq: Mapping[str, int] | None = None) -> dict[str, int]: ...
    def outbox_clear(self) -> None: ...
    def outbox_drop(self, peer: str) -> None: ...


@dataclass
class MemoryStore:
    """A Store in plain dicts: the replica's logic, tested without a disk."""

    meta: dict[str, str] = field(default_factory=dict)
    states: dict[str, tuple[int, bytes, int]] = field(default_factory=dict)
    kept: dict[str, dict[Dot, tuple[Kept, bytes]]] = field(default_factory=dict)  # a
    # key's kept versions; a change replaces its dict (copies of the store share them)
    chunks: dict[bytes, tuple[int, bytes]] = field(default_factory=dict)
    stored_at: dict[bytes, float] = field(default_factory=dict)
    phash: dict[int, int] = field(default_factory=dict)
    outbox: dict[str, list[OutboxEntry]] = field(default_factory=dict)
    seq: int = 0
    sync_on_commit: bool = True  # a commit is on disk when it returns (synchronous=FULL)
    synced: MemoryStore | None = None  # what the disk holds, while commits since are not
    changes: int = 0  # transactions and power losses so far: a checker skips a store that
    # has not changed since it last looked

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if not self.sync_on_commit and self.synced is None:
            self.synced = self._copy()
        try:
            yield
        finally:
            self.changes += 1

    def sync(self) -> None:
        """Everything committed is on disk now."""
        self.synced = None

    def lose_unsynced(self) -> None:
        """A power loss: the store holds what was on disk, and nothing committed since."""
        self.changes += 1
        if self.synced is not None:
            kept, self.synced = self.synced, None
            for name in ("meta", "states", "kept", "chunks", "stored_at", "phash",
                         "outbox", "seq"):
                setattr(self, name, getattr(kept, name))

    def _copy(self) -> MemoryStore:
        return MemoryStore(dict(self.meta), dict(self.states), dict(self.kept),
                           dict(self.chunks), dict(self.stored_at), dict(self.phash),
                           {p: list(q) for p, q in self.outbox.items()}, self.seq)

    def meta_get(self, name: str) -> str | None:
        return self.meta.get(name)

    def meta_set(self, name: str, value: str) -> None:
        self.meta[name] = value

    def get_state(self, key: str) -> bytes | None:
        row = self.states.get(key)
        return row[1] if row else None

    def get_stored(self, key: str) -> Stored | None:
        row = self.states.get(key)
        if row is None:
            return None
        kept = self.kept.get(key, {})
        return Stored(row[1], row[2], tuple(kept[d][0] for d in sorted(kept)))

    def put_state(self, key: str, partition: int, blob: bytes, ehash: int) -> None:
        self.states[key] = (partition, blob, ehash)

    def keep_version(self, key: str, kept: Kept, body: bytes) -> None:
        rows = self.kept.get(key, {})
        if kept.dot in rows:
            raise ValueError(f"{key!r} keeps {kept.dot} already")
        self.kept[key] = {**rows, kept.dot: (kept, body)}

    def drop_kept(self, key: str, dot: Dot) -> None:
        rows = {d: row for d, row in self.kept.get(key, {}).items() if d != dot}
        if rows:
            self.kept[key] = rows
        else:
            self.kept.pop(key, None)

    def get_whole(self, key: str) -> tuple[bytes, list[tuple[Dot, bytes]]] | None:
        row = self.states.get(key)
        if row is None:
            return None
        kept = self.kept.get(key, {})
        return row[1], [(d, kept[d][1]) for d in sorted(kept)]

    def drop_state(self, key: str) -> None:
        self.states.pop(key, None)
        self.kept.pop(key, None)

    def states_after(self, after: str, limit: int) -> list[tuple[str, bytes]]:
        keys = sorted(k for k in self.states if k > after)[:limit]
        return [(k, self.states[k][1]) for k in keys]

    def kept_between(self, after: str, upto: str) -> list[tuple[str, bytes]]:
        return [(k, self.kept[k][d][1]) for k in sorted(k for k in self.kept if after < k <= upto)
                for d in sorted(self.kept[k])]

    def get_chunk(self, chunk: bytes) -> bytes | None:
        row = self.chunks.get(chunk)
        return row[1] if row else None

    def has_chunk(self, chunk: bytes) -> bool:
        return chunk in self.chunks

    def put_chunk(self, chunk: bytes, partition: int, data: bytes, now: float) -> None:
        if chunk not in self.chunks:
            self.chunks[chunk] = (partition, data)
            self.stored_at[chunk] = now

    def touch_chunk(self, chunk: bytes, now: float) -> None:
        if chunk in self.chunks:
            self.stored_at[chunk] = max(self.stored_at[chunk], now)

    def drop_chunk(self, chunk: bytes) -> None:
        self.chunks.pop(chunk, None)
        self.stored_at.pop(chunk, None)

    def chunks_after(self, after: bytes, limit: int) -> list[tuple[bytes, int, float]]:
        hashes = sorted(c for c in self.chunks if c > after)[:limit]
        return [(c, len(self.chunks[c][1]), self.stored_at[c]) for c in hashes]

    def usage(self) -> Usage:
        return Usage(len(self.states), sum(len(b) for _, b, _ in self.states.values()),
                     sum(len(b) for rows in self.kept.values() for _, b in rows.values()),
                     len(self.chunks),
                     sum(len(d) for _, d in self.chunks.values()), 0)

    def partition_hashes(self) -> dict[int, int]:
        return dict(self.phash)

    def set_partition_hash(self, partition: int, value: int) -> None:
        self.phash[partition] = value

    def drop_partition_hash(self, partition: int) -> None:
        self.phash.pop(partition, None)

    def drop_partition(self, partition: int) -> None:
        self.states = {k: v for k, v in self.states.items() if v[0] != partition}
        self.kept = {k: rows for k, rows in self.kept.items() if k in self.states}
        self.chunks = {c: v for c, v in self.chunks.items() if v[0] != partition}
        self.stored_at = {c: t for c, t in self.stored_at.items() if c in self.chunks}

    def partition_entries(self, partition: int) -> dict[str | bytes, int]:
        out: dict[str | bytes, int] = {
            k: e for k, (p, _, e) in self.states.items() if p == partition}
        out.update({c: chunk_entry_hash(c) for c, (p, _) in self.chunks.items() if p == partition})
        return out

    def scan(self, prefix: str, after: str, limit: int) -> list[tuple[str, bytes]]:
        keys = sorted(k for k in self.states if k.startswith(prefix) and k > after)
        return [(k, self.states[k][1]) for k in keys[:limit]]

    def count_keys(self) -> int:
        return len(self.states)

    def count_by_partition(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for p, _, _ in self.states.values():
            out[p] = out.get(p, 0) + 1
        return out

    def outbox_add(self, peer: str, kind: int, ref: str | bytes, counter: int | None) -> None:
        self.seq += 1
        self.outbox.setdefault(peer, []).append(OutboxEntry(self.seq, kind, ref, counter))

    def outbox_read(self, peer: str, limit: int, after_seq: int = 0) -> list[OutboxEntry]:
        return [e for e in self.outbox.get(peer, []) if e.seq > after_seq][:limit]

    def outbox_ack(self, peer: str, upto_seq: int) -> None:
        self.outbox[peer] = [e for e in self.outbox.get(peer, []) if e.seq > upto_seq]

    def outbox_sizes(self, after_seq: Mapping[str, int] | None = None) -> dict[str, int]:
        after = after_seq or {}
        sizes = {p: sum(e.seq > after.get(p, 0) for e in q) for p, q in self.outbox.items()}
        return {p: n for p, n in sizes.items() if n}

    def outbox_clear(self) -> None:
        self.outbox.clear()

    def outbox_drop(self, peer: str) -> None:
        self.outbox.pop(peer, None)


if TYPE_CHECKING:
    _memory_store_is_a_store: type[Store] = MemoryStore  # mypy holds it to the protocol
