"""The view: which nodes form the network, which shard each replicates, and which shard
owns each partition.

Every node stores the same view durably; its epoch grows with every change, so a node
or client holding an older one can tell and refresh. Shard ids are stable across
changes (a new shard takes a fresh id), so a context token's per-shard vectors keep
their meaning.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace

from dwp.core.deploys import DEFAULT_KEEP_DEPLOYS
from dwp.core.history import DEFAULT_KEEP_DELETED_DAYS, DEFAULT_VERSIONS
from dwp.core.placement import DEFAULT_PARTITIONS, assign_shards, partition_of


@dataclass(frozen=True)
class NodeSpec:
    id: str
    host: str


@dataclass(frozen=True)
class View:
    name: str
    id: str  # chosen at creation: tells this network's data from another's of that name
    epoch: int
    replicas: int
    partitions: int
    nodes: tuple[NodeSpec, ...]
    shards: dict[int, tuple[str, ...]]  # shard id -> its replicas' node ids
    owners: tuple[int, ...]  # partition -> shard id; len == partitions
    node_root: str = ""  # where LAN hosts keep node data; "" means ~/.dwp/<name>
    change: str = ""  # the proposal that made this view: no two views share an epoch
    next_node: int = 0  # node ids are n1, n2, ...; an id is never given out twice
    versions: int = DEFAULT_VERSIONS  # how many versions of a key its history lists
    keep_deleted_days: float = DEFAULT_KEEP_DELETED_DAYS  # a delete stays undoable so long
    keep_deploys: int = DEFAULT_KEEP_DEPLOYS  # a site's deploys kept besides the live one
    removed: frozenset[str] = frozenset()  # nodes removed by force: dead, they hand off
    # nothing, and if one comes back it discards what it held (``Replica.departed``)

    @classmethod
    def create(cls, name: str, nodes: list[NodeSpec], replicas: int,
               partitions: int = DEFAULT_PARTITIONS, network_id: str = "",
               node_root: str = "", versions: int = DEFAULT_VERSIONS,
               keep_deleted_days: float = DEFAULT_KEEP_DELETED_DAYS,
               keep_deploys: int = DEFAULT_KEEP_DEPLOYS) -> View:
        groups = assign_shards([(n.id, n.host) for n in nodes], replicas)
        return cls(name, network_id or uuid.uuid4().hex[:12], 1, replicas, partitions, tuple(nodes),
                   {i: tuple(g) for i, g in enumerate(groups)},
                   tuple(p % len(groups) for p in range(partitions)), node_root,
                   next_node=len(nodes) + 1, versions=versions,
                   keep_deleted_days=keep_deleted_days, keep_deploys=keep_deploys)

    def node(self, node_id: str) -> NodeSpec:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def has_node(self, node_id: str) -> bool:
        return any(n.id == node_id for n in self.nodes)

    def shard_of_node(self, node_id: str) -> int:
        for shard, members in self.shards.items():
            if node_id in members:
                return shard
        raise KeyError(node_id)

    def peers(self, node_id: str) -> tuple[str, ...]:
        return tuple(n for n in self.shards[self.shard_of_node(node_id)] if n != node_id)

    def partition_of_key(self, key: str) -> int:
        return partition_of(key.encode(), self.partitions)

    def partition_of_chunk(self, chunk: bytes) -> int:
        return partition_of(chunk, self.partitions)

    def shard_of_partition(self, partition: int) -> int:
        return self.owners[partition]

    def partitions_of_shard(self, shard: int) -> frozenset[int]:
        return frozenset(p for p, s in enumerate(self.owners) if s == shard)

    def owners_of_partition(self, partition: int) -> tuple[str, ...]:
        return self.shards[self.owners[partition]]

    def evolve(self, nodes: tuple[NodeSpec, ...], shards: dict[int, tuple[str, ...]],
               owners: tuple[int, ...]) -> View:
        """The next view; its ``change`` id is set by whoever proposes it."""
        return replace(self, epoch=self.epoch + 1, nodes=nodes, shards=shards, owners=owners,
                       change="")

    def has_left(self, node_id: str) -> bool:
        """Ids are never given out twice, so a node that is not a member and whose id is
        below the next one to be given out has left (or was removed)."""
        number = node_id[1:]
        return (node_id not in self.members and number.isdigit()
                and int(number) < int(self.new_node_id()[1:]))

    def new_node_id(self) -> str:
        """The id a joining node gets: never one that was used before."""
        taken = {n.id for n in self.nodes}
        number = max([self.next_node, *(int(i[1:]) + 1 for i in taken if i[1:].isdigit())])
        return f"n{number}"

    @property
    def members(self) -> tuple[str, ...]:
        """Every node that replicates a shard, in shard order."""
        return tuple(n for _, m in sorted(self.shards.items()) for n in m)

    def to_json(self) -> str:
        return json.dumps({
            "name": self.name, "id": self.id, "epoch": self.epoch, "replicas": self.replicas,
            "partitions": self.partitions,
            "nodes": [{"id": n.id, "host": n.host} for n in self.nodes],
            "shards": [{"id": s, "nodes": list(m)} for s, m in sorted(self.shards.items())],
            "owners": list(self.owners), "node_root": self.node_root,
            "change": self.change, "next_node": self.next_node, "versions": self.versions,
            "keep_deleted_days": self.keep_deleted_days, "keep_deploys": self.keep_deploys,
            "removed": sorted(self.removed),
        })

    @classmethod
    def from_json(cls, text: str) -> View:
        d = json.loads(text)
        return cls(d["name"], d["id"], d["epoch"], d["replicas"], d["partitions"],
                   tuple(NodeSpec(n["id"], n["host"]) for n in d["nodes"]),
                   {s["id"]: tuple(s["nodes"]) for s in d["shards"]},
                   tuple(d["owners"]), d.get("node_root", ""), d.get("change", ""),
                   d.get("next_node", 0), d.get("versions", DEFAULT_VERSIONS),
                   d.get("keep_deleted_days", DEFAULT_KEEP_DELETED_DAYS),
                   d.get("keep_deploys", DEFAULT_KEEP_DEPLOYS),
                   frozenset(d.get("removed", ())))
