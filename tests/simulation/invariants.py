"""What must hold at every step of a simulated run, not only after the heal.

``Watch.step`` runs whenever the virtual clock is about to move (``VirtualLoop.on_step``:
everything due at one instant has run), so a window in which the network was wrong is
caught even if it closed before the end. At every step:
- identities: a node id is never given out again, and a replica that lost its disk
  comes back under a new replica id (so no dot is issued twice);
- views: two different committed views never share an epoch; every node, and the
  gateway, uses a committed view only, never an older one than it used before; every
  partition of every view in use has owners;
- acknowledged writes: some store (of a running or a crashed node) holds or has
  superseded each acknowledged write, unless every disk it was on when a disk was lost
  was that disk;
- chunks: every chunk that a version readable on a node names (current or kept, in a
  partition that node owns) is on some node's disk, unless the disks it was on were lost;
- retries: no replica holds one write (one write id) as two versions.
Reads are judged as they are answered (``checker.History.read``): each is explained by
the writes clients made, and is no older than what the reader's token had seen, its
causal past through other clients' writes included.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING

from dwp.core import clock
from dwp.core.clock import Dot, Sibling
from dwp.core.codec import State, decode_state, decode_version
from dwp.core.store import Kept, MemoryStore
from dwp.core.view import View

if TYPE_CHECKING:
    from tests.simulation.checker import History
    from tests.simulation.world import World

KeptRows = dict[Dot, tuple[Kept, bytes]]  # a key's kept versions in a MemoryStore

MAX_REPORTED = 20


class Watch:
    def __init__(self, world: World, history: History) -> None:
        self.world = world
        self.history = history
        self.violations: list[str] = []
        self.steps = 0
        self._said: set[str] = set()
        self._epochs: dict[str, int] = {}  # replica id, or gateway client -> newest epoch used
        self._views_checked: set[tuple[int, str]] = set()
        self._committed = 0  # committed views looked at so far
        self._used_last: tuple[object, ...] = ()  # the views in use at the last look
        self._named: dict[str, tuple[object, list[tuple[str, str, bytes]]]] = {}
        self._decoded: dict[tuple[int, int], tuple[bytes, KeptRows | None, State]] = {}
        self._disks: tuple[object, ...] = ()  # what the disks were at the last check
        self._acked = 0  # acks folded into ``_dots`` so far
        self._dots: dict[str, list[tuple[Dot, str]]] = {}  # key -> acknowledged dots
        self._disk_set: tuple[object, ...] = ()  # which disks there were at the last look
        self._store_changes: dict[str, int] = {}  # disk -> its change count at the last look
        self._rows: dict[tuple[str, str], object] = {}  # (disk, key) -> its row then
        self._reaped: dict[str, object] = {}  # key -> its reaped context then

    def step(self) -> None:
        self.steps += 1
        for breach in self.world.breaches:
            self.flag(breach)
        self._views()
        world = self.world
        disks = (tuple((n, id(s), s.changes) for n, s in world.stores.items()),
                 tuple(world.nodes), len(self.history.acks), len(world.lost.ranges))
        if disks != self._disks:  # nothing on any disk changed since the last step
            self._disks = disks
            self._acknowledged()
            self._chunks()

    def flag(self, text: str) -> None:
        if text in self._said or len(self.violations) >= MAX_REPORTED:
            return
        self._said.add(text)
        now = asyncio.get_running_loop().time()
        self.violations.append(f"t={now:.2f} (step {self.steps}) {text}")

    # -- views --------------------------------------------------------------------------

    def _views(self) -> None:
        world = self.world
        if len(world.committed) != self._committed:
            self._committed = len(world.committed)
            changes: dict[int, str] = {}
            for epoch, change in sorted(world.committed):
                if epoch in changes:
                    self.flag(f"two views committed at epoch {epoch}: {changes[epoch]} "
                              f"and {change}")
                changes[epoch] = change
        used = (tuple((n, id(node.replica.view)) for n, node in world.nodes.items()),
                id(world.client), id(world.client.view))
        if used == self._used_last:
            return  # no node or gateway took up another view since the last step
        self._used_last = used
        for node_id, node in sorted(world.nodes.items()):
            self._used(node_id, node.replica.id, node.replica.view)
        self._used("gateway", f"gateway@{id(world.client)}", world.client.view)

    def _used(self, who: str, key: str, view: View) -> None:
        if (view.epoch, view.change) not in self.world.committed:
            self.flag(f"{who} uses epoch {view.epoch} ({view.change}), which no "
                      "coordinator committed")
        before = self._epochs.get(key, 0)
        if view.epoch < before:
            self.flag(f"{who} went back from epoch {before} to {view.epoch}")
        self._epochs[key] = max(before, view.epoch)
        if (view.epoch, view.change) not in self._views_checked:
            self._views_checked.add((view.epoch, view.change))
            orphans = [p for p in range(view.partitions) if not view.owners_of_partition(p)]
            if orphans:
                self.flag(f"epoch {view.epoch} gives partitions {orphans} no owner")

    # -- acknowledged writes ------------------------------------------------------------

    def _acknowledged(self) -> None:
        acks = self.history.acks
        dirty = {ack.key for ack in acks[self._acked:]}
        for ack in acks[self._acked:]:
            mine = ([s for s in ack.state.siblings if s.value.deleted] if ack.body is None
                    else [s for s in ack.state.siblings
                          if ack.write_id and s.value.write_id == ack.write_id])
            self._dots.setdefault(ack.key, []).extend((s.dot, ack.client) for s in mine)
        self._acked = len(acks)
        world = self.world
        disks = (tuple(world.stores), tuple(map(id, world.stores.values())), len(world.lost.ranges))
        if disks != self._disk_set:  # a disk came or went: look at every key again
            self._disk_set, self._rows = disks, {}
            dirty = set(self._dots)
        for name, store in world.stores.items():
            if self._store_changes.get(name) == store.changes:
                continue
            self._store_changes[name] = store.changes
            for key in self._dots:
                row = store.states.get(key)
                if self._rows.get((name, key)) is not row:
                    self._rows[(name, key)] = row
                    dirty.add(key)
        for key in self._dots:
            if self._reaped.get(key) is not world.reaped.get(key):
                self._reaped[key] = world.reaped.get(key)
                dirty.add(key)
        for key in sorted(dirty):
            self._check_held(key)

    def _check_held(self, key: str) -> None:
        """Some disk holds or has superseded each acknowledged write of the key."""
        world = self.world
        held = dict(world.reaped.get(key, {}))
        for store in world.stores.values():
            state = self._state(store.states.get(key), store.kept.get(key))
            if state is not None:
                held = clock.join(held, state.context)
        for dot, client in self._dots.get(key, ()):
            if not clock.covers(held, dot) and not world.lost_with_disk(key, dot):
                self.flag(f"no disk holds {client}'s acknowledged write of {key} "
                          f"({dot.replica}:{dot.counter})")

    # -- chunks -------------------------------------------------------------------------

    def _chunks(self) -> None:
        world = self.world
        for node_id, node in sorted(world.nodes.items()):
            store = world.stores.get(node_id)
            if store is None:
                continue
            for key, version, chunk in self._readable(node_id, store, node.replica.owned):
                if chunk in world.lost_chunks or any(d.has_chunk(chunk)
                                                     for d in world.stores.values()):
                    continue
                self.flag(f"chunk {chunk.hex()[:12]} of {key} ({version}), readable on "
                          f"{node_id}, is on no disk")

    def _readable(self, node_id: str, store: MemoryStore, owned: frozenset[int]
                  ) -> list[tuple[str, str, bytes]]:
        """(key, version, chunk) for each chunk a version readable on the node names,
        looked at again only when its store or what it owns changed; and one write held
        as two versions is flagged as it is seen."""
        seen = (id(store), store.changes, id(owned))
        cached = self._named.get(node_id)
        if cached is not None and cached[0] == seen:
            return cached[1]
        named: list[tuple[str, str, bytes]] = []
        for key, row in store.states.items():
            state = self._state(row, store.kept.get(key)) if row[0] in owned else None
            if state is None:
                continue
            ids = [s.value.write_id for s in state.siblings if s.value.write_id]
            if len(ids) != len(set(ids)):
                self.flag(f"{node_id} holds one write of {key} as two versions: {ids}")
            named += [(key, f"{s.dot.replica}:{s.dot.counter}", chunk)
                      for s in (*state.siblings, *state.history) for chunk in s.value.chunks or ()]
        self._named[node_id] = (seen, named)
        return named

    def _state(self, row: tuple[int, bytes, int] | None, kept: KeptRows | None
               ) -> State | None:
        """A stored state, decoded once per stored blob."""
        if row is None:
            return None
        blob = row[1]
        ident = (id(blob), id(kept))
        cached = self._decoded.get(ident)
        if cached is not None and cached[0] is blob and cached[1] is kept:
            return cached[2]
        if len(self._decoded) > 50_000:
            self._decoded.clear()
        state = decode_state(blob)
        if kept:
            state = replace(state, history=tuple(
                Sibling(dot, decode_version(body)) for dot, (_, body) in sorted(kept.items())))
        self._decoded[ident] = (blob, kept, state)
        return state
