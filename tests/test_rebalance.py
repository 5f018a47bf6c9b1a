"""View-change plans: balanced, minimal, and complete (every node gets what it lacks)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dwp.core.rebalance import PlanError, plan_join, plan_leave, transfers
from dwp.core.view import NodeSpec, View


def assert_balanced(view: View) -> None:
    sizes = [len(m) for m in view.shards.values()]
    assert len(view.shards) == len(view.nodes) // view.replicas
    assert min(sizes) >= view.replicas and max(sizes) - min(sizes) <= 1
    counts = [len(view.partitions_of_shard(s)) for s in view.shards]
    assert max(counts) - min(counts) <= 1 and sum(counts) == view.partitions
    members = sorted(n for m in view.shards.values() for n in m)
    assert members == sorted(n.id for n in view.nodes)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3), st.lists(st.tuples(st.booleans(), st.integers(0, 20)),
                                    max_size=12))
def test_any_sequence_of_joins_and_leaves_stays_balanced(
        replicas: int, changes: list[tuple[bool, int]]) -> None:
    view = View.create("t", [NodeSpec(f"n{i}", f"h{i % 3}") for i in range(replicas * 2)],
                       replicas, partitions=64)
    fresh = len(view.nodes)
    for join, pick in changes:
        if join or len(view.nodes) <= replicas:
            new = plan_join(view, NodeSpec(f"n{fresh}", f"h{fresh % 3}"))
            fresh += 1
        else:
            new = plan_leave(view, view.nodes[pick % len(view.nodes)].id)
        assert new.epoch == view.epoch + 1
        assert_balanced(new)
        moves = transfers(view, new)  # a graceful leave: the leaver is still a source
        for shard, members in new.shards.items():
            for node in members:
                had = (view.partitions_of_shard(view.shard_of_node(node))
                       if view.has_node(node) else frozenset())
                got = frozenset().union(*(t.partitions for t in moves if t.dest == node))
                assert new.partitions_of_shard(shard) <= had | got
        view = new


def test_a_join_that_keeps_the_shard_count_moves_no_partition() -> None:
    view = View.create("t", [NodeSpec(f"n{i}", "h") for i in range(4)], 2, partitions=64)
    new = plan_join(view, NodeSpec("n4", "h"))
    assert new.owners == view.owners
    (move,) = transfers(view, new)
    assert move.dest == "n4" and move.whole_shard
    assert move.partitions == new.partitions_of_shard(new.shard_of_node("n4"))


def test_a_new_shard_takes_an_even_share_from_the_others() -> None:
    view = View.create("t", [NodeSpec(f"n{i}", "h") for i in range(5)], 2, partitions=90)
    new = plan_join(view, NodeSpec("n5", "h"))
    assert len(new.shards) == 3
    moved = sum(a != b for a, b in zip(view.owners, new.owners, strict=True))
    assert moved == 30


def test_impossible_changes_are_refused() -> None:
    view = View.create("t", [NodeSpec("n0", "h"), NodeSpec("n1", "h")], 2, partitions=8)
    with pytest.raises(PlanError):
        plan_leave(view, "n0")
    with pytest.raises(PlanError):
        plan_join(view, NodeSpec("n0", "h"))
    with pytest.raises(PlanError):
        plan_leave(view, "nx")


def spread(view: View) -> int:
    """How many distinct hosts the shards span, summed over shards."""
    host = {n.id: n.host for n in view.nodes}
    return sum(len({host[n] for n in m}) for m in view.shards.values())


def assert_spread_on_hosts(view: View) -> None:
    """No exchange of two nodes between two shards would put a shard on more hosts."""
    base = spread(view)
    shards = list(view.shards)
    for i, s in enumerate(shards):
        for t in shards[i + 1:]:
            for a in view.shards[s]:
                for b in view.shards[t]:
                    swapped = dict(view.shards)
                    swapped[s] = tuple(b if n == a else n for n in view.shards[s])
                    swapped[t] = tuple(a if n == b else n for n in view.shards[t])
                    assert spread(View(**{**view.__dict__, "shards": swapped})) <= base, (
                        f"exchanging {a} and {b} spreads shards {s} and {t} over more hosts")


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 3), st.lists(st.integers(0, 3), min_size=1, max_size=4),
       st.lists(st.tuples(st.booleans(), st.integers(0, 3), st.integers(0, 20)),
                max_size=10))
def test_a_shards_replicas_stay_on_as_many_hosts_as_they_can(
        replicas: int, first_hosts: list[int], changes: list[tuple[bool, int, int]]) -> None:
    specs = [NodeSpec(f"n{i}", f"h{first_hosts[i % len(first_hosts)]}")
             for i in range(max(replicas, len(first_hosts)))]
    view = View.create("t", specs, replicas, partitions=16)
    assert_spread_on_hosts(view)
    fresh = len(view.nodes)
    for join, host, pick in changes:
        if join or len(view.nodes) <= replicas:
            view = plan_join(view, NodeSpec(f"n{fresh}", f"h{host}"))
            fresh += 1
        else:
            view = plan_leave(view, view.nodes[pick % len(view.nodes)].id)
        assert_spread_on_hosts(view)


def test_two_joins_to_a_one_host_network_put_each_shard_on_two_hosts() -> None:
    view = View.create("t", [NodeSpec("n1", "alice"), NodeSpec("n2", "alice")], 2,
                       partitions=8)
    view = plan_join(plan_join(view, NodeSpec("n3", "bob")), NodeSpec("n4", "carol"))
    host = {n.id: n.host for n in view.nodes}
    assert [len({host[n] for n in m}) for m in view.shards.values()] == [2, 2]
