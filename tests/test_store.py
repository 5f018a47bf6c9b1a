"""The SQLite store: durable across reopen, and listing by prefix without gaps."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dwp.core.clock import Dot
from dwp.core.keys import prefix_end
from dwp.core.replica import ForeignData, Replica
from dwp.core.store import Kept, MemoryStore, Stored, Usage
from dwp.core.view import NodeSpec, View
from dwp.node.sqlite import RESTART_FRAMES, WAL_KEPT, SqliteStore
from tests.simulation.shard import version


def test_prefix_end_bounds_exactly_the_strings_with_the_prefix() -> None:
    assert prefix_end("") is None and prefix_end("\U0010ffff") is None
    assert prefix_end("a/") == "a0" and prefix_end("a\U0010ffff") == "b"
    assert prefix_end("\ud7ff") == "\ue000"


text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
               max_size=5) | st.sampled_from(["a\U0010ffff", "a\U0010ffffb", "b"])


@settings(max_examples=50, deadline=None)
@given(text, st.lists(text, max_size=30))
def test_scan_returns_exactly_the_keys_with_the_prefix(prefix: str, keys: list[str]) -> None:
    keys = [k for k in keys if k]  # keys are never empty (dwp.core.keys)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "s.db")
        with store.transaction():
            for k in keys:
                store.put_state(k, 0, b"x", 1)
        got = [k for k, _ in store.scan(prefix, "", 1000)]
        store.close()
    assert got == sorted({k for k in keys if k.startswith(prefix)})


def test_a_reopened_store_keeps_writes_counter_and_identity(tmp_path: Path) -> None:
    view = View.create("t", [NodeSpec("n1", "h"), NodeSpec("n2", "h")], 2, partitions=16)
    store = SqliteStore(tmp_path / "replica.db")
    r = Replica("n1", view, store, lambda: "a", time.time)
    with r.transaction():
        r.write("s/k", version("v1"), None)
    store.close()
    again = Replica("n1", view, SqliteStore(tmp_path / "replica.db"), lambda: "b", time.time)
    assert (again.id, again.counter) == (r.id, 1)
    state = again.get("s/k")
    assert state is not None and state.siblings[0].value.data == b"v1"
    assert again.digest() == r.digest()
    assert again.store.outbox_sizes() == {"n2": 1}


def test_the_wal_file_shrinks_back_after_a_burst(tmp_path: Path) -> None:
    """A burst grows the WAL past the checkpointer's restart point; once it has started
    over, the next commit cuts the file back instead of keeping its largest size."""
    store = SqliteStore(tmp_path / "replica.db")
    wal = tmp_path / "replica.db-wal"
    peak = 0
    for i in range(RESTART_FRAMES * 4096 // 100_000 + 40):
        with store.transaction():
            store.put_chunk(i.to_bytes(32, "big"), 0, os.urandom(100_000), 0.0)
        peak = max(peak, wal.stat().st_size)
    assert peak > RESTART_FRAMES * 4096
    deadline = time.monotonic() + 60
    while wal.stat().st_size > WAL_KEPT and time.monotonic() < deadline:
        time.sleep(0.1)
        with store.transaction():
            store.put_state("k", 0, os.urandom(100), 1)
    assert wal.stat().st_size <= WAL_KEPT, (peak, wal.stat().st_size)
    store.close()


def test_a_key_is_read_back_with_its_kept_versions_as_both_stores_answer_it(
        tmp_path: Path) -> None:
    """What the write path reads of a key (state, fingerprint, kept metadata, no body) and
    what a history read gets (state and bodies in dot order), from both stores alike."""
    one = Kept(Dot("r.x", 2), 5.5, "w2", False, 2**127 + 1)
    two = Kept(Dot("r.a", 9), 1.25, "", True, 3)
    sqlite = SqliteStore(tmp_path / "r.db")
    for store in (sqlite, MemoryStore()):
        with store.transaction():
            store.put_state("a", 3, b"state-a", 2**127 + 5)
            store.keep_version("a", one, b"body-one")
            store.keep_version("a", two, b"body-two")
            store.put_state("b", 3, b"state-b", 7)
        assert store.get_stored("a") == Stored(b"state-a", 2**127 + 5, (two, one))
        assert store.get_stored("b") == Stored(b"state-b", 7)
        assert store.get_stored("c") is None and store.get_whole("c") is None
        assert store.get_whole("a") == (b"state-a", [(two.dot, b"body-two"),
                                                     (one.dot, b"body-one")])
        assert store.kept_between("", "a") == [("a", b"body-two"), ("a", b"body-one")]
        assert store.kept_between("a", "z") == []
        with store.transaction():
            store.drop_kept("a", two.dot)
        assert store.get_whole("a") == (b"state-a", [(one.dot, b"body-one")])
        with store.transaction():
            store.drop_state("a")
        assert store.get_whole("a") is None and store.kept_between("", "z") == []
    sqlite.close()


def test_a_data_dir_of_another_network_is_refused(tmp_path: Path) -> None:
    nodes = [NodeSpec("n1", "h"), NodeSpec("n2", "h")]
    first = SqliteStore(tmp_path / "r.db")
    Replica("n1", View.create("a", nodes, 2), first, lambda: "x", time.time)
    first.close()
    with pytest.raises(ForeignData):
        Replica("n1", View.create("a", nodes, 2), SqliteStore(tmp_path / "r.db"), lambda: "y",
                time.time)


ops = st.lists(st.one_of(
    st.tuples(st.just("put"), st.sampled_from("abcd"), st.binary(max_size=40)),
    st.tuples(st.just("keep"), st.sampled_from("abcd"), st.integers(1, 4),
              st.binary(max_size=40)),
    st.tuples(st.just("unkeep"), st.sampled_from("abcd"), st.integers(1, 4)),
    st.tuples(st.just("drop"), st.sampled_from("abcd")),
    st.tuples(st.just("chunk"), st.sampled_from([b"x", b"y", b"z"]), st.binary(max_size=40)),
    st.tuples(st.just("unchunk"), st.sampled_from([b"x", b"y", b"z"])),
    st.tuples(st.just("partition"), st.integers(0, 1))), max_size=25)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_usage_counted_by_the_store_matches_its_tables(steps: list[tuple[object, ...]]
                                                       ) -> None:
    """What ``usage`` answers (kept by triggers, write by write) is what counting the
    tables says, after any writes and removals, and on a store made before it existed."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "r.db")
        for step in steps:
            with store.transaction():
                match step:
                    case ("put", key, blob):
                        store.put_state(str(key), ord(str(key)) % 2, bytes(blob), 1)  # type: ignore[arg-type]
                    case ("keep", key, counter, body):
                        dot = Dot("r", int(counter))  # type: ignore[call-overload]
                        if (store.get_stored(str(key)) is not None
                                and dot not in {k.dot for k in store.get_stored(str(key)).kept}):  # type: ignore[union-attr]
                            store.keep_version(str(key), Kept(dot, 0.0, "", False, 1),
                                               bytes(body))  # type: ignore[arg-type]
                    case ("unkeep", key, counter):
                        store.drop_kept(str(key), Dot("r", int(counter)))  # type: ignore[call-overload]
                    case ("drop", key):
                        store.drop_state(str(key))
                    case ("chunk", chunk, data):
                        store.put_chunk(chunk, 1, data, 0.0)  # type: ignore[arg-type]
                    case ("unchunk", chunk):
                        store.drop_chunk(chunk)  # type: ignore[arg-type]
                    case ("partition", p):
                        store.drop_partition(p)  # type: ignore[arg-type]
        assert counted(store) == store.usage()
        store._writer.executescript("DROP TABLE usage")
        store.close()
        again = SqliteStore(Path(tmp) / "r.db")
        assert counted(again) == again.usage()
        again.close()


def counted(store: SqliteStore) -> object:
    conn = store._reader
    keys, states = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(length(state)), 0) FROM objects").fetchone()
    history = conn.execute("SELECT COALESCE(SUM(length(body)), 0) FROM kept").fetchone()[0]
    chunks, chunk_bytes = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(length(data)), 0) FROM chunks").fetchone()
    return Usage(keys, states, history, chunks, chunk_bytes, store.usage().disk)


class _Counting(SqliteStore):
    """A store that counts the bytes a replica hands it to write, and the history reads."""

    written = 0
    whole_reads = 0

    def put_state(self, key: str, partition: int, blob: bytes, ehash: int) -> None:
        self.written += len(blob)
        super().put_state(key, partition, blob, ehash)

    def keep_version(self, key: str, kept: Kept, body: bytes) -> None:
        self.written += len(body)
        super().keep_version(key, kept, body)

    def get_whole(self, key: str) -> tuple[bytes, list[tuple[Dot, bytes]]] | None:
        self.whole_reads += 1
        return super().get_whole(key)


def test_an_overwrite_writes_its_own_version_whatever_history_its_key_keeps(
        tmp_path: Path) -> None:
    """Issue 21: with 9 versions of 16 KB kept, an overwrite hands the store its new state
    and the one version it superseded (a row inserted, the oldest deleted), reads no kept
    body, and its commit writes a few bodies' worth of pages more than a write of a new
    key, not the history's 9 bodies (the layout before rewrote all of them each time)."""
    store = _Counting(tmp_path / "r.db")
    store._stop_checkpoints.set()  # so the WAL only grows: its size counts pages written
    store._checkpointer.join()
    view = View.create("t", [NodeSpec("n1", "h"), NodeSpec("n2", "h")], 2, partitions=16)
    replica = Replica("n1", view, store, lambda: "a", time.time)
    wal = tmp_path / "r.db-wal"
    size = 16 * 1024
    body_pages = -(-size // 4096)

    def pages(key: str, i: int) -> tuple[int, int]:
        """WAL frames and bytes handed to the store by one write's commit."""
        before, written = wal.stat().st_size, store.written
        with replica.transaction():
            replica.write(key, version(str(i % 10) * size, mtime=float(i)), None)
        return (wal.stat().st_size - before) // (4096 + 24), store.written - written

    for i in range(view.versions):
        pages("s/page", i)
    extra = []
    for i in range(view.versions, view.versions + 20):
        over, over_bytes = pages("s/page", i)
        new, new_bytes = pages(f"s/new{i}", i)
        assert over_bytes <= 2 * (size + 512) and new_bytes <= size + 512
        extra.append(over - new)
    assert store.whole_reads == 0
    assert max(extra) <= 3 * body_pages + 2 < (view.versions - 1) * body_pages, extra
    state = replica.get("s/page")
    assert state is not None and len(state.history) == view.versions - 1
    store.close()
