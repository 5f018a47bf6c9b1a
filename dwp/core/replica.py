"""The replica state machine: one shard replica's decisions, with no I/O of its own.

The node shell calls the mutating methods inside one store transaction per batch
(group commit) from a single writer thread, commits, and only then acknowledges or
sends; reads may come from anywhere. Invariants:
- a dot is issued once: ``counter`` is persisted in the same transaction as the write,
  and ``id`` carries an incarnation that is new whenever the store is new (kv679);
- each key write appends one outbox entry per peer in that same transaction, in dot
  order, so a peer that has applied a batch up to counter c holds all our dots <= c;
- ``seen[r]`` is the counter below which every dot of replica r has been applied here;
  a read carrying a token waits until ``seen`` covers the token's vector for this shard;
- partition hashes are the XOR of their entries' fingerprints, updated with each write,
  so two replicas hold equal data exactly when their hashes agree.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TypeGuard

from dwp.core import clock, history
from dwp.core.clock import Dot, KeyState, Sibling
from dwp.core.codec import (
    Causal,
    State,
    chunk_entry_hash,
    decode_state,
    decode_version,
    encode_state,
    encode_version,
    encode_whole,
    entry_hash,
    kept_hash,
)
from dwp.core.errors import ChangeRefused, NotOwner
from dwp.core.lineage import Lineage, node_of
from dwp.core.messages import MAX_MESSAGE_BYTES, Export, Replicate
from dwp.core.store import KIND_CHUNK, KIND_KEY, Kept, Store, Stored
from dwp.core.tally import Tally
from dwp.core.version import Version
from dwp.core.view import View

MAX_BATCH_ITEMS = 512
SWEPT_MEMORY = 3600.0  # seconds a swept chunk is refused from anti-entropy (see ``sweep``)
KEPT_ABORTS = 64  # rolled-back change ids a node remembers: only a late Commit or Prepare needs one


@dataclass(frozen=True)
class OutboxBatch:
    """What one peer should receive next from our outbox."""

    origin: str  # our replica id
    states: list[tuple[str, bytes]]
    chunks: list[tuple[bytes, bytes]]
    upto: int  # every dot of ours <= upto is covered once this batch is applied...
    after: int | None  # ...by a peer that already held every dot of ours <= after (None:
    # we do not know what it holds, so the batch carries no claim)
    last_seq: int

    @property
    def message(self) -> Replicate:
        return Replicate(self.origin, self.states, self.chunks, self.upto, self.after)


@dataclass(frozen=True)
class SweepResult:
    chunks: list[tuple[bytes, int]]  # (hash, size) removed, or that would be
    waiting: list[tuple[bytes, int]]  # unnamed chunks kept for now (grace period, limit)
    history: int  # bytes of chunks only kept versions name
    refused: str = ""


class ForeignData(RuntimeError):
    """A node was pointed at another network's data; it refuses to mix them."""


def live(state: State) -> list[Version]:
    """Live siblings, winner first: the newest write, ties broken by dot, so every
    replica and every reader picks the same one."""
    ordered = sorted(state.siblings, key=history.rank, reverse=True)
    return [s.value for s in ordered if not s.value.deleted]


def holds_write(state: State | None, write_id: str) -> TypeGuard[State]:
    """True when ``state`` already holds the write a client retries (same write id)."""
    return bool(write_id) and state is not None and any(
        s.value.write_id == write_id for s in state.siblings)


def one_per_write(state: State) -> State:
    """A write retried at a second replica after its first answer was lost is still one
    write: of siblings sharing a write id, the highest dot stays. The others' dots stay
    in the context, so every replica treats them as superseded and all converge."""
    best: dict[str, Sibling[Version]] = {}
    for s in state.siblings:
        if s.value.write_id and (s.value.write_id not in best
                                 or s.dot > best[s.value.write_id].dot):
            best[s.value.write_id] = s
    kept = tuple(s for s in state.siblings
                 if not s.value.write_id or best[s.value.write_id] is s)
    return state if len(kept) == len(state.siblings) else replace(state, siblings=kept)


def _ignore(view: View) -> None:
    """No observer."""


def _ignore_reap(key: str, state: State) -> None:
    """No observer."""


class Replica:
    def __init__(self, node_id: str, view: View, store: Store,
                 new_incarnation: Callable[[], str],
                 now: Callable[[], float]) -> None:
        self.node_id = node_id
        self.store = store
        self.now = now
        # Observers (the simulator's; no-ops otherwise): a view this replica committed, and
        # each key it reaped with the state it had. Called inside the transaction.
        self.on_commit: Callable[[View], None] = _ignore
        self.on_reap: Callable[[str, State], None] = _ignore_reap
        self.peer_applied: dict[str, dict[str, int]] = {}  # shard-mate -> its last vector
        self.swept: dict[bytes, float] = {}  # chunk -> when this replica collected it
        self.tally = Tally()  # what the last collection round found here, in bytes
        with store.transaction():
            stored = store.meta_get("view")
            if stored is not None and View.from_json(stored).id != view.id:
                raise ForeignData(f"this data dir holds a replica of network "
                                  f"{View.from_json(stored).name!r} (id "
                                  f"{View.from_json(stored).id}), not of {view.id}")
            if store.meta_get("replica_id") is None:
                self._create(view, new_incarnation())
            if stored is None:
                store.meta_set("view", view.to_json())
        self.reload()
        if view.epoch > self.view.epoch:  # committed while this replica was down
            with self.transaction():
                self.commit(view, decided=True)

    def _create(self, view: View, incarnation: str) -> None:
        """A new store. In a network that never changed, every replica starts empty, so
        its peers' first batches may carry claims; a new store of a member of a changed
        network is a lost disk, and vouches for nothing it has not copied."""
        member = self.node_id in view.members
        self.store.meta_set("replica_id", f"{self.node_id}.{incarnation}")
        self.store.meta_set("counter", "0")
        self.store.meta_set("seen", "{}")
        self.store.meta_set("lineage", Lineage(known=not (member and view.epoch > 1)).to_json())
        if member and view.epoch == 1:
            peers = view.peers(self.node_id)
            self.store.meta_set("sent_upto", json.dumps({p: 0 for p in sorted(peers)}))

    def reload(self) -> None:
        """Re-read what is durable (after a failed transaction, or on open)."""
        self.id: str = self.store.meta_get("replica_id") or ""
        self.counter = int(self.store.meta_get("counter") or 0)
        self.seen: dict[str, int] = json.loads(self.store.meta_get("seen") or "{}")
        self.phash: dict[int, int] = self.store.partition_hashes()
        self._dirty: set[int] = set()
        self.sent_upto: dict[str, int] = json.loads(self.store.meta_get("sent_upto") or "{}")
        self.acked_seq: dict[str, int] = {}
        self._unflushed: set[str] = set()
        self.lineage = Lineage.from_json(self.store.meta_get("lineage"))
        self.to_hand_off: set[int] = set(json.loads(self.store.meta_get("hand_off") or "[]"))
        self._lineage_dirty = False
        self._lineage_unpublished = True
        pending = self.store.meta_get("pending")
        self.pending: View | None = View.from_json(pending) if pending else None
        self.aborted: list[str] = json.loads(self.store.meta_get("aborted") or "[]")
        self._use(View.from_json(self.store.meta_get("view") or ""))
        self.publish()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One store transaction for a batch of operations. What readers see of this
        replica's progress (``applied``, ``digest``, ownership, lineage) moves only once
        it has committed, so a read never trusts a claim its store cannot yet show."""
        try:
            with self.store.transaction():
                yield
                self._persist()
        except BaseException:
            self.reload()
            raise
        self.publish()

    def publish(self) -> None:
        """Make what is now committed visible to readers (after the commit, never before)."""
        self._visible_applied = {**self.seen, self.id: self.counter}
        self._visible_phash = {p: v for p, v in self.phash.items() if v}
        self._visible_owned = self.owned
        self._visible_shard = self.shard_nodes
        self._visible_pending = self.pending
        if self._lineage_unpublished:  # copied only when it changed: commits are hot
            self._visible_lineage = self.lineage.part(self.lineage.holders.keys()
                                                      | self.lineage.claims.keys()
                                                      | self.lineage.sealed.keys())
            self._lineage_unpublished = False

    def _use(self, view: View) -> None:
        self.view = view
        self.shard: int | None = (view.shard_of_node(self.node_id)
                                  if self.node_id in view.members else None)
        self.peers: tuple[str, ...] = view.peers(self.node_id) if self.shard is not None else ()
        self.shard_nodes: frozenset[str] = frozenset((self.node_id, *self.peers))
        self.owned: frozenset[int] = (view.partitions_of_shard(self.shard)
                                      if self.shard is not None else frozenset())

    # -- view changes: call inside store.transaction() --------------------------------

    def prepare(self, target: View) -> None:
        """Record a proposal durably; until it commits or aborts, writes are queued for
        its owners-to-be too. One proposal at a time, and only on the view it extends."""
        if self.pending is not None and self.pending.change == target.change:
            return
        if self.pending is not None:
            raise ChangeRefused(f"node {self.node_id} has change {self.pending.change} "
                                f"(epoch {self.pending.epoch}) prepared")
        if target.change in self.aborted:
            raise ChangeRefused(f"node {self.node_id} rolled change {target.change} back")
        if target.epoch != self.view.epoch + 1 or not target.change:
            raise ChangeRefused(f"node {self.node_id} is at epoch {self.view.epoch}; the "
                                f"proposal for epoch {target.epoch} does not extend it")
        self.pending = target
        self.store.meta_set("pending", target.to_json())
        self._new_recipients(n for n in target.members if n not in self.peers)

    def _new_recipients(self, nodes: Iterable[str]) -> None:
        """From now on every write of ours goes to these nodes too; they hold none of
        ours yet that we know of, so the chain of claims our batches carry to each one
        starts at our counter now (writes before it reach them by copy or anti-entropy)."""
        for node in nodes:
            if node != self.node_id:
                self.sent_upto[node] = self.counter
        self.store.meta_set("sent_upto", json.dumps(self.sent_upto, sort_keys=True))

    def abort(self, change: str) -> bool:
        """Forget a proposal that will not commit, and what was queued for nodes it would
        have added; False (and nothing done) if this node committed it already. The id is
        kept, so a Commit or Prepare of it still on the wire is refused when it comes."""
        if self.view.change == change:
            return False
        if change not in self.aborted:
            self.aborted = [*self.aborted, change][-KEPT_ABORTS:]
            self.store.meta_set("aborted", json.dumps(self.aborted))
        if self.pending is None or self.pending.change != change:
            return True
        for node in self.pending.members:
            if node not in self.view.members:
                self.store.outbox_drop(node)
                self.acked_seq.pop(node, None)
                self._unflushed.discard(node)
        proposal = self.pending
        self._clear_pending()
        self._await_copies_of(proposal)
        return True

    def _await_copies_of(self, proposal: View) -> None:
        """A proposal that will not commit may have copied partitions to its owners-to-be
        in other shards. Each of them hands back what it was to own (even empty: its seal
        is what the owners wait for), and the owners record them as holders, so no delete
        is reaped until that hand-off has come back (a stale copy handed back after the
        reap would undo it). Nodes it would have added are discarded with their data."""
        for p in self.owned:
            copied = set(proposal.owners_of_partition(p)) & set(self.view.members)
            self.lineage.add_holders([p], copied - self.shard_nodes, self.seen)
        self._lineage_dirty = True
        if self.node_id in proposal.members:
            self.request_hand_off(
                proposal.partitions_of_shard(proposal.shard_of_node(self.node_id)))

    def _clear_pending(self) -> None:
        self.pending = None
        self.store.meta_set("pending", "")

    def commit(self, view: View, decided: bool = False) -> bool:
        """Adopt a committed view; False (and no change) for one that is not newer, or
        for another view at the epoch of the proposal we prepared: a Commit that arrives
        late, from a coordinator that died before a later one rolled its change back, must
        not commit a second view at the epoch the prepared proposal now stands for. Nor
        for a change rolled back here, unless ``decided``: some node committed it (a
        recovery finishing it, or a peer's view), so it stands.

        Nodes that stop sharing a partition with us become its holders: their dots are
        vouched for only as far as we had seen them, until they hand it off."""
        if view.epoch <= self.view.epoch or (view.change in self.aborted and not decided):
            return False
        if (self.pending is not None and self.pending.epoch == view.epoch
                and self.pending.change != view.change):
            return False
        old_shard = self.shard_nodes
        prepared = self.pending.members if self.pending is not None else ()
        passed_over = (self.pending if self.pending is not None
                       and self.pending.change != view.change else None)
        self.store.meta_set("view", view.to_json())
        if self.pending is not None and self.pending.epoch <= view.epoch:
            self._clear_pending()
        old = self.view
        gave_up = self.owned
        self._use(view)
        self.peer_applied = {}
        self._set_hand_off(self.to_hand_off | (gave_up - self.owned))
        for p in self.owned:
            gone = set(old.owners_of_partition(p)) - self.shard_nodes
            self.lineage.add_holders([p], gone, self.seen)
        if passed_over is not None:
            self._await_copies_of(passed_over)
        self._new_recipients(p for p in self.peers if p not in old_shard and p not in prepared)
        self._lineage_dirty = True
        self.on_commit(view)
        return True

    def recipients(self, partition: int) -> list[str]:
        """Who must receive a write to ``partition``: peers, plus its owners-to-be."""
        out = list(self.peers)
        if self.pending is not None:
            out += [n for n in self.pending.owners_of_partition(partition)
                    if n != self.node_id and n not in out]
        return out

    # -- hand-off: an old owner gives up a partition only once its new owners hold it --

    def held_unowned(self) -> list[int]:
        """Partitions this replica must still hand off: those it gave up in a committed
        change or was to own in one rolled back (even empty ones: the hand-off is what
        lets their owners vouch for its writes and collect again), and any with data
        here that its shard does not own (nor will once the prepared proposal commits).
        None once it was removed by force: the network went on without what it held, and
        handing old states back could undo deletes that were reaped since. Reads what is
        committed: the node's loop asks while the writer thread changes ``phash``."""
        if self.removed():
            return []
        held = self._visible_phash.keys() | self.to_hand_off
        return sorted(p for p in held if p not in self.owned and p not in self._owned_next())

    def request_hand_off(self, partitions: Iterable[int]) -> None:
        """Hand these partitions off (again) unless this node owns them or is about to."""
        keep = self.owned | self._owned_next()
        self._set_hand_off(self.to_hand_off | {p for p in partitions if p not in keep})

    def unsealed_holders(self) -> dict[str, list[int]]:
        """Old holders of our partitions whose hand-off has not reached us, by node; only
        members (a node that left writes nothing, whatever its disk holds)."""
        members = set(self.view.members)
        return {n: ps for n, ps in self._awaited().items() if n in members}

    def _awaited(self) -> dict[str, list[int]]:
        """Every old holder outside our shard whose hand-off of a partition we own has
        not reached us, by node: members, and nodes that left and are still handing off;
        not nodes removed by force, which never will."""
        out: dict[str, list[int]] = {}
        for p in sorted(self.owned):
            sealed = {node_of(r) for r in self.lineage.sealed.get(p, ())}
            for node in sorted(self.lineage.holders.get(p, ())):
                if (node not in sealed and node not in self.shard_nodes
                        and node not in self.view.removed):
                    out.setdefault(node, []).append(p)
        return out

    def awaits_hand_offs(self) -> bool:
        """Some old holder of a partition we own has not sealed it here yet (anti-entropy
        then takes over a shard-mate's lineage: the seal may have reached it instead)."""
        return bool(self._awaited())

    def removed(self) -> bool:
        """This node was removed by force while it was away."""
        return self.node_id in self.view.removed

    def refuses(self, sender: str) -> bool:
        """A node removed by force may come back with what it held before: its batches,
        hand-offs and requests must not undo what the network did without it."""
        return sender in self.view.removed

    def departed(self) -> bool:
        """This node left the network and nothing it holds is still needed elsewhere (or
        it was removed by force), so its process may end."""
        return self.removed() or (self.view.has_left(self.node_id) and self.pending is None
                                  and not self.held_unowned() and not self.outbox_sizes())

    def _set_hand_off(self, partitions: set[int]) -> None:
        if partitions != self.to_hand_off:
            self.to_hand_off = partitions
            self.store.meta_set("hand_off", json.dumps(sorted(partitions)))

    def _owned_next(self) -> frozenset[int]:
        target = self.pending
        if target is None or self.node_id not in target.members:
            return frozenset()
        return target.partitions_of_shard(target.shard_of_node(self.node_id))

    def drop_if_unchanged(self, partition: int, fingerprint: int) -> bool:
        """Drop a handed-off partition, unless something arrived since the hand-off (its
        hash moved): then it stays for the next round."""
        if (partition in self.owned or partition in self._owned_next()
                or self.phash.get(partition, 0) != fingerprint):
            return False
        self.store.drop_partition(partition)
        self.phash.pop(partition, None)
        self._dirty.add(partition)
        self._set_hand_off(self.to_hand_off - {partition})
        self.lineage.forget(partition)
        self._lineage_dirty = True
        return True

    def seal(self, partition: int, replica: str, node: str, applied: dict[str, int],
             lineage: Lineage | None = None) -> None:
        """An old holder handed over everything it held of ``partition``, and with it
        what it could vouch for there (seals of holders before it)."""
        if lineage is not None:
            self.lineage.inherit(partition, applied, lineage)
        self.lineage.seal(partition, replica, node, applied)
        self._lineage_dirty = True
        if partition not in self.owned and partition not in self._owned_next():
            # Handed on already (it moved twice): the seal must follow it, or the owners
            # now would wait for this holder's hand-off for ever.
            self._set_hand_off(self.to_hand_off | {partition})

    def inherit(self, partitions: list[int], applied: dict[str, int], lineage: Lineage,
                whole: bool) -> None:
        """We copied these partitions from a replica whose snapshot began at ``applied``:
        vouch for what it could. ``whole``: it was every partition of our own shard, so
        its whole applied vector holds here too."""
        for p in partitions:
            self.lineage.inherit(p, applied, lineage, fresh=p not in self.owned)
        if whole:
            self.learn(applied)
            self.lineage.known = self.lineage.known or lineage.known
        self._lineage_dirty = True

    def snapshot(self, partitions: list[int]) -> tuple[dict[str, int], Lineage]:
        """What a replica about to copy these partitions from us may vouch for after."""
        return self.applied(), self._visible_lineage.part(partitions)

    # -- writes: call inside store.transaction() --------------------------------------

    def _check_owner(self, partition: int) -> None:
        """Ownership is decided in the transaction that writes, against the view that
        transaction sees: a write racing a view change is redirected, never acknowledged
        into a partition this replica is about to hand off."""
        if partition not in self.owned:
            raise NotOwner(self.view.to_json())

    def write(self, key: str, version: Version, context: dict[str, int] | None,
              need: dict[str, int] | None = None) -> State:
        """Coordinate a client write: issue a dot, store, and queue it for every peer.

        A blind write (no context) supersedes what this replica and the client (``need``,
        its token's vector for this shard) have seen. A retry of a write already stored
        here (same ``write_id``) answers the stored state and issues no second dot."""
        p = self.view.partition_of_key(key)
        self._check_owner(p)
        row = self.store.get_stored(key)
        old = decode_state(row.state) if row else None
        if holds_write(old, version.write_id):
            return old
        if context is None and need:  # only what it may lack: the rest is in old.context
            context = clock.join(old.context if old else {}, self._missing_now(p, need))
        self.counter += 1
        new = clock.update(old or KeyState(), Dot(self.id, self.counter), version, context)
        self._save(key, row, new, [old] if old else [])
        for peer in self.recipients(p):
            self.store.outbox_add(peer, KIND_KEY, key, self.counter)
        return new

    def delete(self, key: str, tombstone: Version, context: dict[str, int] | None,
               need: dict[str, int] | None = None) -> State | None:
        """A tombstone write, or None (nothing written, "not found") when nothing is live
        here and this replica has everything the client has seen: a client that has seen
        more than this replica still deletes what it saw, even before it arrives."""
        p = self.view.partition_of_key(key)
        self._check_owner(p)
        blob = self.store.get_state(key)
        old = decode_state(blob) if blob else None
        if holds_write(old, tombstone.write_id):
            return old
        if old is None or not live(old):
            seen_here = old.context if old is not None else {}
            if ((not context or clock.descends(seen_here, context))
                    and not self._missing_now(p, need or {})):
                return None
        return self.write(key, tombstone, context, need)

    def put_chunk(self, chunk: bytes, data: bytes) -> None:
        """Store a chunk, or renew one already here: an upload that names it again must
        find it on every replica for a grace period (garbage collection's rule)."""
        p = self.view.partition_of_chunk(chunk)
        self._check_owner(p)
        self.swept.pop(chunk, None)
        if self.store.has_chunk(chunk):
            self.store.touch_chunk(chunk, self.now())
        else:
            self._save_chunk(chunk, data)
        for peer in self.recipients(p):
            self.store.outbox_add(peer, KIND_CHUNK, chunk, None)

    def apply(self, origin: str | None, states: Iterable[tuple[str, bytes]],
              chunks: Iterable[tuple[bytes, bytes]], upto: int | None,
              after: int | None = None) -> int:
        """Merge states and chunks from a peer; idempotent. Returns how many changed.

        The sender's claim ``upto`` is recorded only when the sender is a shard-mate and
        this replica already holds what came before (``after``): a replica that lost its
        disk, or a node that is new to the shard, must not inherit claims it did not earn.
        The states of a shard-mate's batch that comes after this replica applied all it
        covers (a late copy) are dropped: a delete reaped since must not have what it
        superseded brought back. Its chunks, which no dot covers, are still stored.
        """
        late = (origin is not None and upto is not None and node_of(origin) in self.peers
                and self.seen.get(origin, 0) >= upto)
        changed = 0
        for key, blob in () if late else states:
            row = self.store.get_stored(key)
            if row is not None and row.state == blob:
                continue  # what this replica holds (a batch sent again): nothing to merge
            old = decode_state(row.state) if row else None
            theirs = decode_state(blob)
            if old is None and self._reapable(key, theirs):
                continue  # reaped here already: storing it again would only undo that
            new = one_per_write(clock.merge(old, theirs) if old else theirs)
            if self._save(key, row, new, [old, theirs] if old else [theirs]):
                changed += 1
        for chunk, data in chunks:
            if origin is None and self._swept_lately(chunk):
                continue  # garbage a shard-mate has not collected yet: it will
            self.swept.pop(chunk, None)
            if not self.store.has_chunk(chunk):
                self._save_chunk(chunk, data)
                changed += 1
            else:
                self.store.touch_chunk(chunk, self.now())
        if (origin is not None and upto is not None and after is not None
                and node_of(origin) in self.peers and self.seen.get(origin, 0) >= after):
            self.learn({origin: upto})
        return changed

    def synced_by(self, peer: str, epoch: int, to: str, applied: dict[str, int]) -> bool:
        """A shard-mate's round repaired every difference with us after it had applied
        ``applied``: we hold all of it too (as it holds all of ours once it pulled). Only
        for this store (``to``: a late copy must not vouch for a disk lost since) in the
        view the round ran in."""
        if to != self.id or epoch != self.view.epoch or peer not in self.peers:
            return False
        self.learn(applied)
        return True

    def learn(self, seen: dict[str, int]) -> None:
        """Record that every dot covered by ``seen`` is applied here."""
        merged = clock.join(self.seen, seen)
        merged.pop(self.id, None)
        if merged != self.seen:
            self.seen = merged
            self.store.meta_set("seen", json.dumps(merged, sort_keys=True))

    def _persist(self) -> None:
        """Persist the counter, touched partition hashes and the acknowledgements peers
        sent since the last transaction: the last step of every transaction."""
        self.store.meta_set("counter", str(self.counter))
        if self._lineage_dirty:
            self.store.meta_set("lineage", self.lineage.to_json())
            self._lineage_dirty = False
            self._lineage_unpublished = True
        acked, self._unflushed = self._unflushed, set()
        for peer in acked:
            self.store.outbox_ack(peer, self.acked_seq[peer])
        if acked:
            self.store.meta_set("sent_upto", json.dumps(self.sent_upto, sort_keys=True))
        for p in self._dirty:
            if p in self.phash:
                self.store.set_partition_hash(p, self.phash[p])
            else:
                self.store.drop_partition_hash(p)
        self._dirty.clear()

    def ack(self, peer: str, last_seq: int, upto: int = 0) -> None:
        """A peer applied a batch. Noted in memory now, persisted by the next transaction:
        until then a crash only means a harmless resend."""
        self.acked_seq[peer] = max(self.acked_seq.get(peer, 0), last_seq)
        self.sent_upto[peer] = max(self.sent_upto.get(peer, 0), upto)
        self._unflushed.add(peer)

    @property
    def has_unflushed_acks(self) -> bool:
        return bool(self._unflushed)

    def outbox_sizes(self) -> dict[str, int]:
        """Entries each peer has not acknowledged yet."""
        return {p: n for p, n in self.store.outbox_sizes(self.acked_seq).items() if n}

    # -- reads ------------------------------------------------------------------------

    def get(self, key: str) -> State | None:
        """The key's state with the versions it keeps."""
        whole = self.whole(key)
        return decode_state(whole) if whole is not None else None

    def applied(self) -> dict[str, int]:
        """Every dot this replica holds and has committed, as a vector (its own counter
        included)."""
        return dict(self._visible_applied)

    def applied_now(self) -> dict[str, int]:
        """The same, inside a transaction (what this transaction sees)."""
        return {**self.seen, self.id: self.counter}

    def owns(self, partition: int) -> bool:
        """Committed ownership, as readers see it."""
        return partition in self._visible_owned

    def fresh(self, need: dict[str, int], partitions: Iterable[int] | None = None) -> bool:
        """True when this replica holds every write ``need`` names that could touch
        ``partitions`` (default: every partition it owns)."""
        applied = self._visible_applied
        if clock.descends(applied, need):
            return True
        ps = self._visible_owned if partitions is None else partitions
        return not any(self._missing(p, need, applied, self._visible_lineage,
                                     self._visible_shard, self._visible_pending) for p in ps)

    def _missing_now(self, partition: int, need: dict[str, int]) -> dict[str, int]:
        """The same, inside a transaction."""
        return self._missing(partition, need, self.applied_now(), self.lineage,
                             self.shard_nodes, self.pending)

    @staticmethod
    def _missing(partition: int, need: dict[str, int], applied: dict[str, int],
                 lineage: Lineage, shard: frozenset[str], pending: View | None
                 ) -> dict[str, int]:
        """The writes ``need`` names that could touch ``partition`` and may not be held
        here. ``pending``: a prepared proposal's owners may already write the partition
        (a node that committed it before us), so their writes count too."""
        writers = shard | frozenset(pending.owners_of_partition(partition)) if pending else shard
        return {r: c for r, c in need.items()
                if applied.get(r, 0) < c and not lineage.vouches(partition, r, c, writers)}

    def outbox_batch(self, peer: str) -> OutboxBatch | None:
        """A write's replication: each key's current siblings and context, without the
        versions it keeps. The peer files what the write superseded into its own history;
        a peer that missed a middle version (cut off while it was written) keeps a history
        that differs, and so does the key's fingerprint, which anti-entropy repairs by
        sending the whole state."""
        entries = self.store.outbox_read(peer, MAX_BATCH_ITEMS, self.acked_seq.get(peer, 0))
        if not entries:
            return None
        states: dict[str, bytes] = {}
        chunks: list[tuple[bytes, bytes]] = []
        size, upto, last_seq = 0, 0, 0
        for e in entries:
            if e.kind == KIND_KEY and isinstance(e.ref, str):
                if e.ref not in states:
                    blob = self.store.get_state(e.ref)
                    if blob is not None:
                        states[e.ref] = blob
                        size += len(blob)
                upto = max(upto, e.counter or 0)
            elif isinstance(e.ref, bytes):
                data = self.store.get_chunk(e.ref)
                if data is not None:
                    chunks.append((e.ref, data))
                    size += len(data)
            last_seq = e.seq
            if size >= MAX_MESSAGE_BYTES:
                break
        return OutboxBatch(self.id, list(states.items()), chunks, upto,
                           self.sent_upto.get(peer), last_seq)

    # -- anti-entropy -----------------------------------------------------------------

    def digest(self) -> str:
        """Equal on two replicas exactly when they hold the same keys and chunks."""
        h = hashlib.blake2b(digest_size=16)
        for p, v in sorted(self._visible_phash.items()):
            if p in self.owned:
                h.update(p.to_bytes(4, "big") + v.to_bytes(16, "big"))
        return h.hexdigest()

    def partition_hashes(self) -> dict[int, int]:
        return {p: v for p, v in self._visible_phash.items() if p in self.owned}

    def owns_key(self, key: str) -> bool:
        return self.owns(self.view.partition_of_key(key))

    def entries(self, partition: int) -> dict[str | bytes, int]:
        return self.store.partition_entries(partition)

    def export(self, refs: list[str | bytes]) -> Export:
        """States and chunks a peer lacks, one message's worth, and the refs left over."""
        states: list[tuple[str, bytes]] = []
        chunks: list[tuple[bytes, bytes]] = []
        size = 0
        for i, ref in enumerate(refs):
            item = self.whole(ref) if isinstance(ref, str) else self.store.get_chunk(ref)
            if item is None:
                continue
            if size and size + len(item) > MAX_MESSAGE_BYTES:
                return states, chunks, refs[i:]
            size += len(item)
            if isinstance(ref, str):
                states.append((ref, item))
            else:
                chunks.append((ref, item))
        return states, chunks, []

    # -- garbage ----------------------------------------------------------------------

    def note_peer_applied(self, peer: str, applied: dict[str, int]) -> None:
        """What a shard-mate had applied when an anti-entropy round with it began, in this
        view (in memory: after a restart, reaping waits for a round with each peer)."""
        self.peer_applied[peer] = applied

    def settled(self) -> bool:
        """No change under way and no hand-off due either way: every state that names a
        chunk of ours is on a member that garbage collection asks."""
        return not self.unsettled()

    def unsettled(self) -> str:
        """Why garbage collection must wait for this replica, in words ("" if it need
        not): a change prepared, a partition it still hands off, or an old holder of one
        of its partitions that has not handed it off (one in its own shard again, after
        a partition moved away and back, is a member that collection asks; one removed
        by force never will)."""
        if self.pending is not None:
            return (f"{self.node_id} has change {self.pending.change} (epoch "
                    f"{self.pending.epoch}) prepared")
        if held := self.held_unowned():
            return f"{self.node_id} still hands off {_partitions(held)}, which it does not own"
        for node, ps in self._awaited().items():
            return (f"{self.node_id} waits for {node} to hand off {_partitions(ps)}, which "
                    f"{node} held before")
        return ""

    def _reapable(self, key: str, state: State) -> bool:
        """A deleted key whose history has aged out may go once every replica of its shard
        has applied the delete and all it superseded, so none can ever send back a value
        it deleted (Riak's and Garage's rule). Only in a partition that never moved: an
        old holder could still hand back what it held (not one removed by force: what it
        sends is refused, and it discards what it held once it learns of its removal).""" 
        if (self.pending is not None
                or not history.expired(state, self.now(), self.view.keep_deleted_days)):
            return False
        p = self.view.partition_of_key(key)
        if p not in self.owned or self.lineage.holders.get(p, frozenset()) - self.view.removed:
            return False
        vectors = [self.applied_now(), *(self.peer_applied.get(q) for q in self.peers)]
        return all(v is not None and clock.descends(v, state.context) for v in vectors)

    def reap(self, keys: Iterable[str], dry_run: bool = False) -> list[str]:
        """Remove these deleted keys where the rule above allows; answers those removed."""
        out = []
        for key in keys:
            row = self.store.get_stored(key)
            state = decode_state(row.state) if row else None
            if row is not None and state is not None and self._reapable(key, state):
                out.append(key)
                if not dry_run:
                    p = self.view.partition_of_key(key)
                    self.phash[p] = self.phash.get(p, 0) ^ row.ehash
                    self._dirty.add(p)
                    self.store.drop_state(key)
                    self.on_reap(key, state)
        return out

    def chunk_refs(self, after: str, budget: int) -> tuple[set[bytes], set[bytes], str | None]:
        """Chunks that the states held here name: by a current version, and only by a
        kept one; scanning keys after ``after`` until ``budget`` refs or keys (a page);
        and the key to go on from (None: done)."""
        refs: set[bytes] = set()
        kept: set[bytes] = set()
        scanned = 0
        while len(refs) + len(kept) < budget and scanned < budget:
            rows = self.store.states_after(after, 256)
            for _, blob in rows:
                for s in decode_state(blob).siblings:
                    refs.update(s.value.named)
            for _, body in self.store.kept_between(after, rows[-1][0]) if rows else ():
                kept.update(decode_version(body).named)
            after = rows[-1][0] if rows else after
            scanned += len(rows)
            if len(rows) < 256:
                return refs, kept - refs, None
        return refs, kept - refs, after

    def sweep(self, epoch: int, before: float, lo: bytes, hi: bytes | None,
              referenced: set[bytes], kept: set[bytes], limit: int, dry_run: bool = False,
              only: set[bytes] | None = None) -> SweepResult:
        """Remove chunks of ours in [lo, hi) stored before ``before`` that no state on any
        member names (``referenced``: all of them in that range, as marked at ``epoch``;
        ``kept``: those only history names, whose bytes are counted). ``only``: remove
        none but these (those no replica of the shard keeps for now), so all of them
        remove the same and their digests stay equal."""
        if self.view.epoch != epoch:
            return SweepResult([], [], 0, f"{self.node_id} is at epoch {self.view.epoch}, "
                               f"not {epoch}")
        if why := self.unsettled():
            return SweepResult([], [], 0, why)
        now = self.now()
        self.swept = {c: t for c, t in self.swept.items() if t >= now - SWEPT_MEMORY}
        out: list[tuple[bytes, int]] = []
        waiting: list[tuple[bytes, int]] = []
        history_bytes = 0
        for chunk, size, stored_at in self._chunks_in(lo, hi):
            if chunk in referenced:
                history_bytes += size if chunk in kept else 0
            elif (stored_at >= before or len(out) >= limit
                    or (only is not None and chunk not in only)):
                waiting.append((chunk, size))
            else:
                out.append((chunk, size))
                if not dry_run:
                    self._drop_chunk(chunk)
                    self.swept[chunk] = now
        return SweepResult(out, waiting, history_bytes)

    def _chunks_in(self, lo: bytes, hi: bytes | None) -> Iterator[tuple[bytes, int, float]]:
        """Chunks of owned partitions in [lo, hi), in hash order."""
        after = lo
        while True:
            rows = self.store.chunks_after(after, 512)
            for chunk, size, stored_at in rows:
                if hi is not None and chunk >= hi:
                    return
                after = chunk
                if chunk >= lo and self.view.partition_of_chunk(chunk) in self.owned:
                    yield chunk, size, stored_at
            if len(rows) < 512:
                return

    def _swept_lately(self, chunk: bytes) -> bool:
        """Collected here lately: anti-entropy must not bring it back from a shard-mate
        whose sweep has not run yet, or the two would hand garbage back and forth for
        ever. A new upload of it (``put_chunk``, or an outbox batch) is stored again."""
        when = self.swept.get(chunk)
        if when is not None and when < self.now() - SWEPT_MEMORY:
            del self.swept[chunk]
            return False
        return when is not None

    def deleted_after(self, after: str, scan: int) -> tuple[list[str], str | None]:
        """Keys after ``after`` whose every current sibling is a tombstone, looking at up to
        ``scan`` keys; and the last key looked at (None once the end was reached)."""
        keys: list[str] = []
        while scan > 0:
            rows = self.store.states_after(after, min(256, scan))
            keys += [key for key, blob in rows
                     if all(s.value.deleted for s in decode_state(blob).siblings)]
            scan -= len(rows)
            if len(rows) < 256 or not rows:
                return keys, None
            after = rows[-1][0]
        return keys, after

    # -- internals --------------------------------------------------------------------

    def whole(self, key: str) -> bytes | None:
        """The key's state with its history, as anti-entropy, hand-offs and copies send
        it (a write's replication sends the state alone: see ``outbox_batch``)."""
        row = self.store.get_whole(key)
        if row is None:
            return None
        blob, kept = row
        if not kept:
            return blob
        history = tuple(Sibling(dot, decode_version(body)) for dot, body in kept)
        return encode_whole(replace(decode_state(blob), history=history))

    def _save(self, key: str, row: Stored | None, new: State, before: list[State]) -> bool:
        """Store ``new`` and file what it superseded into the key's kept rows: the write
        adds the versions that join the kept set and drops those that fall out, reading
        no other kept body. The fingerprint stays a function of state and kept set: the
        state's share XOR each kept version's, updated by the shares that came and went.
        False (and nothing written) when neither state nor kept set changed."""
        added, gone = history.refile(new, row.kept if row else (), before, self.view.versions)
        blob = encode_state(new)
        if row is not None and row.state == blob and not added and not gone:
            return False
        p = self.view.partition_of_key(key)
        kept = row.ehash ^ entry_hash(key, row.state) if row else 0  # the kept rows' share
        for s in added:
            body = encode_version(s.value)
            f = kept_hash(key, s.dot, body)
            self.store.keep_version(
                key, Kept(s.dot, s.value.mtime, s.value.write_id, s.value.deleted, f), body)
            kept ^= f
        for k in gone:
            self.store.drop_kept(key, k.dot)
            kept ^= k.fingerprint
        e = entry_hash(key, blob) ^ kept
        self.phash[p] = self.phash.get(p, 0) ^ (row.ehash if row else 0) ^ e
        self._dirty.add(p)
        self.store.put_state(key, p, blob, e)
        return True

    def _drop_chunk(self, chunk: bytes) -> None:
        p = self.view.partition_of_chunk(chunk)
        self.phash[p] = self.phash.get(p, 0) ^ chunk_entry_hash(chunk)
        self._dirty.add(p)
        self.store.drop_chunk(chunk)

    def _save_chunk(self, chunk: bytes, data: bytes) -> int:
        p = self.view.partition_of_chunk(chunk)
        self.phash[p] = self.phash.get(p, 0) ^ chunk_entry_hash(chunk)
        self._dirty.add(p)
        self.store.put_chunk(chunk, p, data, self.now())
        return p


def _partitions(ps: list[int]) -> str:
    """``partition 3`` or ``partitions 3, 7 and 9``."""
    if len(ps) == 1:
        return f"partition {ps[0]}"
    return f"partitions {', '.join(map(str, ps[:-1]))} and {ps[-1]}"


def diff(mine: dict[str | bytes, int], theirs: dict[str | bytes, int]
         ) -> tuple[list[str | bytes], list[str | bytes]]:
    """(what to pull from the peer, what to push to it) for one partition."""
    pull = [r for r, h in theirs.items() if mine.get(r) != h]
    push = [r for r, h in mine.items() if theirs.get(r) != h]
    return pull, push


def deps_of(state: State) -> list[Causal]:
    return [s.value.deps for s in state.siblings]
