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
    """Deal ``(node id, host)`` pairs into ``len(nodes) // replicas`` shards."""
    if replicas < 1:
        raise ValueError("the replication factor must be at least 1")
    if len(nodes) < replicas:
        raise ValueError(f"{len(nodes)} nodes cannot hold {replicas} replicas of a shard")
    count = len(nodes) // replicas
    remaining = sorted(nodes)
    shards: list[list[tuple[str, str]]] = [[] for _ in range(count)]
    while remaining:
        for shard in shards:
            if not remaining:
                break
            left = Counter(host for _, host in remaining)
            used = {host for _, host in shard}
            pick = min(remaining, key=lambda n: (n[1] in used, -left[n[1]], n))
            remaining.remove(pick)
            shard.append(pick)
    return [[node for node, _ in shard] for shard in shards]


def preference(key: bytes, node_ids: Sequence[str]) -> list[str]:
    """A per-key order of a shard's replicas (rendezvous hashing): load spreads by key."""
    return sorted(node_ids, key=lambda n: hashlib.blake2b(key + n.encode(), digest_size=8)
                  .digest(), reverse=True)
