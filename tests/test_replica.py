"""Scenario tests of the replica state machine, in memory (tests/simulation/shard.py)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dwp.core import clock
from dwp.core.answers import answer
from dwp.core.clock import Dot
from dwp.core.codec import State, decode_state
from dwp.core.version import Version
from dwp.core.view import NodeSpec, View
from tests.simulation.shard import Shard, commit, version


def test_a_write_reaches_its_peer_through_the_outbox() -> None:
    s = Shard()
    s.write("n1", "site/a", "one")
    assert not s.converged()
    s.deliver("n1", "n2")
    assert s.values("n2", "site/a") == ["one"] and s.converged()
    assert s.stores["n1"].outbox_sizes() == {}


def test_redelivery_is_a_no_op() -> None:
    s = Shard()
    s.write("n1", "site/a", "one")
    batch = s["n1"].outbox_batch("n2")
    assert batch is not None
    for _ in range(3):
        s["n2"].apply(batch.origin, batch.states, batch.chunks, batch.upto)
    assert s.values("n2", "site/a") == ["one"]
    s.deliver("n1", "n2")
    assert s.converged()


def test_a_write_replicates_its_state_without_the_versions_its_key_keeps() -> None:
    """The batch a write queues carries the current version and the context (what it
    superseded), not the kept versions; an anti-entropy export of the key carries them."""
    s = Shard()
    for text in ("one", "two", "three"):
        s.write("n1", "site/a", text)
    batch = s["n1"].outbox_batch("n2")
    assert batch is not None
    [(key, blob)] = batch.states
    sent = decode_state(blob)
    assert key == "site/a" and [x.value.data for x in sent.siblings] == [b"three"]
    assert sent.history == ()
    [(_, whole)], _, left = s["n1"].export(["site/a"])
    assert [x.value.data for x in decode_state(whole).history] == [b"one", b"two"]
    assert not left


def test_a_replica_that_missed_a_middle_version_gets_it_from_anti_entropy() -> None:
    """n2 gets versions one and three only: it files one into its history, not two,
    so the key's fingerprint differs from n1's until an anti-entropy round sends two."""
    s = Shard()
    s.write("n1", "site/a", "one")
    s.deliver("n1", "n2")
    s.write("n1", "site/a", "two")
    s.write("n1", "site/a", "three")
    s.deliver("n1", "n2")
    assert s.values("n2", "site/a") == ["three"] and not s.converged()
    s.sync("n1", "n2")
    kept = [[x.value.data for x in s[n].get("site/a").history] for n in ("n1", "n2")]
    assert kept == [[b"one", b"two"]] * 2 and s.converged()


def test_replicas_that_saw_every_version_keep_one_history_without_anti_entropy() -> None:
    s = Shard()
    for text in ("one", "two", "three"):
        s.write("n1", "site/a", text)
        s.deliver("n1", "n2")
    assert s.converged()


def test_concurrent_writes_become_siblings_and_a_merged_context_resolves_them() -> None:
    s = Shard()
    s.cut.add(frozenset(("n1", "n2")))
    s.write("n1", "k/x", "left")
    s.write("n2", "k/x", "right")
    s.cut.clear()
    s.deliver_all()
    assert s.values("n1", "k/x") == ["left", "right"] == s.values("n2", "k/x")
    merged = s["n1"].get("k/x")
    assert merged is not None
    s.write("n2", "k/x", "resolved", merged.context)
    s.deliver_all()
    assert s.values("n1", "k/x") == ["resolved"] == s.values("n2", "k/x")
    assert s.converged()


def test_a_stale_context_keeps_the_write_it_did_not_see() -> None:
    s = Shard()
    seen = s.write("n1", "k/x", "v1")
    s.write("n1", "k/x", "v2", seen)
    s.write("n1", "k/x", "v3", seen)  # a second client that also read v1
    assert s.values("n1", "k/x") == ["v2", "v3"]


def test_anti_entropy_alone_converges_when_the_outbox_is_lost() -> None:
    s = Shard()
    for i in range(50):
        s.write("n1", f"k/{i}", f"v{i}")
    s.stores["n1"].outbox_clear()
    s.write("n2", "k/other", "x")
    s.stores["n2"].outbox_clear()
    s.sync("n2", "n1")
    assert s.converged()
    assert s.values("n2", "k/7") == ["v7"] and s.values("n1", "k/other") == ["x"]


def test_freshness_follows_what_was_applied() -> None:
    s = Shard()
    ctx = s.write("n1", "k/x", "v1")
    assert s["n1"].fresh(ctx) and not s["n2"].fresh(ctx)
    s.deliver("n1", "n2")
    assert s["n2"].fresh(ctx)


def test_anti_entropy_advances_freshness_too() -> None:
    s = Shard()
    ctx = s.write("n1", "k/x", "v1")
    s.stores["n1"].outbox_clear()
    s.sync("n2", "n1")
    assert s["n2"].fresh(ctx)


def test_a_round_advances_the_freshness_of_the_peer_it_pushed_to() -> None:
    """n1's outbox is lost and only n1 runs rounds: n2 gets the write by n1's push, and
    is told that it now holds all n1 had applied."""
    s = Shard()
    ctx = s.write("n1", "k/x", "v1")
    s.stores["n1"].outbox_clear()
    s.sync("n1", "n2")
    assert s.values("n2", "k/x") == ["v1"] and s["n2"].fresh(ctx)


def test_a_rounds_last_word_counts_only_for_the_store_and_view_it_compared() -> None:
    s = Shard()
    ctx = s.write("n1", "k/x", "v1")
    compared, epoch = s["n2"].id, s.view.epoch
    s.lose_disk("n2")
    blank = s["n2"]
    assert not commit(blank, lambda r: r.synced_by("n1", epoch, compared, ctx))
    assert not commit(blank, lambda r: r.synced_by("n1", epoch + 1, blank.id, ctx))
    assert not commit(blank, lambda r: r.synced_by("n9", epoch, blank.id, ctx))
    assert not blank.fresh(ctx)
    assert commit(blank, lambda r: r.synced_by("n1", epoch, blank.id, ctx))
    assert blank.fresh(ctx)


def test_anti_entropy_with_a_former_shard_mate_vouches_for_nothing() -> None:
    """Both committed a view that parts them: n1 must not claim n2's writes, which it
    never received (an anti-entropy round that began before the change once did)."""
    s = Shard()
    ctx = s.write("n2", "k/x", "v1")
    nodes = [NodeSpec(f"n{i}", f"h{i}") for i in range(1, 5)]
    apart = replace(View.create("sim", nodes, 2, partitions=16, network_id=s.view.id),
                    epoch=2)
    assert apart.shard_of_node("n1") != apart.shard_of_node("n2")
    for node in ("n1", "n2"):
        commit(s[node], lambda r: r.commit(apart))
    s.sync("n1", "n2")
    assert not s["n1"].fresh(ctx) and s["n2"].id not in s["n1"].applied()


def test_a_crash_keeps_counter_and_seen() -> None:
    s = Shard()
    ctx = s.write("n1", "k/x", "v1")
    s.deliver("n1", "n2")
    before = s["n1"].id, s["n1"].counter
    s.crash("n1")
    s.crash("n2")
    assert (s["n1"].id, s["n1"].counter) == before
    assert s["n2"].fresh(ctx)


def test_a_replica_that_loses_its_disk_gets_a_new_incarnation_and_loses_nothing() -> None:
    """Riak's kv679: a reissued dot would make a newer write look already seen."""
    s = Shard()
    s.write("n1", "k/x", "v1")
    s.deliver_all()
    old_id = s["n1"].id
    s.lose_disk("n1")
    assert s["n1"].id != old_id
    s.write("n1", "k/x", "v2")  # blind write at an empty replica: a sibling, not a loss
    s.deliver_all()
    s.sync("n1", "n2")
    assert s.values("n2", "k/x") == ["v1", "v2"]
    assert s.converged()


def test_delete_writes_a_tombstone_only_when_something_is_live() -> None:
    s = Shard()
    assert s["n1"].delete("k/x", Version.tombstone(0, {}), None) is None
    s.write("n1", "k/x", "v1")
    with s["n1"].transaction():
        assert s["n1"].delete("k/x", Version.tombstone(0, {}), None) is not None
    s.deliver_all()
    assert s.values("n2", "k/x") == []
    s.sync("n1", "n2")  # n2 never saw v1, which n1 keeps: anti-entropy brings it
    assert s.converged()


def test_chunks_replicate_and_count_in_the_digest() -> None:
    s = Shard()
    v = version("x" * 10)
    with s["n1"].transaction():
        s["n1"].put_chunk(v.hash, b"x" * 10)
    assert not s.converged()
    s.deliver("n1", "n2")
    assert s.stores["n2"].get_chunk(v.hash) == b"x" * 10 and s.converged()


def test_deleting_what_is_already_deleted_writes_nothing() -> None:
    s = Shard()
    ctx = s.write("n1", "k/x", "v1")
    with s["n1"].transaction():
        state = s["n1"].delete("k/x", Version.tombstone(0, {}), ctx)
    assert state is not None
    assert s["n1"].delete("k/x", Version.tombstone(0, {}), state.context) is None
    assert s["n1"].delete("k/y", Version.tombstone(0, {}), {}) is None


def test_progress_is_visible_to_readers_only_after_the_commit() -> None:
    """A reader must never trust a claim (applied, digest) its store cannot yet show."""
    s = Shard()
    r = s["n1"]
    before = r.applied(), r.digest()
    with r.transaction():
        r.write("k/x", version("v1"), None)
        assert (r.applied(), r.digest()) == before  # not committed yet
    assert r.applied()[r.id] == 1 and r.digest() != before[1]


NODES, KEYS = ("n1", "n2"), ("k/a", "k/b")
# A history of a two-replica shard: a write (its context read at a replica, or blind),
# a delivery of one replica's outbox to the other, an anti-entropy round, a restart.
steps = st.lists(st.one_of(
    st.tuples(st.just("write"), st.sampled_from(NODES), st.sampled_from(KEYS),
              st.sampled_from((None, *NODES))),
    st.tuples(st.just("deliver"), st.permutations(NODES)),
    st.tuples(st.just("sync"), st.permutations(NODES)),
    st.tuples(st.just("crash"), st.sampled_from(NODES))), max_size=30)


def play(s: Shard, n: int, step: tuple[Any, ...]) -> dict[str, list[str]]:
    """Run one step; answer whose states each replica merged in it."""
    if step[0] == "write":
        _, node, key, read_at = step
        read = s[read_at].get(key) if read_at else None
        s.write(node, key, f"v{n}", None if read_at is None else read.context if read else {})
        return {}
    if step[0] == "deliver":
        src, dst = step[1]
        s.deliver(src, dst)
        return {dst: [src]}
    if step[0] == "sync":
        a, b = step[1]
        s.sync(a, b)
        return {a: [b], b: [a]}
    s.crash(step[1])
    return {}


@settings(max_examples=150, deadline=None)
@given(steps)
def test_a_replica_never_lags(history: list[tuple[Any, ...]]) -> None:
    """After any history, a replica's state of a key descends from every state it held or
    merged; it claims (applied vector) only writes it has; and once the two replicas have
    run an anti-entropy round each, as every node does in the background, its claims
    cover every sibling it holds."""
    s = Shard()
    absorbed: dict[tuple[str, str], list[State]] = defaultdict(list)
    writes: dict[Dot, str] = {}
    for n, step in enumerate([*history, ("sync", NODES), ("sync", NODES[::-1])]):
        before = {(node, key): s[node].get(key) for node in NODES for key in KEYS}
        merged = play(s, n, step)
        if step[0] == "write":
            writes[Dot(s[step[1]].id, s[step[1]].counter)] = step[2]
        for node, key in before:
            for src in [node, *merged.get(node, [])]:
                if (old := before[src, key]) is not None:
                    absorbed[node, key].append(old)
        for (node, key), states in absorbed.items():
            now = s[node].get(key)
            assert now is not None
            bare = replace(now, history=())  # merge keeps no history: the replica does
            assert all(clock.merge(now, old) == bare for old in states)
        assert_claims_follow_data(s, writes)
    for node in NODES:
        for key in KEYS:
            state = s[node].get(key)
            held = [sibling.dot for sibling in state.siblings] if state else []
            assert all(clock.covers(s[node].applied(), dot) for dot in held), (node, key)


@settings(max_examples=150, deadline=None)
@given(steps)
def test_replicas_keep_one_history_whatever_order_writes_arrive_in(
        history: list[tuple[Any, ...]]) -> None:
    """Once the replicas have exchanged everything, each key keeps the same history on
    every replica: the newest ``versions - 1`` of the writes its current ones replaced."""
    s = Shard(versions=3)
    writes: dict[str, list[Dot]] = defaultdict(list)
    for n, step in enumerate(history):
        play(s, n, step)
        if step[0] == "write":
            writes[step[2]].append(Dot(s[step[1]].id, s[step[1]].counter))
    s.deliver_all()
    s.sync(*NODES)
    s.sync(*NODES[::-1])
    for key in KEYS:
        states = [s[node].get(key) for node in NODES]
        assert all(state == states[0] for state in states), key
        if states[0] is None:
            continue
        current = {sibling.dot for sibling in states[0].siblings}
        replaced = sorted((d for d in writes[key] if d not in current), reverse=True)
        assert sorted(h.dot for h in states[0].history) == sorted(replaced[:2]), key


def assert_claims_follow_data(s: Shard, writes: dict[Dot, str]) -> None:
    """Every write a replica's applied vector covers is in its state of that key (held,
    or superseded by what it holds)."""
    for node in NODES:
        applied = s[node].applied()
        for dot, key in writes.items():
            if clock.covers(applied, dot):
                state = s[node].get(key)
                assert state is not None and clock.covers(state.context, dot), (node, dot)


def test_a_replica_tells_its_commit_observer_of_each_view_it_commits_and_no_other() -> None:
    s = Shard()
    seen: list[View] = []
    s["n1"].on_commit = seen.append
    newer = replace(s.view, epoch=2, change="c2")
    assert commit(s["n1"], lambda r: r.commit(newer))
    assert not commit(s["n1"], lambda r: r.commit(newer))
    assert seen == [newer]


def test_a_replica_tells_its_reap_observer_each_key_it_reaps_with_the_state_it_had() -> None:
    s = Shard()
    s.write("n1", "k/gone", "v1")
    s.write("n1", "k/kept", "v1")
    s.deliver_all()
    deleted = commit(s["n1"], lambda r: r.delete("k/gone", Version.tombstone(0.0, {}),
                                                  r.get("k/gone").context))
    s.deliver_all()
    s.sync("n1", "n2")
    for node in s.replicas:
        s[node].now = lambda: 1e12  # every tombstone has aged out
    reaped: list[tuple[str, State]] = []
    s["n1"].on_reap = lambda key, state: reaped.append((key, state))
    assert commit(s["n1"], lambda r: r.reap(["k/gone", "k/kept"], dry_run=True)) == ["k/gone"]
    assert reaped == []
    assert commit(s["n1"], lambda r: r.reap(["k/gone", "k/kept"])) == ["k/gone"]
    assert reaped == [("k/gone", deleted)] and s["n1"].get("k/gone") is None


def test_a_late_copy_of_a_batch_does_not_bring_back_what_a_reaped_delete_superseded() -> None:
    """A copy of n1's first batch, held up on the way, arrives after the delete that
    superseded its value was applied and reaped everywhere: n2 drops it whole."""
    s = Shard()
    s.write("n1", "k/gone", "v1")
    late = s["n1"].outbox_batch("n2")
    assert late is not None
    s.deliver_all()
    commit(s["n1"], lambda r: r.delete("k/gone", Version.tombstone(0.0, {}),
                                       r.get("k/gone").context))
    s.deliver_all()
    s.sync("n1", "n2")
    s.sync("n2", "n1")
    for node in s.replicas:
        s[node].now = lambda: 1e12  # every tombstone has aged out
        assert commit(s[node], lambda r: r.reap(["k/gone"])) == ["k/gone"]
    assert commit(s["n2"], answer(s["n2"], late.message).op) == 0
    assert s["n2"].get("k/gone") is None
