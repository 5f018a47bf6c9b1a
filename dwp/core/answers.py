"""What every message a replica answers means: the one dispatch of the core.

``answer(replica, message)`` gives either the reply itself or a step the node carries
out for it, all plain data (as a raft ``Ready``):
- ``Local``: an operation on the replica, run in the node's next commit; its result,
  once committed, is the reply (a refusal, ``DwpError``, is that message's alone);
- ``Fresh``: wait (bounded) until the replica holds every write the reader's token
  names, then answer ``then``; if the wait runs out, answer ``behind``;
- ``Each``: a batch of writes, each resolved in this same turn (so they share one
  commit) and answered or refused on its own;
- ``Rerouted``: a view change run in the next commit; if it changed who should hear
  from this replica, the node starts senders for new peers before it answers.
The node answers a few messages itself, those that are its own I/O: fault injection,
driving sessions (``SyncNow``, ``Import``) and its process id (``Info``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from dwp.core.codec import encode_state
from dwp.core.lineage import Lineage
from dwp.core.messages import (
    WRITES,
    Abort,
    AeEntries,
    AeExport,
    AePartitions,
    AeRoot,
    AeSynced,
    Batch,
    ChunkRefs,
    ClearOutbox,
    Commit,
    Delete,
    Deleted,
    Get,
    GetChunk,
    GetView,
    HandOff,
    HandOffRequest,
    Import,
    Info,
    ListKeys,
    Message,
    Ping,
    Prepare,
    Put,
    PutChunks,
    ReadReply,
    Reap,
    Reapable,
    RefsPage,
    Replicate,
    Root,
    SetFaults,
    Snapshot,
    SnapshotInfo,
    Sweep,
    Swept,
    SyncNow,
    ViewState,
    Written,
)
from dwp.core.reads import list_keys, read
from dwp.core.replica import Replica
from dwp.core.version import Version
from dwp.core.view import View

R = TypeVar("R")
REAP_SCAN = 2048  # keys a replica looks at for deleted ones to reap, per message


@dataclass(frozen=True)
class Local(Generic[R]):
    """An operation on this replica, run inside the node's next commit."""

    op: Callable[[Replica], R]


@dataclass(frozen=True)
class Fresh(Generic[R]):
    """Answer once this replica holds every write ``need`` names (in ``partitions``; all
    when None), waiting at most ``wait``: ``then``'s reply, else ``behind``."""

    need: dict[str, int]
    wait: float
    partitions: list[int] | None
    then: Callable[[Replica], R]
    behind: R


@dataclass(frozen=True)
class Each:
    """A batch's writes: each answer resolved in one turn, each refused on its own."""

    answers: list[Any]


@dataclass(frozen=True)
class Rerouted(Generic[R]):
    """A view change: ``op`` runs in the next commit and says whether it changed who
    should hear from this replica; ``reply`` is read from the replica after it."""

    op: Callable[[Replica], bool]
    reply: Callable[[Replica], R]


Answer = Any  # a reply, or a Local, Fresh, Each or Rerouted step that gives one
NODE_MESSAGES = (SetFaults, SyncNow, Import, Info)  # the node's own I/O: it answers these


def answer(replica: Replica, message: Message) -> Answer:
    """``message`` answered from this replica (see the module's docstring)."""
    match message:
        case Put() as put:
            return Local(_put(put))
        case Delete() as delete:
            return Local(_delete(delete))
        case PutChunks(chunks=chunks):
            return Local(lambda r: _put_chunks(r, chunks))
        case Batch(writes=writes):
            if not all(isinstance(w, WRITES) for w in writes):
                raise TypeError("a batch holds only Put, Delete and PutChunks")
            return Each([answer(replica, w) for w in writes])
        case Get() as get:
            p = replica.view.partition_of_key(get.key)
            return Fresh(get.need, get.wait, [p], lambda r: read(r, get),
                         ReadReply(False, None, {}))
        case GetChunk(chunk=chunk):
            return replica.store.get_chunk(chunk)
        case ListKeys() as listing:
            return Fresh(listing.need, listing.wait, None, lambda r: list_keys(r, listing),
                         None)
        case Ping():
            return replica.node_id
        case AeRoot():
            return Root(replica.digest(), replica.applied(), replica.view.epoch, replica.id)
        case AeSynced(node=node, epoch=epoch, replica=to, applied=applied):
            return Local(lambda r: r.synced_by(node, epoch, to, applied))
        case AePartitions():
            return replica.partition_hashes()
        case AeEntries(partition=p):
            return replica.entries(p)
        case AeExport(refs=refs):
            return replica.export(refs)
        case Snapshot(partitions=partitions):
            applied, lineage = replica.snapshot(partitions)
            return SnapshotInfo(applied, lineage.to_json())
        case GetView():
            pending = replica.pending
            return ViewState(replica.view.to_json(), pending.to_json() if pending else None)
        case Replicate(origin=origin, states=states, chunks=chunks, upto=upto, after=after):
            return Local(lambda r: r.apply(origin, states, chunks, upto, after))
        case HandOff(partition=p, replica=origin, node=node, applied=applied, lineage=lineage):
            return Local(lambda r: r.seal(p, origin, node, applied, Lineage.from_json(lineage)))
        case HandOffRequest(partitions=partitions):
            return Local(lambda r: r.request_hand_off(partitions))
        case Prepare(target=target):
            return Rerouted(_preparing(View.from_json(target)), lambda r: None)
        case Commit(view=view, decided=decided):
            committed = View.from_json(view)
            return Rerouted(lambda r: r.commit(committed, decided), lambda r: r.view.epoch)
        case Abort(change=change):
            return Local(lambda r: r.abort(change))
        case ChunkRefs(after=start, budget=budget):
            named, kept, last = replica.chunk_refs(start, budget)
            return RefsPage(sorted(named), sorted(kept), last, replica.view.epoch,
                            replica.unsettled())
        case Sweep() as sweep:
            return Local(lambda r: _sweep(r, sweep))
        case Reap(only=None, after=start):
            keys, end = replica.deleted_after(start, REAP_SCAN)
            return Local(lambda r: reapable(keys, r.reap(keys, dry_run=True), end))
        case Reap(only=list() as only):
            return Local(lambda r: Reapable(r.reap(only), [], None))
        case ClearOutbox():
            return Local(lambda r: r.store.outbox_clear())
    raise TypeError(f"{type(message).__name__} is answered by the node, not by its replica")


def _put(m: Put) -> Callable[[Replica], Written]:
    return lambda r: Written(encode_state(r.write(m.key, m.version, m.context, m.need)))


def _delete(m: Delete) -> Callable[[Replica], Deleted]:
    tombstone = Version.tombstone(m.mtime, m.deps, m.write_id)

    def op(r: Replica) -> Deleted:
        state = r.delete(m.key, tombstone, m.context, m.need)
        return Deleted(encode_state(state) if state is not None else None)
    return op


def _put_chunks(replica: Replica, chunks: list[tuple[bytes, bytes]]) -> None:
    for chunk, data in chunks:
        replica.put_chunk(chunk, data)


def _preparing(target: View) -> Callable[[Replica], bool]:
    def op(r: Replica) -> bool:
        r.prepare(target)
        return True  # the proposal's members join those that should hear from us
    return op


def _sweep(replica: Replica, m: Sweep) -> Swept:
    """Sweep a range, and note what it found in the replica's byte tally: what waits,
    and on a dry run what would go too (it is still there)."""
    only = set(m.only) if m.only is not None else None
    result = replica.sweep(m.epoch, m.before, m.lo, m.hi, set(m.referenced), set(m.kept),
                           m.limit, m.dry_run, only)
    if result.refused:
        return Swept([], [], 0, f"Nothing was swept because {result.refused}.")
    reclaimed = sum(size for _, size in result.chunks)
    waiting = sum(size for _, size in result.waiting)
    replica.tally.note(m.lo, m.hi, waiting + (reclaimed if m.dry_run else 0), result.history)
    return Swept(result.chunks, [c for c, _ in result.waiting], waiting)


def reapable(keys: list[str], removable: list[str], last: str | None) -> Reapable:
    """Of the deleted keys looked at, those the replica may remove and those it keeps."""
    return Reapable(removable, sorted(set(keys) - set(removable)), last)
