"""Replicas of one shard driven by hand, with no event loop: messages move only when a
test says so, so partitions, crashes and disk loss play out in microseconds with no Ray,
no disk and no virtual clock. The unit tool for the sans-I/O ``Replica``; the rest of this
package runs the real node loop instead.

What moves a message is the core's own: ``dwp.core.answers.answer`` and the sessions of
``dwp.core.sessions``, and the replica's outbox and acks. ``drive`` and ``Shard.deliver`` do
for one step what ``dwp.node.loop.Node._drive`` and its send loop do over a transport; they
are written again here because the node's are coroutines that await its commit queue and
its transport (timeouts, retries, blocked peers), which a test stepping one message at a
time has none of. Each local operation commits in its own transaction, as the node's
commit queue would commit it in its next batch."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from dwp.core.answers import Local, answer
from dwp.core.history import DEFAULT_VERSIONS
from dwp.core.replica import Replica
from dwp.core.sessions import Session, sync
from dwp.core.store import MemoryStore
from dwp.core.version import Version, content_hash
from dwp.core.view import NodeSpec, View


def version(text: str, mtime: float = 0.0) -> Version:
    data = text.encode()
    return Version("text/plain", len(data), content_hash(data), mtime, data=data)


def commit(replica: Replica, op: Any) -> Any:
    with replica.transaction():
        return op(replica)


def drive(session: Session, here: Replica, there: Replica) -> Any:
    """Drive a session of ``here`` against ``there`` to its end; answers its result."""
    reply: Any = None
    while True:
        try:
            step = session.send(reply)
        except StopIteration as done:
            return done.value
        if isinstance(step, Local):
            reply = commit(here, step.op)
        else:
            reply = answer(there, step)
            if isinstance(reply, Local):
                reply = commit(there, reply.op)


@dataclass
class Shard:
    """Replicas of one shard; ``cut`` holds pairs that cannot talk."""

    size: int = 2
    versions: int = DEFAULT_VERSIONS
    view: View = field(init=False)
    stores: dict[str, MemoryStore] = field(default_factory=dict)
    replicas: dict[str, Replica] = field(default_factory=dict)
    cut: set[frozenset[str]] = field(default_factory=set)
    _inc: itertools.count = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        nodes = [NodeSpec(f"n{i}", f"h{i}") for i in range(1, self.size + 1)]
        self.view = View.create("sim", nodes, self.size, partitions=16,
                                versions=self.versions)
        for n in nodes:
            self.open(n.id, MemoryStore())

    def open(self, node: str, store: MemoryStore) -> Replica:
        """Start (or restart, or restart on a blank disk) a replica on ``store``."""
        self.stores[node] = store
        self.replicas[node] = Replica(node, self.view, store, lambda: f"i{next(self._inc)}",
                                      time.time)
        return self.replicas[node]

    def crash(self, node: str) -> Replica:
        return self.open(node, self.stores[node])

    def lose_disk(self, node: str) -> Replica:
        return self.open(node, MemoryStore())

    def __getitem__(self, node: str) -> Replica:
        return self.replicas[node]

    def write(self, node: str, key: str, text: str,
              context: dict[str, int] | None = None) -> dict[str, int]:
        state = commit(self.replicas[node], lambda r: r.write(key, version(text), context))
        return state.context

    def deliver(self, src: str, dst: str) -> None:
        """Send everything in src's outbox to dst, batch by batch, as its sender does."""
        if frozenset((src, dst)) in self.cut:
            return
        sender, receiver = self.replicas[src], self.replicas[dst]
        while (batch := sender.outbox_batch(dst)) is not None:
            commit(receiver, answer(receiver, batch.message).op)
            commit(sender, lambda r, b=batch: r.ack(dst, b.last_seq, b.upto))

    def deliver_all(self) -> None:
        for a, b in itertools.permutations(self.replicas, 2):
            self.deliver(a, b)

    def sync(self, a: str, b: str) -> None:
        """One anti-entropy round of a with b."""
        if frozenset((a, b)) in self.cut:
            return
        drive(sync(self.replicas[a], b), self.replicas[a], self.replicas[b])

    def values(self, node: str, key: str) -> list[str]:
        state = self.replicas[node].get(key)
        if state is None:
            return []
        return sorted((s.value.data or b"").decode() for s in state.siblings
                      if not s.value.deleted)

    def converged(self) -> bool:
        return len({r.digest() for r in self.replicas.values()}) == 1
