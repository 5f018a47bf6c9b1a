"""The view: which nodes form the network and which shard each one replicates.

Every node stores the same view durably; its epoch grows with every change, so a node
or client holding an older one can tell and refresh.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from dwp.placement import (
    DEFAULT_PARTITIONS,
    assign_shards,
    partition_of,
    shard_of_partition,
)
from dwp.version import HASH_BYTES


@dataclass(frozen=True)
class NodeSpec:
    id: str
    host: str


@dataclass(frozen=True)
class View:
    name: str
    epoch: int
    replicas: int
    partitions: int
    nodes: tuple[NodeSpec, ...]
    shards: tuple[tuple[str, ...], ...]  # shard id -> its replicas' node ids

    @classmethod
    def create(cls, name: str, nodes: list[NodeSpec], replicas: int,
               partitions: int = DEFAULT_PARTITIONS) -> View:
        shards = assign_shards([(n.id, n.host) for n in nodes], replicas)
        return cls(name, 1, replicas, partitions, tuple(nodes),
                   tuple(tuple(s) for s in shards))

    def node(self, node_id: str) -> NodeSpec:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def shard_of_node(self, node_id: str) -> int:
        for shard, members in enumerate(self.shards):
            if node_id in members:
                return shard
        raise KeyError(node_id)

    def peers(self, node_id: str) -> tuple[str, ...]:
        return tuple(n for n in self.shards[self.shard_of_node(node_id)] if n != node_id)

    def partition_of_key(self, key: str) -> int:
        return partition_of(key.encode(), self.partitions)

    def partition_of_chunk(self, chunk: bytes) -> int:
        assert len(chunk) == HASH_BYTES
        return partition_of(chunk, self.partitions)

    def shard_of_partition(self, partition: int) -> int:
        return shard_of_partition(partition, len(self.shards))

    def partitions_of_shard(self, shard: int) -> list[int]:
        return [p for p in range(self.partitions) if self.shard_of_partition(p) == shard]

    def to_json(self) -> str:
        return json.dumps({
            "name": self.name, "epoch": self.epoch, "replicas": self.replicas,
            "partitions": self.partitions,
            "nodes": [{"id": n.id, "host": n.host} for n in self.nodes],
            "shards": [list(s) for s in self.shards],
        }, indent=2)

    @classmethod
    def from_json(cls, text: str) -> View:
        d = json.loads(text)
        return cls(d["name"], d["epoch"], d["replicas"], d["partitions"],
                   tuple(NodeSpec(n["id"], n["host"]) for n in d["nodes"]),
                   tuple(tuple(s) for s in d["shards"]))
