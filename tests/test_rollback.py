"""A rolled-back change stays rolled back: the replica's rules for a Commit or Prepare
that arrives after its Abort, and for an Abort that arrives after its Commit."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dwp.core.errors import ChangeRefused
from dwp.core.rebalance import plan_join
from dwp.core.view import NodeSpec, View
from tests.sim import Shard


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
