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
from dataclasses import dataclass

from dwp import clock
from dwp.clock import Dot, KeyState
from dwp.codec import Causal, State, chunk_entry_hash, decode_state, encode_state, entry_hash
from dwp.storage import KIND_CHUNK, KIND_KEY, Store
from dwp.version import Version
from dwp.view import View

MAX_BATCH_BYTES = 96 * 1024
MAX_BATCH_ITEMS = 512


Export = tuple[list[tuple[str, bytes]], list[tuple[bytes, bytes]], list[str | bytes]]


@dataclass(frozen=True)
class Batch:
    """What one peer should receive next from our outbox."""

    origin: str  # our replica id
    states: list[tuple[str, bytes]]
    chunks: list[tuple[bytes, bytes]]
    upto: int  # every dot of ours <= upto is covered once this batch is applied...
    after: int  # ...by a peer that already held every dot of ours <= after
    last_seq: int


class ForeignData(RuntimeError):
    """A node was pointed at another network's data; it refuses to mix them."""


def live(state: State) -> list[Version]:
    """Live siblings, winner first: the newest write, ties broken by dot, so every
    replica and every reader picks the same one."""
    ordered = sorted(state.siblings, key=lambda s: (s.value.mtime, s.dot), reverse=True)
    return [s.value for s in ordered if not s.value.deleted]


class Replica:
    def __init__(self, node_id: str, view: View, store: Store,
                 new_incarnation: Callable[[], str]) -> None:
        self.node_id = node_id
        self.store = store
        with store.transaction():
            if store.meta_get("replica_id") is None:
                store.meta_set("replica_id", f"{node_id}.{new_incarnation()}")
                store.meta_set("counter", "0")
                store.meta_set("seen", "{}")
            stored = store.meta_get("view")
            if stored is not None and View.from_json(stored).id != view.id:
                raise ForeignData(f"this data dir holds a replica of network "
                                  f"{View.from_json(stored).name!r} (id "
                                  f"{View.from_json(stored).id}), not of {view.id}")
            if stored is None or View.from_json(stored).epoch <= view.epoch:
                store.meta_set("view", view.to_json())
        self.reload()

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
        pending = self.store.meta_get("pending")
        self.pending: View | None = View.from_json(pending) if pending else None
        self._use(View.from_json(self.store.meta_get("view") or ""))
        self.publish()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One store transaction for a batch of operations. What readers see of this
        replica's progress (``applied``, ``digest``) moves only once it has committed, so
        a read never trusts a claim its store cannot yet show."""
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

    def _use(self, view: View) -> None:
        self.view = view
        self.shard: int | None = (view.shard_of_node(self.node_id)
                                  if view.has_node(self.node_id) else None)
        self.peers: tuple[str, ...] = view.peers(self.node_id) if self.shard is not None else ()
        self.owned: frozenset[int] = (view.partitions_of_shard(self.shard)
                                      if self.shard is not None else frozenset())

    # -- view changes: call inside store.transaction() --------------------------------

    def prepare(self, target: View) -> None:
        """From now until commit or abort, also queue writes for the target's owners."""
        self.pending = target
        self.store.meta_set("pending", target.to_json())

    def abort(self) -> None:
        self.pending = None
        self.store.meta_set("pending", "")

    def commit(self, view: View) -> bool:
        """Adopt a newer view; False (and no change) for one that is not newer."""
        if view.epoch <= self.view.epoch:
            return False
        self.store.meta_set("view", view.to_json())
        self.abort()
        self._use(view)
        return True

    def recipients(self, partition: int) -> list[str]:
        """Who must receive a write to ``partition``: peers, plus its owners-to-be."""
        out = list(self.peers)
        if self.pending is not None:
            out += [n for n in self.pending.owners_of_partition(partition)
                    if n != self.node_id and n not in out]
        return out

    def drop_unowned(self) -> int:
        """Forget partitions another shard now owns (after they were handed off)."""
        gone = [p for p in self.phash if p not in self.owned]
        for p in gone:
            self.store.drop_partition(p)
            self.phash.pop(p)
            self._dirty.add(p)
        return len(gone)

    # -- writes: call inside store.transaction() --------------------------------------

    def write(self, key: str, version: Version, context: dict[str, int] | None) -> State:
        """Coordinate a client write: issue a dot, store, and queue it for every peer."""
        self.counter += 1
        old, old_hash = self._load(key)
        new = clock.update(old or KeyState(), Dot(self.id, self.counter), version, context)
        p = self._save(key, old_hash, new)
        for peer in self.recipients(p):
            self.store.outbox_add(peer, KIND_KEY, key, self.counter)
        return new

    def delete(self, key: str, tombstone: Version, context: dict[str, int] | None
               ) -> State | None:
        """A tombstone write, or None (nothing written) when nothing is live here and the
        client has seen nothing more than this replica has: a client whose context
        covers a version this replica has not received yet still deletes it."""
        old, _ = self._load(key)
        if old is None or not live(old):
            seen_here = old.context if old is not None else {}
            if not context or clock.descends(seen_here, context):
                return None
        return self.write(key, tombstone, context)

    def put_chunk(self, chunk: bytes, data: bytes) -> None:
        if self.store.has_chunk(chunk):
            return
        p = self._save_chunk(chunk, data)
        for peer in self.recipients(p):
            self.store.outbox_add(peer, KIND_CHUNK, chunk, None)

    def apply(self, origin: str | None, states: Iterable[tuple[str, bytes]],
              chunks: Iterable[tuple[bytes, bytes]], upto: int | None,
              after: int | None = None) -> int:
        """Merge states and chunks from a peer; idempotent. Returns how many changed.

        The sender's claim ``upto`` is recorded only when this replica already holds what
        came before (``after``): a replica that lost its disk must not inherit the claims
        its predecessor earned, and waits for anti-entropy instead.
        """
        changed = 0
        for key, blob in states:
            old, old_hash = self._load(key)
            new = clock.merge(old, decode_state(blob)) if old else decode_state(blob)
            if old != new:
                self._save(key, old_hash, new)
                changed += 1
        for chunk, data in chunks:
            if not self.store.has_chunk(chunk):
                self._save_chunk(chunk, data)
                changed += 1
        if (origin is not None and upto is not None and after is not None
                and self.seen.get(origin, 0) >= after):
            self.learn({origin: upto})
        return changed

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
        return self._load(key)[0]

    def applied(self) -> dict[str, int]:
        """Every dot this replica holds and has committed, as a vector (its own counter
        included)."""
        return dict(self._visible_applied)

    def fresh(self, need: dict[str, int]) -> bool:
        return clock.descends(self.applied(), need)

    def outbox_batch(self, peer: str) -> Batch | None:
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
            if size >= MAX_BATCH_BYTES:
                break
        return Batch(self.id, list(states.items()), chunks, upto,
                     self.sent_upto.get(peer, 0), last_seq)

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
        return self.view.partition_of_key(key) in self.owned

    def entries(self, partition: int) -> dict[str | bytes, int]:
        return self.store.partition_entries(partition)

    def export(self, refs: list[str | bytes]) -> Export:
        """States and chunks a peer lacks, one message's worth, and the refs left over."""
        states: list[tuple[str, bytes]] = []
        chunks: list[tuple[bytes, bytes]] = []
        size = 0
        for i, ref in enumerate(refs):
            item = (self.store.get_state(ref) if isinstance(ref, str)
                    else self.store.get_chunk(ref))
            if item is None:
                continue
            if size and size + len(item) > MAX_BATCH_BYTES:
                return states, chunks, refs[i:]
            size += len(item)
            if isinstance(ref, str):
                states.append((ref, item))
            else:
                chunks.append((ref, item))
        return states, chunks, []

    # -- internals --------------------------------------------------------------------

    def _load(self, key: str) -> tuple[State | None, int]:
        """The key's state and its fingerprint (0 when absent)."""
        blob = self.store.get_state(key)
        if blob is None:
            return None, 0
        return decode_state(blob), entry_hash(key, blob)

    def _save(self, key: str, old_hash: int, new: State) -> int:
        p = self.view.partition_of_key(key)
        blob = encode_state(new)
        e = entry_hash(key, blob)
        self.phash[p] = self.phash.get(p, 0) ^ old_hash ^ e
        self._dirty.add(p)
        self.store.put_state(key, p, blob, e)
        return p

    def _save_chunk(self, chunk: bytes, data: bytes) -> int:
        p = self.view.partition_of_chunk(chunk)
        self.phash[p] = self.phash.get(p, 0) ^ chunk_entry_hash(chunk)
        self._dirty.add(p)
        self.store.put_chunk(chunk, p, data)
        return p


def diff(mine: dict[str | bytes, int], theirs: dict[str | bytes, int]
         ) -> tuple[list[str | bytes], list[str | bytes]]:
    """(what to pull from the peer, what to push to it) for one partition."""
    pull = [r for r, h in theirs.items() if mine.get(r) != h]
    push = [r for r, h in mine.items() if theirs.get(r) != h]
    return pull, push


def deps_of(state: State) -> list[Causal]:
    return [s.value.deps for s in state.siblings]
