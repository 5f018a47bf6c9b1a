"""Conversations between two replicas, written as generators: the core decides, the
node only carries messages.

A session yields either a message for the peer (the node sends it and resumes the
session with the reply) or a ``Local`` operation on this replica (the node runs it in
its next commit and resumes the session with the result). Tests drive a session against
another replica directly; the node drives it over its transport. Sessions:
- ``sync``: anti-entropy with a shard-mate: compare digests, repair differing partitions
  both ways, then vouch for what the peer had applied when the round began (and, while
  this replica lacks its lineage or awaits an old holder's seal, take over the peer's);
- ``copy``: a new owner copies partitions from an old one before a change commits, and
  takes over what the source could vouch for in them;
- the other side of all three is ``dwp.core.answers.answer``;
- ``hand_off``: an old owner makes sure a new owner holds everything it holds of a
  partition (writes still queued to shard-mates included), then seals it there. The
  old owner drops the partition only once every new owner confirmed at one fingerprint
  (``drop_at``), and only if nothing arrived meanwhile (``Replica.drop_if_unchanged``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from functools import reduce
from operator import xor
from typing import Any

from dwp.core.answers import Local
from dwp.core.lineage import Lineage
from dwp.core.messages import (
    AeEntries,
    AeExport,
    AePartitions,
    AeRoot,
    AeSynced,
    GetView,
    HandOff,
    Message,
    Replicate,
    Root,
    Snapshot,
    SnapshotInfo,
    ViewState,
)
from dwp.core.replica import Replica, diff
from dwp.core.view import View

Step = Message | Local[Any]
Session = Generator[Step, Any, Any]


def sync(replica: Replica, peer: str) -> Session:
    """One anti-entropy round with a shard-mate; answers a line saying what happened.
    What it vouches for at the end holds only while ``peer`` is still a shard-mate in
    the view the round began in, which the last step checks inside its commit. Then the
    peer holds all this replica had applied at the start, and is told so (``AeSynced``):
    a write that reached it only by this round is vouched for there too."""
    applied = replica.applied()  # before comparing: every repair below starts from it
    root: Root = yield AeRoot(replica.view.epoch)
    if root.epoch != replica.view.epoch:
        if root.epoch > replica.view.epoch:
            state: ViewState = yield GetView()
            yield Local(lambda r: r.commit(View.from_json(state.view), decided=True))
        return f"views differ (epoch {root.epoch}); skipped"
    if peer not in replica.peers:
        return f"{peer} is no longer a shard-mate; skipped"
    lineage_unknown = not replica.lineage.known
    snapshot: SnapshotInfo | None = None
    if lineage_unknown or replica.awaits_hand_offs():
        # What the peer can vouch for, taken before comparing: once the round has repaired
        # every difference, this replica holds all of it. So an old holder's seal that
        # reached the peer after this replica copied the partition from it reaches this
        # replica too (that holder dropped the partition after sealing, and may have left)
        snapshot = yield Snapshot(sorted(replica.owned))
    repaired = 0
    if root.digest != replica.digest():
        theirs: dict[int, int] = yield AePartitions()
        mine = replica.partition_hashes()
        for p in sorted(set(mine) | set(theirs)):
            if mine.get(p) != theirs.get(p):
                repaired += yield from repair(replica, p)
    def vouch(r: Replica) -> bool:
        if r.view.epoch != root.epoch or peer not in r.peers:
            return False
        if snapshot is not None:
            r.inherit(sorted(r.owned), snapshot.applied, Lineage.from_json(snapshot.lineage),
                      whole=lineage_unknown)
        r.learn(root.applied)
        r.note_peer_applied(peer, root.applied)
        return True

    if not (yield Local(vouch)):
        return f"{repaired} entries repaired; the view changed meanwhile, so nothing vouched"
    if root.replica:
        yield AeSynced(replica.node_id, root.epoch, root.replica, applied)
    return f"in sync, {repaired} entries repaired"


def _applying(states: list[tuple[str, bytes]], chunks: list[tuple[bytes, bytes]]
              ) -> Callable[[Replica], Any]:
    """Applying what a peer exported, as an operation for the node's next commit."""
    return lambda r: r.apply(None, states, chunks, None)


def repair(replica: Replica, partition: int, push: bool = True) -> Session:
    """Make one partition equal on both sides (or, ``push`` False, pull only)."""
    theirs = yield AeEntries(partition)
    pulling, pushing = diff(replica.entries(partition), theirs)
    if not push:
        pushing = []
    count = len(pulling) + len(pushing)
    while pulling:
        states, chunks, pulling = yield AeExport(pulling)
        yield Local(_applying(states, chunks))
    while pushing:
        states, chunks, pushing = replica.export(pushing)
        yield Replicate(None, states, chunks)
    return count


def copy(replica: Replica, partitions: list[int], whole: bool) -> Session:
    """Copy partitions from an old owner; answers how many entries were copied."""
    info: SnapshotInfo = yield Snapshot(partitions)
    copied = 0
    for p in partitions:
        copied += yield from repair(replica, p, push=False)
    yield Local(lambda r: r.inherit(partitions, info.applied,
                                    Lineage.from_json(info.lineage), whole))
    return copied


def hand_off(replica: Replica, partition: int) -> Session:
    """Give one new owner everything held here of ``partition``; answers the partition's
    fingerprint at the hand-off, for ``Replica.drop_if_unchanged``."""
    applied, lineage = replica.snapshot([partition])  # before the entries: data holds this
    mine = replica.entries(partition)
    theirs = yield AeEntries(partition)
    _, pushing = diff(mine, theirs)
    while pushing:
        states, chunks, pushing = replica.export(pushing)
        yield Replicate(None, states, chunks)
    yield HandOff(partition, replica.id, replica.node_id, applied, lineage.to_json())
    return reduce(xor, mine.values(), 0)


def drop_at(prints: Sequence[int | BaseException]) -> int | None:
    """The fingerprint at which an old owner may drop a partition, given each new owner's
    ``hand_off`` result (its fingerprint, or the error that ended it); None: keep it and
    try again next round. Every new owner must have confirmed, all at one fingerprint."""
    confirmed = [x for x in prints if not isinstance(x, BaseException)]
    if len(confirmed) < len(prints):
        return None
    return confirmed[0] if len(set(confirmed)) == 1 else None
