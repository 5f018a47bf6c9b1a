"""A rolled-back change stays rolled back: the replica's rules for a Commit or Prepare
that arrives after its Abort, for an Abort that arrives after its Commit, and for the
copies the change made in other shards."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dwp.core.errors import ChangeRefused
from dwp.core.rebalance import plan_join, plan_leave
from dwp.core.replica import Replica
from dwp.core.store import MemoryStore
from dwp.core.view import NodeSpec, View
from tests.simulation.shard import Shard


def _proposal(view: View, change: str) -> View:
    return replace(plan_join(view, NodeSpec("n9", "h9")), change=change)


def test_a_commit_or_prepare_of_a_change_rolled_back_here_is_refused() -> None:
    s = Shard()
    r, proposal = s["n1"], _proposal(s.view, "c1")
    with r.transaction():
        r.prepare(proposal)
        assert r.abort("c1")
        assert not r.commit(proposal)
    assert r.view.epoch == 1
    with pytest.raises(ChangeRefused, match="rolled change c1 back"), r.transaction():
        r.prepare(proposal)


def test_the_rollback_is_remembered_across_a_restart() -> None:
    s = Shard()
    proposal = _proposal(s.view, "c1")
    with s["n1"].transaction():
        s["n1"].abort("c1")  # the Abort may come before the Prepare it undoes
    r = s.crash("n1")
    with r.transaction():
        assert not r.commit(proposal)
    assert r.view.epoch == 1


def test_an_abort_after_its_commit_is_refused_and_changes_nothing() -> None:
    s = Shard()
    r, proposal = s["n1"], _proposal(s.view, "c1")
    with r.transaction():
        r.prepare(proposal)
        assert r.commit(proposal)
        assert not r.abort("c1")
    assert r.view.change == "c1" and "c1" not in r.aborted


def test_a_decided_commit_is_taken_where_the_change_was_rolled_back() -> None:
    """Some node committed it before its Abort came: the recovery finishes the change."""
    s = Shard()
    r, proposal = s["n2"], _proposal(s.view, "c1")
    with r.transaction():
        r.prepare(proposal)
        r.abort("c1")
        assert r.commit(proposal, decided=True)
    assert r.view.epoch == 2


def _replica_of_two_shards() -> tuple[Replica, View]:
    nodes = [NodeSpec(f"n{i}", f"h{i}") for i in range(1, 5)]
    view = View.create("sim", nodes, 2, partitions=16)
    return Replica("n1", view, MemoryStore(), lambda: "i1", lambda: 0.0), view


def _copiers(r: Replica, proposal: View) -> dict[str, list[int]]:
    """The members of other shards that ``proposal`` makes owners of r's partitions."""
    out: dict[str, list[int]] = {}
    for p in sorted(r.owned):
        for node in sorted(set(proposal.owners_of_partition(p)) - r.shard_nodes):
            if node in r.view.members:
                out.setdefault(node, []).append(p)
    return out


def test_a_rolled_back_change_leaves_its_copies_as_holders_to_hand_back() -> None:
    """Its owners-to-be in other shards may keep copies of our partitions: until they
    hand them back, this replica asks for them and reaps no delete there; and it hands
    back what it was to own."""
    r, view = _replica_of_two_shards()
    leaving = next(n for n in r.peers)
    proposal = replace(plan_leave(view, leaving), change="c1")
    copiers = _copiers(r, proposal)
    assert copiers, "the leave gives some of n1's partitions to the other shard"
    with r.transaction():
        r.prepare(proposal)
        assert r.abort("c1")
    assert r.unsealed_holders() == copiers
    ours = set(proposal.partitions_of_shard(proposal.shard_of_node("n1"))) - r.owned
    assert ours and set(r.held_unowned()) == ours, "n1 hands back what it was to own"


def test_a_proposal_passed_over_by_another_commit_leaves_its_copies_as_holders() -> None:
    """This node was away while c1 was rolled back and two more changes committed: it
    learns the later view from a peer, never hearing c1's Abort."""
    r, view = _replica_of_two_shards()
    proposal = replace(plan_leave(view, next(n for n in r.peers)), change="c1")
    later = replace(plan_join(_proposal(view, "c2"), NodeSpec("n10", "h10")), change="c3")
    with r.transaction():
        r.prepare(proposal)
        assert r.commit(later, decided=True)
    assert r.pending is None
    for node, partitions in _copiers(r, proposal).items():
        assert all(node in r.lineage.holders[p] for p in partitions if p in r.owned)
