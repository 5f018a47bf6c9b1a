"""Gateway-side caches that stay correct under eventual consistency.

Chunks are immutable and named by their hash, so caching them is always right. Key
states are cached briefly (bounded staleness): an entry serves a read only while it is
younger than ``ttl`` and only if the replica that answered had applied everything the
reader's context token requires, so a cached read is never older than the reader's own
past. Writes through this gateway invalidate the key at once.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from dwp.core.clock import descends
from dwp.core.codec import State


@dataclass(frozen=True)
class CachedRead:
    shard: int
    node: str
    state: State
    applied: dict[str, int]  # what the answering replica had applied when it answered
    at: float


class ReadCache:
    def __init__(self, ttl: float, capacity: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.capacity, self.clock = ttl, capacity, clock
        self._entries: OrderedDict[str, CachedRead] = OrderedDict()
        self._generations: dict[str, int] = {}

    def generation(self, key: str) -> int:
        """Taken before a read: the read may be cached only if no write came since."""
        return self._generations.get(key, 0)

    def lookup(self, key: str, need: dict[str, int]) -> CachedRead | None:
        entry = self._entries.get(key)
        if entry is None or self.clock() - entry.at > self.ttl:
            return None
        if not descends(entry.applied, need):
            return None
        self._entries.move_to_end(key)
        return entry

    def store(self, key: str, generation: int, shard: int, node: str, state: State,
              applied: dict[str, int]) -> None:
        if self.ttl <= 0 or self.generation(key) != generation:
            return
        self._entries[key] = CachedRead(shard, node, state, applied, self.clock())
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def invalidate(self, key: str) -> None:
        self._generations[key] = self.generation(key) + 1
        self._entries.pop(key, None)
        if len(self._generations) > 4 * self.capacity:
            self._generations.clear()  # old generations only guard reads in flight
            self._entries.clear()

    def clear(self) -> None:
        self._entries.clear()


class ChunkCache:
    """Recently used chunks, least recently used out first, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._chunks: OrderedDict[bytes, bytes] = OrderedDict()
        self._size = 0

    def get(self, chunk: bytes) -> bytes | None:
        data = self._chunks.get(chunk)
        if data is not None:
            self._chunks.move_to_end(chunk)
        return data

    def put(self, chunk: bytes, data: bytes) -> None:
        if chunk in self._chunks or len(data) > self.max_bytes:
            return
        self._chunks[chunk] = data
        self._size += len(data)
        while self._size > self.max_bytes:
            _, old = self._chunks.popitem(last=False)
            self._size -= len(old)
