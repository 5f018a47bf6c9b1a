"""An in-memory shard of replicas: messages move only when a test says so, so
partitions, crashes and disk loss play out in microseconds with no Ray and no disk."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from dwp.replica import Replica, diff
from dwp.storage import MemoryStore
from dwp.version import Version, content_hash
from dwp.view import NodeSpec, View


def version(text: str, mtime: float = 0.0) -> Version:
    data = text.encode()
    return Version("text/plain", len(data), content_hash(data), mtime, data=data)


@dataclass
class Shard:
    """Replicas of one shard; ``cut`` holds pairs that cannot talk."""

    size: int = 2
    view: View = field(init=False)
    stores: dict[str, MemoryStore] = field(default_factory=dict)
    replicas: dict[str, Replica] = field(default_factory=dict)
    cut: set[frozenset[str]] = field(default_factory=set)
    _inc: itertools.count = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        nodes = [NodeSpec(f"n{i}", f"h{i}") for i in range(1, self.size + 1)]
        self.view = View.create("sim", nodes, self.size, partitions=16)
        for n in nodes:
            self.open(n.id, MemoryStore())

    def open(self, node: str, store: MemoryStore) -> Replica:
        """Start (or restart, or restart on a blank disk) a replica on ``store``."""
        self.stores[node] = store
        self.replicas[node] = Replica(node, self.view, store, lambda: f"i{next(self._inc)}")
        return self.replicas[node]

    def crash(self, node: str) -> Replica:
        return self.open(node, self.stores[node])

    def lose_disk(self, node: str) -> Replica:
        return self.open(node, MemoryStore())

    def __getitem__(self, node: str) -> Replica:
        return self.replicas[node]

    def write(self, node: str, key: str, text: str,
              context: dict[str, int] | None = None) -> dict[str, int]:
        r = self.replicas[node]
        with r.transaction():
            state = r.write(key, version(text), context)
        return state.context

    def deliver(self, src: str, dst: str) -> None:
        """Send everything in src's outbox to dst, as the node's sender loop does."""
        if frozenset((src, dst)) in self.cut:
            return
        while (batch := self.replicas[src].outbox_batch(dst)) is not None:
            with self.replicas[dst].transaction():
                self.replicas[dst].apply(batch.origin, batch.states, batch.chunks,
                                         batch.upto, batch.after)
            with self.replicas[src].transaction():
                self.replicas[src].ack(dst, batch.last_seq, batch.upto)

    def deliver_all(self) -> None:
        for a, b in itertools.permutations(self.replicas, 2):
            self.deliver(a, b)

    def sync(self, a: str, b: str) -> None:
        """One anti-entropy round of a with b, as the node runs it."""
        if frozenset((a, b)) in self.cut:
            return
        ra, rb = self.replicas[a], self.replicas[b]
        applied = rb.applied()
        theirs, mine = rb.partition_hashes(), ra.partition_hashes()
        for p in set(mine) | set(theirs):
            if mine.get(p) == theirs.get(p):
                continue
            pull, push = diff(ra.entries(p), rb.entries(p))
            while pull:
                states, chunks, pull = rb.export(pull)
                with ra.transaction():
                    ra.apply(None, states, chunks, None)
            while push:
                states, chunks, push = ra.export(push)
                with rb.transaction():
                    rb.apply(None, states, chunks, None)
        with ra.transaction():
            ra.learn(applied)

    def values(self, node: str, key: str) -> list[str]:
        state = self.replicas[node].get(key)
        if state is None:
            return []
        return sorted((s.value.data or b"").decode() for s in state.siblings
                      if not s.value.deleted)

    def converged(self) -> bool:
        return len({r.digest() for r in self.replicas.values()}) == 1
