"""Every message a storage node receives, as plain frozen dataclasses.

The gateway's client, the membership coordinator and the node's own peers all speak to
a node in these; a ``Transport`` carries them (over Ray, or in memory in the
simulator) and a node answers each with the reply type it names (``Message[R]``). Nothing
here does I/O, so the simulator and the tests build and inspect them freely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from dwp.core.codec import Causal
from dwp.core.errors import DwpError
from dwp.core.version import Version

Ref = str | bytes  # a key, or a chunk's hash
Export = tuple[list[tuple[str, bytes]], list[tuple[bytes, bytes]], list[Ref]]
R = TypeVar("R", covariant=True)


class Message(Generic[R]):
    """A message a node answers with an ``R``: ``Transport.call`` answers that type, so
    a caller reads the reply without a cast. Every message below names its reply so."""


# -- from clients ---------------------------------------------------------------------

@dataclass(frozen=True)
class Put(Message["Written"]):
    """Coordinate a write; answers ``Written``. ``write_id`` survives the client's
    retries, so a retry after a lost acknowledgement adds no second sibling."""

    key: str
    version: Version
    context: dict[str, int] | None
    need: dict[str, int] = field(default_factory=dict)
    write_id: str = ""


@dataclass(frozen=True)
class Delete(Message["Deleted"]):
    """Write a tombstone; answers ``Deleted`` (state None: nothing was there to delete)."""

    key: str
    mtime: float
    deps: Causal
    context: dict[str, int] | None
    need: dict[str, int] = field(default_factory=dict)
    write_id: str = ""


@dataclass(frozen=True)
class Written:
    state: bytes  # the key's state after the write


@dataclass(frozen=True)
class Deleted:
    state: bytes | None  # the key's state after the delete; None: there was none


@dataclass(frozen=True)
class PutChunks(Message[None]):
    chunks: list[tuple[bytes, bytes]]


Write = Put | Delete | PutChunks
WRITES = (Put, Delete, PutChunks)  # what a Batch carries
MAX_MESSAGE_BYTES = 96 * 1024  # a Ray message stays well under ~100 KiB (DESIGN.md section 8)


@dataclass(frozen=True)
class Batch(Message[list[Written | Deleted | DwpError | None]]):
    """Several client writes for one node in one message, applied in one group commit;
    answers a list, in order, of each one's reply or the ``DwpError`` that refused it
    (any other failure fails the whole batch, as it would fail a lone write)."""

    writes: list[Write]


@dataclass(frozen=True)
class Get(Message["ReadReply"]):
    """Answers ``ReadReply`` once the replica has applied what ``need`` names (bounded)."""

    key: str
    need: dict[str, int]
    wait: float
    history: bool = False  # the state with its kept versions (``dwp.core.codec.encode_whole``)


@dataclass(frozen=True)
class ReadReply:
    fresh: bool
    state: bytes | None
    applied: dict[str, int]  # what the replica vouched for, taken before the state


@dataclass(frozen=True)
class GetChunk(Message[bytes | None]):
    chunk: bytes


@dataclass(frozen=True)
class ListKeys(Message["list[ListEntry] | None"]):
    """Answers a list of ``ListEntry``, or None when behind ``need``."""

    prefix: str
    after: str
    limit: int
    need: dict[str, int] = field(default_factory=dict)
    wait: float = 0.0


@dataclass(frozen=True)
class ListEntry:
    key: str
    size: int
    content_type: str
    hash: str
    mtime: float
    siblings: int


@dataclass(frozen=True)
class Info(Message["NodeInfo"]):
    """Answers ``NodeInfo``."""


@dataclass(frozen=True)
class NodeInfo:
    """What a node says of itself: the status page, health checks and view changes read
    it (``digest`` equal on replicas that hold the same keys and chunks)."""

    id: str
    shard: int | None
    replica_id: str
    pid: int
    partitions: int  # owned
    keys: int  # in owned partitions
    digest: str
    outbox: dict[str, int]  # entries not yet acknowledged, by peer
    epoch: int  # of the view it serves
    changing: bool  # a change is prepared
    held: int  # partitions it holds but does not own, still to hand off
    bytes: dict[str, int]  # live, history, garbage, disk


# -- between replicas -----------------------------------------------------------------

@dataclass(frozen=True)
class Replicate(Message[int]):
    """An outbox batch, or an anti-entropy push (``origin`` None: no claim attached)."""

    origin: str | None
    states: list[tuple[str, bytes]]
    chunks: list[tuple[bytes, bytes]]
    upto: int | None = None
    after: int | None = None


@dataclass(frozen=True)
class AeRoot(Message["Root"]):
    """Answers ``Root``."""

    epoch: int


@dataclass(frozen=True)
class Root:
    digest: str
    applied: dict[str, int]
    epoch: int
    replica: str = ""  # the answering replica's id ("": a node from before it was sent)


@dataclass(frozen=True)
class AeSynced(Message[bool]):
    """A shard-mate's anti-entropy round repaired every difference with this replica
    (``replica``), so it holds all the shard-mate had applied when the round began;
    answers whether that was taken as applied here too."""

    node: str
    epoch: int
    replica: str
    applied: dict[str, int]


@dataclass(frozen=True)
class AePartitions(Message[dict[int, int]]):
    """Answers {partition: hash} of what the replica owns."""


@dataclass(frozen=True)
class AeEntries(Message[dict[Ref, int]]):
    """Answers {ref: fingerprint} of one partition (owned or still held)."""

    partition: int


@dataclass(frozen=True)
class AeExport(Message[Export]):
    """Answers ``Export``: the states and chunks named, one message's worth."""

    refs: list[Ref]


@dataclass(frozen=True)
class Snapshot(Message["SnapshotInfo"]):
    """Answers ``SnapshotInfo``: what a replica that copies ``partitions`` from this one
    may vouch for once the copy is complete (taken before the copy starts)."""

    partitions: list[int]


@dataclass(frozen=True)
class SnapshotInfo:
    applied: dict[str, int]
    lineage: str  # dwp.core.lineage.Lineage of those partitions, as JSON


@dataclass(frozen=True)
class HandOff(Message[None]):
    """An old owner handed over everything it held of ``partition``, as of ``applied``,
    and with it what it could vouch for there (``lineage``, JSON: seals it received)."""

    partition: int
    replica: str
    node: str
    applied: dict[str, int]
    lineage: str = ""


@dataclass(frozen=True)
class HandOffRequest(Message[None]):
    """An owner asks an old holder that has not sealed these partitions to hand them off
    (again): a holder that lost its disk no longer knows it held them, and without its
    seal the owner can never vouch for the writes of its new incarnation."""

    partitions: list[int]


# -- view changes ---------------------------------------------------------------------

@dataclass(frozen=True)
class GetView(Message["ViewState"]):
    """Answers ``ViewState``: the committed view and the prepared proposal, if any."""


@dataclass(frozen=True)
class ViewState:
    view: str
    pending: str | None


@dataclass(frozen=True)
class Prepare(Message[None]):
    """Durably record a proposal and queue writes for its owners-to-be too."""

    target: str


@dataclass(frozen=True)
class Import(Message[int]):
    """Copy ``partitions`` from ``source`` before the change commits; answers a count.
    ``whole``: they are every partition of the source's shard, which we join."""

    source: str
    partitions: list[int]
    whole: bool


@dataclass(frozen=True)
class Commit(Message[int]):
    """Adopt a committed view; answers the node's epoch afterwards. ``decided``: sent by
    a recovery finishing a change some node committed, so taken even where it was
    rolled back."""

    view: str
    decided: bool = False


@dataclass(frozen=True)
class Abort(Message[bool]):
    """Roll a prepared change back; answers False where it was committed already."""

    change: str


# -- garbage collection ---------------------------------------------------------------

@dataclass(frozen=True)
class ChunkRefs(Message["RefsPage"]):
    """Answers ``RefsPage``: chunks named by the states held here, keys after ``after``."""

    after: str
    budget: int


@dataclass(frozen=True)
class RefsPage:
    refs: list[bytes]  # named by a current version
    kept: list[bytes]  # named only by kept (history) versions here
    next: str | None  # where the next page starts; None: that was the last
    epoch: int
    unsettled: str  # why collection must wait for this node, "" if it need not
    # (``Replica.unsettled``: a change or a hand-off under way)


@dataclass(frozen=True)
class Sweep(Message["Swept"]):
    """Remove chunks in [lo, hi) stored before ``before`` and not in ``referenced`` (every
    chunk of that range any member's states name); answers ``Swept``. Refused (nothing
    swept) unless the node is at ``epoch`` and settled."""

    epoch: int
    before: float
    lo: bytes
    hi: bytes | None
    referenced: list[bytes]
    kept: list[bytes]  # those of ``referenced`` only history names, to count its bytes
    limit: int
    dry_run: bool
    only: list[bytes] | None = None  # remove none but these (``Replica.sweep``)


@dataclass(frozen=True)
class Swept:
    chunks: list[tuple[bytes, int]]  # (hash, size) removed, or that would be
    waiting: list[bytes]  # unnamed chunks it keeps for now: grace period, or over limit
    waiting_bytes: int
    refused: str = ""


@dataclass(frozen=True)
class Reap(Message["Reapable"]):
    """Deleted keys this replica may remove (``Replica.reap``), looking at keys after
    ``after``; answers ``Reapable``. With ``only``, remove those of them it still may
    (and answer them): a round removes what no replica of the shard keeps."""

    after: str
    only: list[str] | None = None


@dataclass(frozen=True)
class Reapable:
    keys: list[str]  # deleted keys its rule lets it remove
    kept: list[str]  # deleted keys its rule keeps for now
    last: str | None  # the last key looked at; None: the end of the store was reached


# -- operators and tests --------------------------------------------------------------

@dataclass(frozen=True)
class SetFaults(Message[None]):
    blocked: list[str]


@dataclass(frozen=True)
class SyncNow(Message[dict[str, str]]):
    """Run one anti-entropy round with every peer; answers {peer: outcome}."""


@dataclass(frozen=True)
class ClearOutbox(Message[None]):
    pass


@dataclass(frozen=True)
class Ping(Message[str]):
    pass
