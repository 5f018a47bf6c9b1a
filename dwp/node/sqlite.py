"""The durable store: one SQLite database per replica.

WAL mode with ``synchronous=FULL``: a transaction is on disk (fsync) when ``commit``
returns, so the node acknowledges only after it. One writer connection, used by one
thread; readers get their own connection and never block the writer. WAL checkpoints
run on a background thread with its own connection (``PASSIVE``, which never blocks the
writer, and now and then a short ``RESTART`` so the WAL starts over), so no client's
commit pays for copying the WAL into the database.

A key is a row of ``objects`` (state and fingerprint) and one row of ``kept`` per version
its history keeps, so a write inserts and deletes kept rows whole and never rewrites the
others. A store made before kept rows is migrated when it opens (``_move_history``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from dwp.core.clock import Dot
from dwp.core.codec import (
    chunk_entry_hash,
    decode_siblings,
    encode_version,
    entry_hash,
    kept_hash,
)
from dwp.core.keys import prefix_end
from dwp.core.store import Kept, OutboxEntry, Store, Stored, Usage
from dwp.node.dirlock import DirLock
from dwp.node.private import FILE_MODE, tighten

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS objects (
    key TEXT PRIMARY KEY, partition INTEGER NOT NULL, state BLOB NOT NULL,
    ehash BLOB NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS objects_partition ON objects (partition);
CREATE TABLE IF NOT EXISTS kept (
    key TEXT NOT NULL, replica TEXT NOT NULL, counter INTEGER NOT NULL,
    mtime REAL NOT NULL, write_id TEXT NOT NULL, deleted INTEGER NOT NULL,
    fingerprint BLOB NOT NULL, body BLOB NOT NULL, PRIMARY KEY (key, replica, counter));
CREATE TABLE IF NOT EXISTS chunks (
    hash BLOB PRIMARY KEY, partition INTEGER NOT NULL, data BLOB NOT NULL,
    stored_at REAL NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS chunks_partition ON chunks (partition);
CREATE TABLE IF NOT EXISTS partitions (partition INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, peer TEXT NOT NULL, kind INTEGER NOT NULL,
    ref BLOB NOT NULL, counter INTEGER);
CREATE INDEX IF NOT EXISTS outbox_peer ON outbox (peer, seq);
"""
# What the tables hold, kept by triggers in the transaction that changes them, so asking
# costs one read however large the store is. Rows are written by upsert (an UPDATE),
# never INSERT OR REPLACE, whose implicit delete fires no trigger.
USAGE = (
    "CREATE TABLE usage (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
    "INSERT INTO usage SELECT 'keys', COUNT(*) FROM objects",
    "INSERT INTO usage SELECT 'state_bytes', COALESCE(SUM(length(state)), 0) FROM objects",
    "INSERT INTO usage SELECT 'history_bytes', COALESCE(SUM(length(body)), 0) FROM kept",
    "INSERT INTO usage SELECT 'chunks', COUNT(*) FROM chunks",
    "INSERT INTO usage SELECT 'chunk_bytes', COALESCE(SUM(length(data)), 0) FROM chunks",
    """CREATE TRIGGER objects_in AFTER INSERT ON objects BEGIN
  UPDATE usage SET value = value + CASE name WHEN 'keys' THEN 1 ELSE length(NEW.state) END
  WHERE name IN ('keys', 'state_bytes');
END""",
    """CREATE TRIGGER objects_up AFTER UPDATE ON objects BEGIN
  UPDATE usage SET value = value + length(NEW.state) - length(OLD.state)
  WHERE name = 'state_bytes';
END""",
    """CREATE TRIGGER objects_out AFTER DELETE ON objects BEGIN
  UPDATE usage SET value = value - CASE name WHEN 'keys' THEN 1 ELSE length(OLD.state) END
  WHERE name IN ('keys', 'state_bytes');
END""",
    """CREATE TRIGGER kept_in AFTER INSERT ON kept BEGIN
  UPDATE usage SET value = value + length(NEW.body) WHERE name = 'history_bytes';
END""",
    """CREATE TRIGGER kept_out AFTER DELETE ON kept BEGIN
  UPDATE usage SET value = value - length(OLD.body) WHERE name = 'history_bytes';
END""",
    """CREATE TRIGGER chunks_in AFTER INSERT ON chunks BEGIN
  UPDATE usage SET value = value + CASE name WHEN 'chunks' THEN 1 ELSE length(NEW.data) END
  WHERE name IN ('chunks', 'chunk_bytes');
END""",
    """CREATE TRIGGER chunks_out AFTER DELETE ON chunks BEGIN
  UPDATE usage SET value = value - CASE name WHEN 'chunks' THEN 1 ELSE length(OLD.data) END
  WHERE name IN ('chunks', 'chunk_bytes');
END""",
)
USAGE_TRIGGERS = ("objects_in", "objects_up", "objects_out", "kept_in", "kept_out",
                  "chunks_in", "chunks_out")
COLUMNS_ADDED = {  # to a store made before them: (table, column) -> its definition
    ("chunks", "stored_at"): "REAL NOT NULL DEFAULT 0",
}


def _make_private(path: Path) -> None:
    """The database file is made 0600 before SQLite opens it (SQLite gives its WAL and
    shared-memory files the database's mode); one made before this rule is fixed."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE))
    for suffix in ("", "-wal", "-shm"):
        tighten(path.with_name(path.name + suffix))


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer thread does it
    conn.execute(f"PRAGMA journal_size_limit={WAL_KEPT}")
    return conn


CHECKPOINT_EVERY = 0.5  # seconds
RESTART_FRAMES = 4000  # ~16 MB of WAL: then make the next writer start it over
# A WAL file keeps its largest size unless limited: after a burst, or a checkpointer
# starved under load, that would be tens of MB per replica for good. The first commit
# after the WAL starts over cuts the file back to this.
WAL_KEPT = 4 * 1024 * 1024


def _checkpoint_loop(path: Path, stop: threading.Event) -> None:
    """Copy committed WAL pages into the database off the commit path; a busy or failed
    round is retried on the next tick. A PASSIVE checkpoint racing a busy writer never
    lets the WAL start over (new frames keep arriving), so once it is large a RESTART
    checkpoint (which waits for the writer, briefly: PASSIVE copied nearly all) resets
    it; a growing WAL makes every commit's fsync dearer."""
    conn = _connect(path)
    try:
        while not stop.wait(CHECKPOINT_EVERY):
            with contextlib.suppress(sqlite3.Error):
                _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if frames > RESTART_FRAMES:
                    conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
    finally:
        conn.close()


class SqliteStore:
    """A Store on SQLite. Mutations run on the writer connection; reads on a reader.

    Its process owns the store's dir for as long as the store is open (``dwp.node.dirlock``):
    a second opener, in this process or another (two node actors, say, from two
    gateways' Ray runtimes), is refused, naming the owner. ``wait``: how long to wait for
    an owner that is ending (a restarted actor's predecessor). The database and its
    journal files are readable by their owner only."""

    def __init__(self, path: Path, owner: str = "a dwp store", wait: float = 0.0) -> None:
        self._dir_lock = DirLock(path.parent, owner).acquire(wait)
        self.path = path
        try:
            _make_private(path)
            self._open(path)
        except BaseException:
            self._dir_lock.release()
            raise

    def _open(self, path: Path) -> None:
        self._writer = _connect(path)
        self._writer.executescript(SCHEMA)
        self._add_columns()
        self._writer.execute("BEGIN IMMEDIATE")
        try:
            self._move_history()
            self._add_usage()
        except BaseException:
            self._writer.execute("ROLLBACK")
            raise
        self._writer.execute("COMMIT")
        self._reader = _connect(path)
        self._writer_thread: int | None = None
        self._lock = threading.Lock()
        self._stop_checkpoints = threading.Event()
        self._checkpointer = threading.Thread(
            target=_checkpoint_loop, args=(path, self._stop_checkpoints),
            name=f"dwp-checkpoint-{path.parent.name}", daemon=True)
        self._checkpointer.start()

    def _add_columns(self) -> None:
        for (table, column), kind in COLUMNS_ADDED.items():
            have = {row[1] for row in self._writer.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self._writer.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def _move_history(self) -> None:
        """A store made before kept rows holds each key's history as one blob in
        ``objects.history``: each version moves into a row of its own, the key's
        fingerprint (and its partition's hash) becomes the one this code keeps, the column
        goes, and the usage counts are made again. In the opening transaction: all or
        nothing."""
        have = {row[1] for row in self._writer.execute("PRAGMA table_info(objects)")}
        if "history" not in have:
            return
        rows = self._writer.execute("SELECT key, partition, state, ehash, history FROM objects "
                                    "WHERE history IS NOT NULL").fetchall()
        moved: dict[int, int] = {}
        for key, partition, state, ehash, blob in rows:
            e = entry_hash(key, state)
            for s in decode_siblings(blob):
                body = encode_version(s.value)
                f = kept_hash(key, s.dot, body)
                self._writer.execute(
                    "INSERT INTO kept VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (key, s.dot.replica, s.dot.counter, s.value.mtime, s.value.write_id,
                     s.value.deleted, f.to_bytes(16, "big"), body))
                e ^= f
            self._writer.execute("UPDATE objects SET ehash=? WHERE key=?",
                                 (e.to_bytes(16, "big"), key))
            moved[partition] = moved.get(partition, 0) ^ int.from_bytes(ehash, "big") ^ e
        hashes = dict(self._writer.execute("SELECT partition, hash FROM partitions"))
        for partition, change in moved.items():
            value = int.from_bytes(hashes.get(partition, bytes(16)), "big") ^ change
            self._writer.execute("INSERT OR REPLACE INTO partitions VALUES (?, ?)",
                                 (partition, value.to_bytes(16, "big")))
        for name in USAGE_TRIGGERS:  # the old ones name the column, which must go first
            self._writer.execute(f"DROP TRIGGER IF EXISTS {name}")
        self._writer.execute("ALTER TABLE objects DROP COLUMN history")

    def _add_usage(self) -> None:
        """Counted once from the tables when the store first opens with this code (or
        with its usage table gone, or kept by triggers of code before kept rows)."""
        have = {name for (name,) in self._writer.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")}
        if "usage" in have and have >= set(USAGE_TRIGGERS):
            return
        for name in USAGE_TRIGGERS:
            self._writer.execute(f"DROP TRIGGER IF EXISTS {name}")
        self._writer.execute("DROP TABLE IF EXISTS usage")
        for statement in USAGE:
            self._writer.execute(statement)

    def durability(self) -> tuple[str, int]:
        """The writer's (journal_mode, synchronous): what a commit leaves on disk. The
        simulator's stores model exactly this (``tests/simulation/disk.py``)."""
        journal = self._writer.execute("PRAGMA journal_mode").fetchone()[0]
        sync = self._writer.execute("PRAGMA synchronous").fetchone()[0]
        return str(journal), int(sync)

    def close(self) -> None:
        self._stop_checkpoints.set()
        self._checkpointer.join()
        self._reader.close()
        self._writer.close()
        self._dir_lock.release()

    def _conn(self) -> sqlite3.Connection:
        """The writer inside a transaction on its thread (to see its own changes)."""
        if self._writer_thread == threading.get_ident():
            return self._writer
        return self._reader

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            self._writer.execute("BEGIN IMMEDIATE")
            self._writer_thread = threading.get_ident()
            try:
                yield
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            else:
                self._writer.execute("COMMIT")
            finally:
                self._writer_thread = None

    def meta_get(self, name: str) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return row[0] if row else None

    def meta_set(self, name: str, value: str) -> None:
        self._writer.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))

    def get_state(self, key: str) -> bytes | None:
        row = self._conn().execute("SELECT state FROM objects WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def get_stored(self, key: str) -> Stored | None:
        """State, fingerprint and the kept versions' metadata in one statement (one
        snapshot); the bodies, last in their rows, are not read."""
        rows = self._conn().execute(
            "SELECT 0, state, ehash, '', 0, 0, '', 0 FROM objects WHERE key=? UNION ALL "
            "SELECT 1, NULL, fingerprint, replica, counter, mtime, write_id, deleted "
            "FROM kept WHERE key=? ORDER BY 1, 4, 5", (key, key)).fetchall()
        if not rows or rows[0][0] != 0:
            return None
        kept = tuple(Kept(Dot(r, c), m, w, bool(d), int.from_bytes(f, "big"))
                     for _, _, f, r, c, m, w, d in rows[1:])
        return Stored(rows[0][1], int.from_bytes(rows[0][2], "big"), kept)

    def put_state(self, key: str, partition: int, blob: bytes, ehash: int) -> None:
        self._writer.execute(
            "INSERT INTO objects VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
            "partition=excluded.partition, state=excluded.state, ehash=excluded.ehash",
            (key, partition, blob, ehash.to_bytes(16, "big")))

    def keep_version(self, key: str, kept: Kept, body: bytes) -> None:
        self._writer.execute(
            "INSERT INTO kept VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (key, kept.dot.replica, kept.dot.counter, kept.mtime, kept.write_id,
             kept.deleted, kept.fingerprint.to_bytes(16, "big"), body))

    def drop_kept(self, key: str, dot: Dot) -> None:
        self._writer.execute("DELETE FROM kept WHERE key=? AND replica=? AND counter=?",
                             (key, dot.replica, dot.counter))

    def get_whole(self, key: str) -> tuple[bytes, list[tuple[Dot, bytes]]] | None:
        """The state and every kept version's body, in dot order, in one statement (one
        snapshot: a commit between two reads cannot pair a state with another's history)."""
        rows = self._conn().execute(
            "SELECT 0, '', 0, state FROM objects WHERE key=? UNION ALL "
            "SELECT 1, replica, counter, body FROM kept WHERE key=? ORDER BY 1, 2, 3",
            (key, key)).fetchall()
        if not rows or rows[0][0] != 0:
            return None
        return rows[0][3], [(Dot(r, c), body) for _, r, c, body in rows[1:]]

    def drop_state(self, key: str) -> None:
        self._writer.execute("DELETE FROM kept WHERE key=?", (key,))
        self._writer.execute("DELETE FROM objects WHERE key=?", (key,))

    def states_after(self, after: str, limit: int) -> list[tuple[str, bytes]]:
        """Keys in order after ``after``, with their states: a scan in bounded steps."""
        return self._conn().execute(
            "SELECT key, state FROM objects WHERE key > ? ORDER BY key LIMIT ?",
            (after, limit)).fetchall()

    def kept_between(self, after: str, upto: str) -> list[tuple[str, bytes]]:
        """The kept versions' bodies of keys in (after, upto], with their keys."""
        return self._conn().execute(
            "SELECT key, body FROM kept WHERE key > ? AND key <= ? ORDER BY key, replica, "
            "counter", (after, upto)).fetchall()

    def get_chunk(self, chunk: bytes) -> bytes | None:
        row = self._conn().execute("SELECT data FROM chunks WHERE hash=?", (chunk,)).fetchone()
        return row[0] if row else None

    def has_chunk(self, chunk: bytes) -> bool:
        return self._conn().execute(
            "SELECT 1 FROM chunks WHERE hash=?", (chunk,)).fetchone() is not None

    def put_chunk(self, chunk: bytes, partition: int, data: bytes, now: float) -> None:
        self._writer.execute("INSERT OR IGNORE INTO chunks VALUES (?, ?, ?, ?)",
                             (chunk, partition, data, now))

    def touch_chunk(self, chunk: bytes, now: float) -> None:
        self._writer.execute("UPDATE chunks SET stored_at=max(stored_at, ?) WHERE hash=?",
                             (now, chunk))

    def drop_chunk(self, chunk: bytes) -> None:
        self._writer.execute("DELETE FROM chunks WHERE hash=?", (chunk,))

    def chunks_after(self, after: bytes, limit: int) -> list[tuple[bytes, int, float]]:
        """Chunks (hash, size, when last stored) in hash order after ``after``."""
        return self._conn().execute(
            "SELECT hash, length(data), stored_at FROM chunks WHERE hash > ? "
            "ORDER BY hash LIMIT ?", (after, limit)).fetchall()

    def usage(self) -> Usage:
        totals = dict(self._conn().execute("SELECT name, value FROM usage").fetchall())
        files = sum(f.stat().st_size for f in self.path.parent.glob(self.path.name + "*"))
        return Usage(totals["keys"], totals["state_bytes"], totals["history_bytes"],
                     totals["chunks"], totals["chunk_bytes"], files)

    def partition_hashes(self) -> dict[int, int]:
        rows = self._conn().execute("SELECT partition, hash FROM partitions")
        return {p: int.from_bytes(h, "big") for p, h in rows}

    def set_partition_hash(self, partition: int, value: int) -> None:
        self._writer.execute("INSERT OR REPLACE INTO partitions VALUES (?, ?)",
                             (partition, value.to_bytes(16, "big")))

    def drop_partition_hash(self, partition: int) -> None:
        self._writer.execute("DELETE FROM partitions WHERE partition=?", (partition,))

    def drop_partition(self, partition: int) -> None:
        self._writer.execute("DELETE FROM kept WHERE key IN "
                             "(SELECT key FROM objects WHERE partition=?)", (partition,))
        self._writer.execute("DELETE FROM objects WHERE partition=?", (partition,))
        self._writer.execute("DELETE FROM chunks WHERE partition=?", (partition,))

    def count_by_partition(self) -> dict[int, int]:
        rows = self._conn().execute("SELECT partition, COUNT(*) FROM objects GROUP BY partition")
        return dict(rows.fetchall())

    def partition_entries(self, partition: int) -> dict[str | bytes, int]:
        conn = self._conn()
        out: dict[str | bytes, int] = {
            k: int.from_bytes(e, "big") for k, e in conn.execute(
                "SELECT key, ehash FROM objects WHERE partition=?", (partition,))}
        for (c,) in conn.execute("SELECT hash FROM chunks WHERE partition=?", (partition,)):
            out[c] = chunk_entry_hash(c)
        return out

    def scan(self, prefix: str, after: str, limit: int) -> list[tuple[str, bytes]]:
        end = prefix_end(prefix)
        if end is None:
            return self._conn().execute(
                "SELECT key, state FROM objects WHERE key > ? ORDER BY key LIMIT ?",
                (after, limit)).fetchall()
        return self._conn().execute(
            "SELECT key, state FROM objects WHERE key >= ? AND key > ? AND key < ? "
            "ORDER BY key LIMIT ?", (prefix, after, end, limit)).fetchall()

    def count_keys(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM objects").fetchone()[0]

    def outbox_add(self, peer: str, kind: int, ref: str | bytes, counter: int | None) -> None:
        self._writer.execute("INSERT INTO outbox (peer, kind, ref, counter) VALUES (?,?,?,?)",
                             (peer, kind, ref, counter))

    def outbox_read(self, peer: str, limit: int, after_seq: int = 0) -> list[OutboxEntry]:
        rows = self._conn().execute(
            "SELECT seq, kind, ref, counter FROM outbox WHERE peer=? AND seq>? "
            "ORDER BY seq LIMIT ?", (peer, after_seq, limit))
        return [OutboxEntry(*row) for row in rows]

    def outbox_ack(self, peer: str, upto_seq: int) -> None:
        self._writer.execute("DELETE FROM outbox WHERE peer=? AND seq<=?", (peer, upto_seq))

    def outbox_sizes(self, after_seq: Mapping[str, int] | None = None) -> dict[str, int]:
        conn, after = self._conn(), after_seq or {}
        peers = [p for (p,) in conn.execute("SELECT DISTINCT peer FROM outbox")]
        return {p: conn.execute("SELECT COUNT(*) FROM outbox WHERE peer=? AND seq>?",
                                (p, after.get(p, 0))).fetchone()[0] for p in peers}

    def outbox_clear(self) -> None:
        self._writer.execute("DELETE FROM outbox")

    def outbox_drop(self, peer: str) -> None:
        self._writer.execute("DELETE FROM outbox WHERE peer=?", (peer,))


if TYPE_CHECKING:
    _sqlite_store_is_a_store: type[Store] = SqliteStore  # mypy holds it to the protocol
