"""What one anti-entropy round between in-sync replicas sends, measured offline on a
stopped network's data: the replies ``StorageNode._sync_with`` would get, pickled as Ray
pickles them. No hook in dwp is needed for this; see the report for a live counter."""

from __future__ import annotations

import pickle
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from dwp.core.replica import Replica
from dwp.core.view import View
from dwp.node.sqlite import SqliteStore


@dataclass(frozen=True)
class Exchange:
    shard: int
    keys: int  # keys on one replica of the shard
    partitions: int  # partitions with data on it
    in_sync: bool  # root digests equal: the round stops after one call
    root_bytes: int  # ae_root's reply: the digest and the applied vector
    root_hashes: int  # hashes in that reply (the root digest)
    partition_bytes: int  # ae_partitions' reply, sent only when the roots differ
    entries_bytes: int  # ae_entries' reply for one partition (mean), only on a mismatch


def _size(obj: object) -> int:
    return len(pickle.dumps(obj, protocol=5))


def measure(data_dir: Path) -> list[Exchange]:
    """One Exchange per shard, between its first two replicas."""
    view = View.from_json((data_dir / "view.json").read_text())
    out = []
    shards = view.shards
    pairs = shards.items() if isinstance(shards, dict) else enumerate(shards)
    for shard, members in pairs:
        if len(members) < 2:
            continue
        a, b = (_open(view, data_dir, n) for n in members[:2])
        try:
            ra, rb = a[0], b[0]
            parts = ra.partition_hashes()
            some = sorted(parts)[:8]
            entries = [_size(ra.entries(p)) for p in some]
            out.append(Exchange(
                shard, a[1].count_keys(), len(parts), ra.digest() == rb.digest(),
                _size((rb.digest(), rb.applied())), 1, _size(rb.partition_hashes()),
                sum(entries) // max(1, len(entries))))
        finally:
            a[1].close()
            b[1].close()
    return out


def _open(view: View, data_dir: Path, node: str) -> tuple[Replica, SqliteStore]:
    store = SqliteStore(data_dir / "nodes" / node / "replica.db")
    return Replica(node, view, store, lambda: secrets.token_hex(3), time.time), store
