"""Planning a view change: the target view after a join or a leave, and the data each
node must receive before the change is committed.

Plans move as little as they can: shards keep their members and partitions unless
balance requires otherwise. After every plan, shards number ``nodes // replicas``,
shard sizes differ by at most one (each has at least ``replicas`` members), and
partitions per shard differ by at most one. A shard's replicas sit on as many distinct
hosts as they can: no exchange of two nodes between two shards would spread either shard
over more hosts (so one host going down takes as few replicas of a shard as it can).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from dwp.core.view import NodeSpec, View


class PlanError(ValueError):
    """The change is impossible (too few nodes left, unknown node, duplicate id)."""


@dataclass(frozen=True)
class Transfer:
    """``dest`` must pull ``partitions`` from one of ``sources`` (live old owners)."""

    dest: str
    partitions: frozenset[int]
    sources: tuple[str, ...]
    whole_shard: bool  # dest joins an existing shard and copies all of it


def plan_join(view: View, node: NodeSpec) -> View:
    if view.has_node(node.id):
        raise PlanError(f"node {node.id!r} is already in the network")
    return _rebalance(view, (*view.nodes, node))


def plan_leave(view: View, node_id: str) -> View:
    if not view.has_node(node_id):
        raise PlanError(f"node {node_id!r} is not in the network")
    nodes = tuple(n for n in view.nodes if n.id != node_id)
    if len(nodes) < view.replicas:
        raise PlanError(f"{len(nodes)} node(s) cannot hold {view.replicas} replicas; "
                        "add a node first")
    return _rebalance(view, nodes)


def _rebalance(view: View, nodes: tuple[NodeSpec, ...]) -> View:
    ids = {n.id for n in nodes}
    host = {n.id: n.host for n in nodes}
    count = len(nodes) // view.replicas
    shards = {s: [n for n in m if n in ids] for s, m in view.shards.items()}
    free = [n.id for n in nodes if not any(n.id in m for m in shards.values())]
    while len(shards) > count:  # dissolve the smallest shard
        s = min(shards, key=lambda s: (len(shards[s]), -s))
        free += shards.pop(s)
    next_id = max(view.shards, default=-1) + 1
    while len(shards) < count:
        shards[next_id] = []
        next_id += 1
    order = sorted(shards, key=lambda s: (-len(shards[s]), s))
    target = {s: len(nodes) // count + (1 if i < len(nodes) % count else 0)
              for i, s in enumerate(order)}
    for s in order:
        while len(shards[s]) > target[s]:
            used = Counter(host[n] for n in shards[s])
            drop = max(reversed(shards[s]), key=lambda n: used[host[n]])
            shards[s].remove(drop)
            free.append(drop)
    for s in sorted(shards, key=lambda s: (len(shards[s]), s)):
        while len(shards[s]) < target[s]:
            used = Counter(host[n] for n in shards[s])
            pick = min(free, key=lambda n: (used[host[n]], n))
            free.remove(pick)
            shards[s].append(pick)
    _spread_over_hosts(shards, host)
    owners = _balance_partitions(view, set(shards))
    return view.evolve(nodes, {s: tuple(m) for s, m in sorted(shards.items())}, owners)


def _spread_over_hosts(shards: dict[int, list[str]], host: dict[str, str]) -> None:
    """Exchange nodes between shards while an exchange puts the two shards on more
    distinct hosts; each exchange raises that total, so the loop ends."""

    def hosts(members: list[str]) -> int:
        return len({host[n] for n in members})

    improved = True
    while improved:
        improved = False
        for s, t in ((s, t) for s in sorted(shards) for t in sorted(shards) if s < t):
            before = hosts(shards[s]) + hosts(shards[t])
            for a, b in ((a, b) for a in list(shards[s]) for b in list(shards[t])):
                ms = [b if n == a else n for n in shards[s]]
                mt = [a if n == b else n for n in shards[t]]
                if hosts(ms) + hosts(mt) > before:
                    shards[s], shards[t] = ms, mt
                    improved = True
                    break
            if improved:
                break


def _balance_partitions(view: View, shard_ids: set[int]) -> tuple[int, ...]:
    owners = list(view.owners)
    held: dict[int, list[int]] = {s: [] for s in shard_ids}
    free: list[int] = []
    for p, s in enumerate(owners):
        held.get(s, free).append(p)
    order = sorted(held, key=lambda s: (-len(held[s]), s))
    target = {s: view.partitions // len(order) + (1 if i < view.partitions % len(order) else 0)
              for i, s in enumerate(order)}
    for s in order:
        while len(held[s]) > target[s]:
            free.append(held[s].pop())
    free.sort()
    for s in sorted(held, key=lambda s: (len(held[s]), s)):
        while len(held[s]) < target[s]:
            p = free.pop(0)
            held[s].append(p)
            owners[p] = s
    return tuple(owners)


def transfers(old: View, new: View, unavailable: frozenset[str] = frozenset()
              ) -> list[Transfer]:
    """What each node of ``new`` lacks, grouped by the old shard that holds it."""
    out = []
    for shard, members in new.shards.items():
        wanted = new.partitions_of_shard(shard)
        for node in members:
            had = (old.partitions_of_shard(old.shard_of_node(node))
                   if old.has_node(node) else frozenset())
            missing = wanted - had
            by_source: dict[int, set[int]] = {}
            for p in missing:
                by_source.setdefault(old.owners[p], set()).add(p)
            for src_shard, parts in sorted(by_source.items()):
                sources = tuple(n for n in old.shards[src_shard]
                                if n not in unavailable and n != node)
                if not sources:
                    raise PlanError(f"no live replica of shard {src_shard} holds the data "
                                    f"node {node} needs")
                out.append(Transfer(node, frozenset(parts), sources,
                                    whole_shard=src_shard == shard and
                                    old.partitions_of_shard(src_shard) <= wanted))
    return out
