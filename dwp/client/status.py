"""The network as one client sees it: each node's health and holdings, typed once for
the gateway's API (these classes are its response schema), pages and metrics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dwp.core.messages import NodeInfo
from dwp.core.view import View


@dataclass(frozen=True)
class NodeBytes:
    """What a node stores, by what it is for, in payload bytes: ``live``, current versions
    (states and the chunks they name); ``history``, kept older versions, inline contents
    included; ``garbage``, chunks no version names, awaiting collection (as of the last
    collection round); ``disk``, the store's files on disk, overhead included."""

    live: int
    history: int
    garbage: int
    disk: int


@dataclass(frozen=True)
class NodeStatus:
    id: str
    host: str
    shard: int
    status: str  # "up", "joining" (its view is older than the client's) or "down"
    pid: int | None
    partitions: int
    keys: int | None
    digest: str | None
    replica_id: str | None = None
    outbox: int | None = None
    bytes: NodeBytes | None = None


@dataclass(frozen=True)
class ShardStatus:
    id: int
    replicas: list[str]
    partitions: int


@dataclass(frozen=True)
class NetworkStatus:
    name: str
    epoch: int
    replicas: int
    partitions: int
    shards: list[ShardStatus]
    nodes: list[NodeStatus]

    def unavailable_shards(self) -> list[int]:
        """Shards no node of which answered: nothing in them can be read or written."""
        up = {n.id for n in self.nodes if n.status != "down"}
        return [s.id for s in self.shards if not up & set(s.replicas)]


def network_status(view: View, infos: Sequence[NodeInfo | None]) -> NetworkStatus:
    """The view's nodes with what each said of itself (None: it did not answer)."""
    nodes = []
    for spec, info in zip(view.nodes, infos, strict=True):
        shard = view.shard_of_node(spec.id)
        partitions = len(view.partitions_of_shard(shard))
        if info is None:
            nodes.append(NodeStatus(spec.id, spec.host, shard, "down", None, partitions,
                                    None, None))
            continue
        nodes.append(NodeStatus(
            spec.id, spec.host, shard, "joining" if info.epoch < view.epoch else "up",
            info.pid, partitions, info.keys, info.digest, info.replica_id,
            sum(info.outbox.values()), NodeBytes(**info.bytes)))
    shards = [ShardStatus(s, list(members), len(view.partitions_of_shard(s)))
              for s, members in view.shards.items()]
    return NetworkStatus(view.name, view.epoch, view.replicas, view.partitions, shards, nodes)
