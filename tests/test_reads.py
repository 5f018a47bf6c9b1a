"""The rules the node loop used to hold, tested against the core alone: what a read, a
listing and a node's status answer (``dwp.core.reads``), the byte tally
(``dwp.core.tally``), what each message means (``dwp.core.answers``) and when an old
owner may drop a partition (``dwp.core.sessions.drop_at``). No Ray, no event loop."""

from __future__ import annotations

from typing import Any

import pytest

from dwp.core.answers import NODE_MESSAGES, Each, Fresh, Local, Rerouted, answer, reapable
from dwp.core.codec import decode_state
from dwp.core.errors import NotOwner
from dwp.core.messages import (
    Batch,
    ChunkRefs,
    Commit,
    Delete,
    Deleted,
    Get,
    GetView,
    Import,
    Info,
    ListEntry,
    ListKeys,
    Ping,
    Prepare,
    Put,
    PutChunks,
    ReadReply,
    Reap,
    Reapable,
    SetFaults,
    Sweep,
    SyncNow,
    Written,
)
from dwp.core.reads import list_entry, list_keys, node_info, read, vouched
from dwp.core.replica import Replica
from dwp.core.sessions import drop_at
from dwp.core.store import MemoryStore, Usage
from dwp.core.tally import Tally
from dwp.core.version import Version
from dwp.core.view import NodeSpec, View
from tests.simulation.shard import commit, version


def two_shards() -> tuple[View, Replica, Replica]:
    """A network of two shards of two replicas; one replica of each shard."""
    view = View.create("t", [NodeSpec(f"n{i}", f"h{i}") for i in range(1, 5)], 2,
                       partitions=16)
    mine, other = view.shards[0][0], view.shards[1][0]
    return (view, Replica(mine, view, MemoryStore(), lambda: "a", lambda: 1000.0),
            Replica(other, view, MemoryStore(), lambda: "b", lambda: 1000.0))


def key_of(replica: Replica, owned: bool, n: int = 0) -> str:
    """The ``n``-th key ``site/k<i>`` that ``replica`` owns (or does not)."""
    keys = (f"site/k{i}" for i in range(1000))
    return [k for k in keys if replica.owns_key(k) == owned][n]


def put(replica: Replica, key: str, text: str) -> None:
    commit(replica, lambda r: r.write(key, version(text), None))


def delete(replica: Replica, key: str) -> None:
    commit(replica, lambda r: r.delete(key, Version.tombstone(1.0, {}), None))


# -- reads -------------------------------------------------------------------------------

def test_a_read_of_a_key_another_shard_owns_is_refused_with_the_view() -> None:
    view, mine, _ = two_shards()
    with pytest.raises(NotOwner) as refused:
        read(mine, Get(key_of(mine, owned=False), {}, 0.0))
    assert refused.value.view_json == view.to_json()


def test_a_read_answers_the_state_and_vouches_for_the_need_it_was_found_fresh_for() -> None:
    _, mine, _ = two_shards()
    key = key_of(mine, owned=True)
    put(mine, key, "one")
    reply = read(mine, Get(key, {mine.id: 1, "gone.x": 4}, 0.0))
    assert reply.fresh and reply.state == mine.store.get_state(key)
    assert reply.applied == {**mine.applied(), "gone.x": 4}


def test_a_read_with_history_answers_the_whole_state() -> None:
    _, mine, _ = two_shards()
    key = key_of(mine, owned=True)
    put(mine, key, "one")
    assert read(mine, Get(key, {}, 0.0, history=True)).state == mine.whole(key)


def test_vouched_names_only_what_the_applied_vector_does_not_show() -> None:
    _, mine, _ = two_shards()
    put(mine, key_of(mine, owned=True), "one")
    assert vouched(mine, {mine.id: 1, "x.1": 3}) == {"x.1": 3}
    assert vouched(mine, {mine.id: 2}) == {mine.id: 2}
    assert vouched(mine, {}) == {}


# -- listings -----------------------------------------------------------------------------

def test_a_listing_holds_live_owned_keys_in_order_with_their_sibling_count() -> None:
    _, mine, other = two_shards()
    a, b, c = (key_of(mine, owned=True, n=i) for i in range(3))
    foreign = key_of(mine, owned=False)
    put(mine, a, "aa")
    put(mine, b, "b")
    delete(mine, b)
    put(mine, c, "ccc")
    put(other, foreign, "held here, owned there")
    states = [(foreign, other.store.get_state(foreign) or b"")]
    commit(mine, lambda r: r.apply(None, states, [], None))
    assert mine.store.get_state(foreign) is not None
    listing = list_keys(mine, ListKeys("site/", "", 10))
    assert [e.key for e in listing] == sorted([a, c])
    first = listing[0]
    assert (first.size, first.content_type, first.siblings) == (len(
        decode_state(mine.store.get_state(first.key) or b"").siblings[0].value.data or b""),
        "text/plain", 1)


def test_a_listing_scans_past_keys_it_skips_to_fill_its_limit() -> None:
    _, mine, _ = two_shards()
    owned = [key_of(mine, owned=True, n=i) for i in range(4)]
    for k in owned[:3]:
        put(mine, k, "x")
        delete(mine, k)
    put(mine, owned[3], "live")
    assert [e.key for e in list_keys(mine, ListKeys("site/", "", 1))] == [owned[3]]
    assert list_keys(mine, ListKeys("site/", owned[3], 1)) == []


def test_a_deleted_key_has_no_listing_entry() -> None:
    _, mine, _ = two_shards()
    key = key_of(mine, owned=True)
    put(mine, key, "x")
    delete(mine, key)
    assert list_entry(key, mine.store.get_state(key) or b"") is None


# -- what a node says of itself -----------------------------------------------------------

def test_node_info_counts_keys_of_owned_partitions_and_reports_the_tally() -> None:
    view, mine, other = two_shards()
    put(mine, key_of(mine, owned=True), "x")
    foreign = key_of(mine, owned=False)
    put(other, foreign, "y")
    states = [(foreign, other.store.get_state(foreign) or b"")]
    commit(mine, lambda r: r.apply(None, states, [], None))
    mine.tally.note(b"", None, 0, 0)
    info = node_info(mine, pid=4242)
    assert (info.id, info.pid, info.keys, info.epoch) == (mine.node_id, 4242, 1, view.epoch)
    assert info.partitions == len(mine.owned) and info.shard == 0
    assert info.digest == mine.digest() and not info.changing
    assert info.bytes == mine.tally.bytes(mine.store.usage())


# -- the byte tally -----------------------------------------------------------------------

def usage(chunk_bytes: int) -> Usage:
    return Usage(keys=1, state_bytes=100, history_bytes=10, chunks=3, chunk_bytes=chunk_bytes,
                 disk=5000)


def test_the_tally_changes_only_when_a_round_reaches_the_end() -> None:
    t = Tally()
    t.note(b"", b"\x80", 30, 5)
    assert (t.garbage, t.history) == (0, 0)
    t.note(b"\x80", None, 20, 1)
    assert (t.garbage, t.history) == (50, 6)


def test_the_last_word_on_a_range_counts_and_a_new_round_starts_over() -> None:
    t = Tally()
    t.note(b"", b"\x80", 30, 5)
    t.note(b"", b"\x80", 10, 5)  # the second pass of the range: what did go
    t.note(b"\x80", None, 20, 1)
    assert (t.garbage, t.history) == (30, 6)
    t.note(b"", None, 7, 0)
    assert (t.garbage, t.history) == (7, 0)


def test_the_tally_splits_the_stores_bytes_within_what_it_holds() -> None:
    t = Tally()
    t.note(b"", None, 40, 30)
    assert t.bytes(usage(100)) == {"live": 130, "history": 40, "garbage": 40, "disk": 5000}
    assert t.bytes(usage(50)) == {"live": 100, "history": 40, "garbage": 20, "disk": 5000}
    assert t.bytes(usage(20)) == {"live": 100, "history": 30, "garbage": 0, "disk": 5000}


def test_a_dry_sweep_counts_what_would_go_as_garbage_and_a_real_one_does_not() -> None:
    view, mine, _ = two_shards()
    chunk = next(c for c in (bytes([i]) * 32 for i in range(256))
                 if mine.owns(view.partition_of_chunk(c)))
    commit(mine, lambda r: r.put_chunk(chunk, b"x" * 10))
    dry = Sweep(view.epoch, 2000.0, b"", None, [], [], 100, True)
    swept = commit(mine, answer(mine, dry).op)
    assert swept.chunks == [(chunk, 10)] and mine.tally.garbage == 10
    real = Sweep(view.epoch, 2000.0, b"", None, [], [], 100, False)
    swept = commit(mine, answer(mine, real).op)
    assert swept.chunks == [(chunk, 10)] and mine.tally.garbage == 0


def test_a_refused_sweep_removes_nothing_and_says_why() -> None:
    view, mine, _ = two_shards()
    swept = commit(mine, answer(mine, Sweep(view.epoch + 1, 0.0, b"", None, [], [], 1,
                                            False)).op)
    assert swept.chunks == [] and swept.refused.startswith("Nothing was swept because")


# -- reaping --------------------------------------------------------------------------------

def test_a_reap_page_names_what_this_replica_may_remove_and_what_it_keeps() -> None:
    assert reapable(["a", "b", "c"], ["b"], "c") == Reapable(["b"], ["a", "c"], "c")
    assert reapable([], [], None) == Reapable([], [], None)


def test_a_dry_reap_of_deleted_keys_a_shard_mate_may_not_have_keeps_them() -> None:
    _, mine, _ = two_shards()
    key = key_of(mine, owned=True)
    put(mine, key, "x")
    delete(mine, key)
    page = commit(mine, answer(mine, Reap("")).op)
    assert page == Reapable([], [key], None)
    assert mine.store.get_state(key) is not None


# -- hand-off -------------------------------------------------------------------------------

def test_a_partition_is_dropped_only_when_every_new_owner_confirmed_one_fingerprint() -> None:
    assert drop_at([7, 7]) == 7
    assert drop_at([7]) == 7
    assert drop_at([7, TimeoutError()]) is None
    assert drop_at([TimeoutError()]) is None
    assert drop_at([7, 8]) is None
    assert drop_at([]) is None


# -- one dispatch ---------------------------------------------------------------------------

def test_a_read_waits_for_the_tokens_writes_in_the_keys_partition() -> None:
    view, mine, _ = two_shards()
    key = key_of(mine, owned=True)
    step = answer(mine, Get(key, {"x.1": 3}, 2.0))
    assert isinstance(step, Fresh)
    assert (step.need, step.wait, step.partitions) == ({"x.1": 3}, 2.0,
                                                       [view.partition_of_key(key)])
    assert step.behind == ReadReply(False, None, {})
    assert step.then(mine) == read(mine, Get(key, {"x.1": 3}, 2.0))


def test_a_listing_waits_for_the_tokens_writes_anywhere() -> None:
    _, mine, _ = two_shards()
    step = answer(mine, ListKeys("site/", "", 5, {"x.1": 3}, 1.0))
    assert isinstance(step, Fresh)
    assert (step.need, step.wait, step.partitions, step.behind) == ({"x.1": 3}, 1.0, None,
                                                                    None)
    assert step.then(mine) == []


def test_writes_are_local_operations_answered_by_what_they_wrote() -> None:
    _, mine, _ = two_shards()
    key = key_of(mine, owned=True)
    written = commit(mine, answer(mine, Put(key, version("one"), None)).op)
    assert isinstance(written, Written) and written.state == mine.store.get_state(key)
    gone = commit(mine, answer(mine, Delete(key_of(mine, owned=True, n=1), 1.0, {},
                                            None)).op)
    assert gone == Deleted(None)


def test_a_batch_is_each_of_its_writes_answered_alone() -> None:
    _, mine, _ = two_shards()
    writes: list[Any] = [Put(key_of(mine, owned=True), version("one"), None),
                         PutChunks([(bytes(32), b"x")])]
    step = answer(mine, Batch(writes))
    assert isinstance(step, Each) and len(step.answers) == 2
    assert all(isinstance(a, Local) for a in step.answers)
    with pytest.raises(TypeError):
        answer(mine, Batch([Ping()]))  # type: ignore[list-item]


def test_view_changes_reroute_the_outbox() -> None:
    view, mine, _ = two_shards()
    prepare = answer(mine, Prepare(view.to_json()))
    commit_ = answer(mine, Commit(view.to_json()))
    assert isinstance(prepare, Rerouted) and isinstance(commit_, Rerouted)
    assert commit_.reply(mine) == view.epoch


def test_plain_questions_are_answered_at_once() -> None:
    view, mine, _ = two_shards()
    assert answer(mine, Ping()) == mine.node_id
    assert answer(mine, GetView()).view == view.to_json()
    assert answer(mine, ChunkRefs("", 10)).epoch == view.epoch


@pytest.mark.parametrize("message", [SetFaults([]), SyncNow(), Import("n2", [0], False),
                                     Info()])
def test_the_nodes_own_messages_are_not_the_replicas(message: Any) -> None:
    assert isinstance(message, NODE_MESSAGES)
    _, mine, _ = two_shards()
    with pytest.raises(TypeError, match="answered by the node"):
        answer(mine, message)


def test_the_node_answers_exactly_its_own_messages() -> None:
    from dwp.node.loop import Node, NodeSettings

    _, mine, _ = two_shards()

    async def run(fn: Any) -> Any:
        return fn()
    node = Node(mine, transport=None, settings=NodeSettings("t"),  # type: ignore[arg-type]
                run_in_writer=run)
    assert set(node._own) == set(NODE_MESSAGES)


def test_list_entry_names_the_winner() -> None:
    _, mine, _ = two_shards()
    key = key_of(mine, owned=True)
    put(mine, key, "hello")
    entry = list_entry(key, mine.store.get_state(key) or b"")
    assert entry is not None and isinstance(entry, ListEntry)
    assert (entry.key, entry.size, entry.siblings) == (key, 5, 1)
