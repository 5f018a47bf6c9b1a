"""Placement: keys -> partitions -> shards -> replica nodes.

A network has a fixed number of partitions; a key (or a chunk hash) maps to one by
hash. Partitions are dealt round-robin to shards (so per-shard counts differ by at most
one), and nodes are dealt to shards so that each shard's replicas sit on distinct hosts
wherever there are enough hosts.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence

DEFAULT_PARTITIONS = 1024


def partition_of(data: bytes, partitions: int) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big") % partitions


def shard_of_partition(partition: int, shards: int) -> int:
    return partition % shards


def assign_shards(nodes: Sequence[tuple[str, str]], replicas: int) -> list[list[str]]:
    """Deal ``(node id, host)`` pairs into ``len(nodes) // replicas`` shards.

    Nodes are grouped by host, largest group first, then dealt round-robin: a host with
    no more nodes than there are shards never gets two replicas of one shard.
    """
    if replicas < 1:
        raise ValueError("the replication factor must be at least 1")
    if len(nodes) < replicas:
        raise ValueError(f"{len(nodes)} nodes cannot hold {replicas} replicas of a shard")
    count = len(nodes) // replicas
    per_host = Counter(host for _, host in nodes)
    ordered = sorted(nodes, key=lambda n: (-per_host[n[1]], n[1], n[0]))
    shards: list[list[str]] = [[] for _ in range(count)]
    for i, (node, _) in enumerate(ordered):
        shards[i % count].append(node)
    return shards


def preference(key: bytes, node_ids: Sequence[str]) -> list[str]:
    """A per-key order of a shard's replicas (rendezvous hashing): load spreads by key."""
    return sorted(node_ids, key=lambda n: hashlib.blake2b(key + n.encode(), digest_size=8)
                  .digest(), reverse=True)
