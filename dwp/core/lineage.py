"""What a replica may vouch for in partitions that other nodes held before it.

A context token names writes by their dots ``(replica, counter)``. A replica vouches
for a shard-mate's dots through ``seen`` (its outbox batches arrive in order). For a
partition that moved in from another shard, or whose old shard-mates left, it cannot:
those nodes never send it their outbox. So, per partition, it records:
- ``holders``: the nodes that held the partition before (only their dots can touch it);
- ``claims``: a vector it may vouch for, from the snapshot it copied (what the source
  had applied when the copy started) and from each old holder's hand-off;
- ``sealed``: replicas whose hand-off completed, after which their node can never write
  the partition again (under any incarnation), so every dot of theirs is accounted for.
Claims follow data: each entry is earned by copying the data it names, never inherited
by a replica that lost its disk (a new store starts with ``known`` false and vouches for
nothing outside its shard until anti-entropy gives it a peer's lineage with its data).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dwp.core.clock import join


def node_of(replica_id: str) -> str:
    """A replica id is ``<node>.<incarnation>``."""
    return replica_id.rsplit(".", 1)[0]


@dataclass
class Lineage:
    known: bool = True
    holders: dict[int, frozenset[str]] = field(default_factory=dict)
    claims: dict[int, dict[str, int]] = field(default_factory=dict)
    sealed: dict[int, frozenset[str]] = field(default_factory=dict)

    def vouches(self, partition: int, replica: str, counter: int, shard: Iterable[str]) -> bool:
        """True when this replica holds every dot of ``replica`` up to ``counter`` that
        can touch ``partition``, beyond what its own ``seen`` says."""
        if self.claims.get(partition, {}).get(replica, 0) >= counter:
            return True
        node = node_of(replica)
        if node in shard:
            return False  # a shard-mate's writes arrive in order: ``seen`` decides
        if any(node_of(r) == node for r in self.sealed.get(partition, ())):
            return True  # a later incarnation of a node that handed off cannot write here
        if not self.known:
            return False
        return node not in self.holders.get(partition, ())

    def add_holders(self, partitions: Iterable[int], nodes: Iterable[str],
                    vouched: Mapping[str, int]) -> None:
        """Nodes that held these partitions and no longer share them with us; what we had
        seen of them (as their shard-mate) stays vouched for."""
        nodes = frozenset(nodes)
        if not nodes:
            return
        mine = {r: c for r, c in vouched.items() if node_of(r) in nodes}
        for p in partitions:
            self.holders[p] = self.holders.get(p, frozenset()) | nodes
            if mine:
                self.claims[p] = join(self.claims.get(p, {}), mine)

    def inherit(self, partition: int, applied: Mapping[str, int], other: Lineage,
                fresh: bool = False) -> None:
        """We now hold everything a replica held of ``partition`` when it had applied
        ``applied`` (we copied its snapshot): take over what it could vouch for.
        ``fresh``: the partition is new to us, so nothing we knew of it before holds."""
        if fresh:
            self.forget(partition)
        self.claims[partition] = join(self.claims.get(partition, {}), applied,
                                      other.claims.get(partition, {}))
        self.holders[partition] = (self.holders.get(partition, frozenset())
                                   | other.holders.get(partition, frozenset()))
        if other.sealed.get(partition):
            self.sealed[partition] = (self.sealed.get(partition, frozenset())
                                      | other.sealed[partition])

    def forget(self, partition: int) -> None:
        for table in (self.holders, self.claims, self.sealed):
            table.pop(partition, None)

    def seal(self, partition: int, replica: str, node: str, applied: Mapping[str, int]) -> None:
        self.holders[partition] = self.holders.get(partition, frozenset()) | {node}
        self.claims[partition] = join(self.claims.get(partition, {}), applied)
        self.sealed[partition] = self.sealed.get(partition, frozenset()) | {replica}

    def part(self, partitions: Iterable[int]) -> Lineage:
        """The lineage of some partitions, to hand to a replica that copies them."""
        ps = list(partitions)
        return Lineage(self.known,
                       {p: self.holders[p] for p in ps if p in self.holders},
                       {p: dict(self.claims[p]) for p in ps if p in self.claims},
                       {p: self.sealed[p] for p in ps if p in self.sealed})

    def to_json(self) -> str:
        return json.dumps({
            "known": self.known,
            "holders": {str(p): sorted(v) for p, v in sorted(self.holders.items())},
            "claims": {str(p): v for p, v in sorted(self.claims.items())},
            "sealed": {str(p): sorted(v) for p, v in sorted(self.sealed.items())},
        }, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None, known: bool = True) -> Lineage:
        if not text:
            return cls(known)
        d = json.loads(text)
        return cls(d["known"],
                   {int(p): frozenset(v) for p, v in d["holders"].items()},
                   {int(p): dict(v) for p, v in d["claims"].items()},
                   {int(p): frozenset(v) for p, v in d["sealed"].items()})
