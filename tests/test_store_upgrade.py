"""A data dir made before kept rows (each key's history one blob in ``objects.history``)
opens with this code and is migrated in place: every kept version is read back, and the
fingerprints and digest are what this code computes for the same writes."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path

import msgpack

from dwp.core.codec import encode_whole
from dwp.core.replica import Replica
from dwp.core.store import MemoryStore
from dwp.core.version import Version
from dwp.core.view import NodeSpec, View
from dwp.node.sqlite import SqliteStore
from tests.simulation.shard import version
from tests.test_store import counted

# The schema and usage triggers of the store before kept rows, as that code made them.
OLD_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE objects (
    key TEXT PRIMARY KEY, partition INTEGER NOT NULL, state BLOB NOT NULL,
    ehash BLOB NOT NULL, history BLOB) WITHOUT ROWID;
CREATE INDEX objects_partition ON objects (partition);
CREATE TABLE chunks (
    hash BLOB PRIMARY KEY, partition INTEGER NOT NULL, data BLOB NOT NULL,
    stored_at REAL NOT NULL DEFAULT 0);
CREATE INDEX chunks_partition ON chunks (partition);
CREATE TABLE partitions (partition INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, peer TEXT NOT NULL, kind INTEGER NOT NULL,
    ref BLOB NOT NULL, counter INTEGER);
CREATE INDEX outbox_peer ON outbox (peer, seq);
CREATE TABLE usage (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO usage VALUES ('keys', 0), ('state_bytes', 0), ('history_bytes', 0),
    ('chunks', 0), ('chunk_bytes', 0);
CREATE TRIGGER objects_in AFTER INSERT ON objects BEGIN
  UPDATE usage SET value = value + CASE name WHEN 'keys' THEN 1
    WHEN 'state_bytes' THEN length(NEW.state)
    ELSE COALESCE(length(NEW.history), 0) END
  WHERE name IN ('keys', 'state_bytes', 'history_bytes');
END;
CREATE TRIGGER objects_up AFTER UPDATE ON objects BEGIN
  UPDATE usage SET value = value + CASE name
    WHEN 'state_bytes' THEN length(NEW.state) - length(OLD.state)
    ELSE COALESCE(length(NEW.history), 0) - COALESCE(length(OLD.history), 0) END
  WHERE name IN ('state_bytes', 'history_bytes');
END;
CREATE TRIGGER objects_out AFTER DELETE ON objects BEGIN
  UPDATE usage SET value = value - CASE name WHEN 'keys' THEN 1
    WHEN 'state_bytes' THEN length(OLD.state)
    ELSE COALESCE(length(OLD.history), 0) END
  WHERE name IN ('keys', 'state_bytes', 'history_bytes');
END;
CREATE TRIGGER chunks_in AFTER INSERT ON chunks BEGIN
  UPDATE usage SET value = value + CASE name WHEN 'chunks' THEN 1 ELSE length(NEW.data) END
  WHERE name IN ('chunks', 'chunk_bytes');
END;
CREATE TRIGGER chunks_out AFTER DELETE ON chunks BEGIN
  UPDATE usage SET value = value - CASE name WHEN 'chunks' THEN 1 ELSE length(OLD.data) END
  WHERE name IN ('chunks', 'chunk_bytes');
END;
"""


def _old_entry_hash(key: str, blob: bytes, history: bytes | None) -> bytes:
    """The fingerprint the old code stored: state and history blob hashed together."""
    tail = b"\0" + history if history else b""
    return hashlib.blake2b(key.encode() + b"\0" + blob + tail, digest_size=16).digest()


def _write_the_old_way(path: Path, memory: MemoryStore, replica: Replica) -> None:
    """The same replica's data as the old code stored it: state, history blob, the
    fingerprint of both, partition hashes XOR-combined from those."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(OLD_SCHEMA)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(memory.meta.items()))
    phash: dict[int, int] = {}
    for key, (partition, blob, _) in sorted(memory.states.items()):
        state = replica.get(key)
        assert state is not None
        history = (msgpack.packb(msgpack.unpackb(encode_whole(state), raw=False)[2],
                                 use_bin_type=True) if state.history else None)
        e = _old_entry_hash(key, blob, history)
        conn.execute("INSERT INTO objects VALUES (?, ?, ?, ?, ?)",
                     (key, partition, blob, e, history))
        phash[partition] = phash.get(partition, 0) ^ int.from_bytes(e, "big")
    conn.executemany("INSERT INTO partitions VALUES (?, ?)",
                     [(p, v.to_bytes(16, "big")) for p, v in phash.items()])
    conn.execute("COMMIT")
    conn.close()


def test_a_store_with_history_blobs_is_migrated_and_every_kept_version_reads_back(
        tmp_path: Path) -> None:
    view = View.create("t", [NodeSpec("n1", "h"), NodeSpec("n2", "h")], 2, partitions=16)
    memory = MemoryStore()
    replica = Replica("n1", view, memory, lambda: "a", lambda: 1000.0)
    with replica.transaction():
        for i in range(12):  # more than the key keeps: 9 kept, the oldest gone
            replica.write("s/full", version(f"full {i}", mtime=float(i)), None)
        for i in range(3):
            replica.write("s/some", version(f"some {i}", mtime=float(i)), None)
        replica.write("s/one", version("one"), None)
        replica.write("s/gone", version("gone 0", mtime=1.0), None)
        replica.delete("s/gone", Version.tombstone(2.0, {}, "w-gone"), None)
    path = tmp_path / "replica.db"
    _write_the_old_way(path, memory, replica)

    store = SqliteStore(path)
    again = Replica("n1", view, store, lambda: "b", lambda: 1000.0)
    columns = {row[1] for row in store._reader.execute("PRAGMA table_info(objects)")}
    assert "history" not in columns
    for key in memory.states:
        assert again.get(key) == replica.get(key), key
    full = again.get("s/full")
    assert full is not None and len(full.history) == view.versions - 1
    assert again.digest() == replica.digest()
    assert again.partition_hashes() == replica.partition_hashes()
    assert store.usage() == counted(store)
    assert store.usage().history_bytes == memory.usage().history_bytes > 0

    for r in (replica, again):  # and it goes on as a store this code made
        with r.transaction():
            r.write("s/full", version("full 12", mtime=12.0), None)
    assert again.get("s/full") == replica.get("s/full") and again.digest() == replica.digest()
    store.close()
    reopened = Replica("n1", view, SqliteStore(path), lambda: "c", time.time)
    assert reopened.digest() == replica.digest() and reopened.get("s/full") == replica.get(
        "s/full")
    assert reopened.store.usage() == counted(reopened.store)  # type: ignore[arg-type]
