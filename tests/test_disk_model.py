"""The simulator's model of a disk matches a real node's store: a commit is synced before
it returns (WAL, synchronous=FULL), which is what lets the simulator's stores keep every
commit through a power loss. A store opened with weaker settings makes the simulator's
stores forget commits since the last sync, and the simulator then reports lost writes
(the rule mutant ``commit-without-fsync`` shows it)."""

from __future__ import annotations

from pathlib import Path

from dwp.core.store import MemoryStore
from dwp.node.sqlite import SqliteStore
from tests.simulation.disk import FULL, commits_are_durable, durable_at_commit


def test_a_node_store_syncs_every_commit_as_the_simulator_assumes(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "n1" / "replica.db")
    try:
        assert store.durability() == ("wal", FULL)
    finally:
        store.close()
    assert commits_are_durable()


def test_only_full_or_extra_sync_counts_a_commit_as_on_disk() -> None:
    assert durable_at_commit("wal", 2) and durable_at_commit("wal", 3)
    assert not durable_at_commit("wal", 1) and not durable_at_commit("wal", 0)
    assert not durable_at_commit("delete", 0)


def _commit(store: MemoryStore, key: str) -> None:
    with store.transaction():
        store.put_state(key, 0, key.encode(), 1)
        store.meta_set("counter", key)


def test_a_power_loss_keeps_what_was_synced_and_drops_the_rest() -> None:
    store = MemoryStore(sync_on_commit=False)
    _commit(store, "a")
    store.sync()
    _commit(store, "b")
    _commit(store, "c")
    store.lose_unsynced()
    assert sorted(store.states) == ["a"] and store.meta["counter"] == "a"


def test_with_synced_commits_a_power_loss_loses_nothing() -> None:
    store = MemoryStore()
    _commit(store, "a")
    _commit(store, "b")
    store.lose_unsynced()
    assert sorted(store.states) == ["a", "b"]
