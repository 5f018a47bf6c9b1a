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
from pathlib import Path

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
