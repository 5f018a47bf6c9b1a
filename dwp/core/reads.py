"""What a replica answers a reader: a key's state, a page of live keys, what the node
holds. The node only waits (bounded) until the replica is fresh enough for the reader's
token (``answers.Fresh``) and then calls these.

Invariants: a read is answered only by an owner of the key's partition, checked after
the wait (a view may have moved it meanwhile); what it vouches for (``applied``) is
taken before the state, so the state always holds at least that."""

from __future__ import annotations

from dwp.core.codec import decode_state
from dwp.core.errors import NotOwner
from dwp.core.messages import Get, ListEntry, ListKeys, NodeInfo, ReadReply
from dwp.core.replica import Replica, live


def vouched(replica: Replica, need: dict[str, int]) -> dict[str, int]:
    """The entries of a need this replica was found fresh for that its applied vector
    does not show (vouched for by lineage), so a cache may serve the same need again."""
    applied = replica.applied()
    return {r: c for r, c in need.items() if applied.get(r, 0) < c}


def read(replica: Replica, m: Get) -> ReadReply:
    """The key's state, once the replica was found fresh for ``m.need``."""
    if not replica.owns(replica.view.partition_of_key(m.key)):
        raise NotOwner(replica.view.to_json())
    applied = {**replica.applied(), **vouched(replica, m.need)}
    blob = replica.whole(m.key) if m.history else replica.store.get_state(m.key)
    return ReadReply(True, blob, applied)


def list_entry(key: str, blob: bytes) -> ListEntry | None:
    """A key's line in a listing: its winner and how many live siblings; None when it
    has none (deleted)."""
    versions = live(decode_state(blob))
    if not versions:
        return None
    v = versions[0]
    return ListEntry(key, v.size, v.content_type, v.hash.hex(), v.mtime, len(versions))


def list_keys(replica: Replica, m: ListKeys) -> list[ListEntry]:
    """Up to ``m.limit`` live keys of partitions this replica owns, in key order after
    ``m.after``: it scans on past keys it holds but does not own, or deleted ones."""
    out: list[ListEntry] = []
    after = m.after
    while len(out) < m.limit:
        rows = replica.store.scan(m.prefix, after, m.limit)
        for key, blob in rows:
            if not replica.owns_key(key):
                continue
            entry = list_entry(key, blob)
            if entry is not None:
                out.append(entry)
        if len(rows) < m.limit:
            break
        after = rows[-1][0]
    return out[:m.limit]


def node_info(replica: Replica, pid: int) -> NodeInfo:
    """What the node says of itself; ``pid`` is the process's, which only the node knows."""
    owned = replica.owned
    keys = sum(n for p, n in replica.store.count_by_partition().items() if p in owned)
    return NodeInfo(
        id=replica.node_id, shard=replica.shard, replica_id=replica.id, pid=pid,
        partitions=len(owned), keys=keys, digest=replica.digest(),
        outbox=replica.outbox_sizes(), epoch=replica.view.epoch,
        changing=replica.pending is not None, held=len(replica.held_unowned()),
        bytes=replica.tally.bytes(replica.store.usage()))
