"""Placement and the view: balance, distinct hosts, stable routing."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dwp.core.deploys import DEFAULT_KEEP_DEPLOYS
from dwp.core.placement import assign_shards, preference
from dwp.core.view import NodeSpec, View


@given(st.integers(1, 24), st.integers(1, 4), st.integers(1, 6))
def test_shards_are_balanced_and_spread_over_hosts(nodes: int, replicas: int,
                                                   hosts: int) -> None:
    if nodes < replicas:
        with pytest.raises(ValueError):
            assign_shards([(f"n{i}", "h") for i in range(nodes)], replicas)
        return
    specs = [(f"n{i}", f"h{i % hosts}") for i in range(nodes)]
    shards = assign_shards(specs, replicas)
    assert len(shards) == nodes // replicas
    sizes = [len(s) for s in shards]
    assert min(sizes) >= replicas and max(sizes) - min(sizes) <= 1
    assert sorted(n for s in shards for n in s) == sorted(n for n, _ in specs)
    host = dict(specs)
    for s in shards:
        if max(Counter(host.values()).values()) <= len(shards):
            assert len({host[n] for n in s}) == len(s)


def test_partitions_per_shard_are_within_one() -> None:
    view = View.create("t", [NodeSpec(f"n{i}", "h") for i in range(7)], 2, partitions=1024)
    counts = Counter(view.shard_of_partition(p) for p in range(view.partitions))
    assert max(counts.values()) - min(counts.values()) <= 1


def test_preference_is_a_stable_per_key_order() -> None:
    nodes = ["n1", "n2", "n3"]
    assert preference(b"k", nodes) == preference(b"k", list(reversed(nodes)))
    firsts = Counter(preference(f"k{i}".encode(), nodes)[0] for i in range(300))
    assert set(firsts) == set(nodes)


def test_view_round_trips_through_json() -> None:
    view = View.create("t", [NodeSpec(f"n{i}", "h") for i in range(4)], 2)
    assert View.from_json(view.to_json()) == view
    kept = View.create("t", list(view.nodes), 2, versions=3, keep_deleted_days=0,
                       keep_deploys=2)
    assert View.from_json(kept.to_json()) == kept and kept.keep_deploys == 2


def test_a_view_written_before_a_setting_existed_reads_it_as_the_default() -> None:
    written = json.loads(View.create("t", [NodeSpec("n1", "h")], 1).to_json())
    del written["keep_deploys"]
    assert View.from_json(json.dumps(written)).keep_deploys == DEFAULT_KEEP_DEPLOYS == 10


def test_a_view_change_keeps_the_network_s_settings() -> None:
    view = View.create("t", [NodeSpec(f"n{i}", "h") for i in range(4)], 2, versions=3,
                       keep_deploys=2)
    changed = view.evolve(view.nodes[:2], {0: ("n0", "n1")}, (0,) * view.partitions)
    assert (changed.versions, changed.keep_deploys) == (3, 2) and changed.epoch == 2
