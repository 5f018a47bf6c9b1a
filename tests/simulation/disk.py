"""What a node's disk keeps, as the simulator models it: read from a real SQLite store.

A node acknowledges a write once its commit returns. Whether that commit survives a
power loss depends on the store's settings: with ``synchronous=FULL`` (or EXTRA) SQLite
fsyncs before the commit returns; with NORMAL in WAL mode, only at a checkpoint; with
OFF, whenever the OS writes back. The simulator's ``MemoryStore`` keeps what was synced
apart from what was only written, and a power loss drops the latter: so a store opened
with weaker settings loses acknowledged writes in the simulation too.
"""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from dwp.core.clock import Dot
from dwp.node.sqlite import SqliteStore

FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA
WRITEBACK_SECONDS = 5.0  # how often unsynced commits reach the disk anyway


def durable_at_commit(journal_mode: str, synchronous: int) -> bool:
    """True when a commit is on disk once it returns."""
    return synchronous >= FULL


@functools.cache
def real_store_settings() -> tuple[str, int]:
    """(journal_mode, synchronous) of a store as a node opens it."""
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "probe" / "replica.db")
        try:
            return store.durability()
        finally:
            store.close()


def commits_are_durable() -> bool:
    """What the simulator's stores do at commit: what a real node's store does."""
    return durable_at_commit(*real_store_settings())


@dataclass
class LostWrites:
    """What went with lost disks, per key and writer: the dots ``(after, upto]`` that no
    surviving store's state of the key covered. Only these excuse a missing write."""

    ranges: list[tuple[str, str, int, int]] = field(default_factory=list)

    def add(self, key: str, replica: str, after: int, upto: int) -> None:
        self.ranges.append((key, replica, after, upto))

    def clear(self) -> None:
        self.ranges.clear()

    def between(self, key: str, replica: str, low: int, high: int) -> bool:
        """Some dot of ``replica`` in ``(low, high]`` of ``key`` was lost."""
        return any(k == key and r == replica and after < high and low < upto
                   for k, r, after, upto in self.ranges)

    def dot(self, key: str, dot: Dot) -> bool:
        return self.between(key, dot.replica, dot.counter - 1, dot.counter)

    def under(self, key: str, context: dict[str, int]) -> bool:
        """Some write that ``context`` covers was lost: a state naming it cannot come back."""
        return any(self.between(key, r, 0, c) for r, c in context.items())
