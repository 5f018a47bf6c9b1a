"""The SQLite store: durable across reopen, and listing by prefix without gaps."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dwp.keys import prefix_end
from dwp.replica import ForeignData, Replica
from dwp.store import SqliteStore
from dwp.view import NodeSpec, View
from tests.sim import version


def test_prefix_end_bounds_exactly_the_strings_with_the_prefix() -> None:
    assert prefix_end("") is None and prefix_end("\U0010ffff") is None
    assert prefix_end("a/") == "a0" and prefix_end("a\U0010ffff") == "b"
    assert prefix_end("\ud7ff") == "\ue000"


text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
               max_size=5) | st.sampled_from(["a\U0010ffff", "a\U0010ffffb", "b"])


@settings(max_examples=50, deadline=None)
@given(text, st.lists(text, max_size=30))
def test_scan_returns_exactly_the_keys_with_the_prefix(prefix: str, keys: list[str]) -> None:
    keys = [k for k in keys if k]  # keys are never empty (dwp.keys)
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
    r = Replica("n1", view, store, lambda: "a")
    with r.transaction():
        r.write("s/k", version("v1"), None)
    store.close()
    again = Replica("n1", view, SqliteStore(tmp_path / "replica.db"), lambda: "b")
    assert (again.id, again.counter) == (r.id, 1)
    state = again.get("s/k")
    assert state is not None and state.siblings[0].value.data == b"v1"
    assert again.digest() == r.digest()
    assert again.store.outbox_sizes() == {"n2": 1}


def test_a_data_dir_of_another_network_is_refused(tmp_path: Path) -> None:
    nodes = [NodeSpec("n1", "h"), NodeSpec("n2", "h")]
    Replica("n1", View.create("a", nodes, 2), SqliteStore(tmp_path / "r.db"), lambda: "x")
    with pytest.raises(ForeignData):
        Replica("n1", View.create("a", nodes, 2), SqliteStore(tmp_path / "r.db"), lambda: "y")
