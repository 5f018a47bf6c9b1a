"""The simulated world: nodes, the network between them, and a launcher, all in one
process on virtual time. The nodes run the real node loop (``dwp.node.loop.Node``) over the
real replica core and the in-memory store; the gateway side runs the real
``NetworkClient`` and ``Membership``. Only the wires and the disks are simulated."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from random import Random
from typing import Any, TypeVar

from dwp.client.membership import Membership
from dwp.client.network import NetworkClient
from dwp.core import clock
from dwp.core.clock import Dot
from dwp.core.codec import State, decode_state
from dwp.core.messages import Message
from dwp.core.replica import Replica
from dwp.core.store import MemoryStore
from dwp.core.transport import Unreachable
from dwp.core.view import NodeSpec, View
from dwp.node.loop import PEER_MESSAGES, Node, NodeSettings
from tests.simulation.disk import WRITEBACK_SECONDS, LostWrites, commits_are_durable

SECRET = "simulated-network-secret"
SETTINGS = NodeSettings("sim", anti_entropy_interval=1.0, peer_timeout=1.0,
                        hand_off_interval=0.5)
R = TypeVar("R")
VERSIONS = 3  # few, so versions age out of history and their chunks become garbage


@dataclass
class Faults:
    """What the wires and nodes do now: cut links, how often a message or its reply is
    lost, how long a message takes, which nodes are slow (and by up to how much), how
    often a message is delivered twice (the copy late, after newer ones), and how often
    a node crashes after its commit but before its reply leaves."""

    cut: set[frozenset[str]] = field(default_factory=set)
    loss: float = 0.0
    max_delay: float = 0.01
    slow: dict[str, float] = field(default_factory=dict)
    duplicate: float = 0.0
    crash_before_reply: float = 0.0

    def cuts(self, a: str, b: str) -> bool:
        return frozenset((a, b)) in self.cut


class SimTransport:
    """Messages between simulated processes: delayed, lost, cut, duplicated or reordered
    as ``Faults`` says. A lost reply means the operation ran but its sender never heard
    back; so does a caller's timeout (a slow node goes on with what it was asked)."""

    def __init__(self, world: World, sender: str) -> None:
        self.world = world
        self.sender = sender

    async def call(self, node: str, message: Message[R], timeout: float) -> R:
        world = self.world  # its faults are read at each turn: a heal ends them at once
        await world.on_message(self.sender, node, message)
        await asyncio.sleep(world.rng.uniform(0, world.faults.max_delay))
        target = world.nodes.get(node)
        if (target is None or world.faults.cuts(self.sender, node)
                or world.rng.random() < world.faults.loss):
            await asyncio.sleep(timeout)
            raise Unreachable(f"{self.sender} -> {node}: no answer")
        if world.rng.random() < world.faults.duplicate:
            world.deliver_again(node, self.sender, message)
        work = asyncio.ensure_future(self._handle(target, message))
        world.in_flight.add(work)  # until it ends (never, if its node crashed meanwhile)
        work.add_done_callback(world.in_flight.discard)
        work.add_done_callback(_retrieve)
        try:
            reply = await asyncio.wait_for(asyncio.shield(work), timeout)
        except TimeoutError as exc:
            raise Unreachable(f"{self.sender} -> {node}: timed out") from exc
        if (world.nodes.get(node) is target
                and world.rng.random() < world.faults.crash_before_reply):
            world.crash_for(node, world.rng.uniform(0.3, 2.0))
            raise Unreachable(f"{node} crashed after its commit, before replying")
        if world.nodes.get(node) is not target or world.rng.random() < world.faults.loss:
            raise Unreachable(f"{self.sender} -> {node}: the reply was lost")
        await asyncio.sleep(world.rng.uniform(0, world.faults.max_delay))
        return reply

    async def _handle(self, target: Node, message: Message[R]) -> R:
        slow = self.world.faults.slow.get(target.node_id, 0.0)
        if slow:
            await asyncio.sleep(self.world.rng.uniform(0, slow))
        return await target.handle(self.sender, message)


def _retrieve(task: asyncio.Future[Any]) -> None:
    """An answer nobody waits for any more (the caller timed out) is dropped quietly."""
    if not task.cancelled():
        task.exception()


def _view_id(view: View) -> tuple[int, str]:
    return view.epoch, view.change


class World:
    def __init__(self, seed: int, nodes: int, replicas: int, partitions: int = 16) -> None:
        self.rng = Random(seed)
        self.faults = Faults()
        self.stores: dict[str, MemoryStore] = {}
        self.nodes: dict[str, Node] = {}
        self.incarnations = itertools.count(1)
        self.ids = itertools.count(1)
        specs = [NodeSpec(f"n{i}", f"h{i}") for i in range(1, nodes + 1)]
        self.recorded = View.create("sim", specs, replicas, partitions, network_id="sim",
                                    versions=VERSIONS, keep_deleted_days=0)
        self.committed: set[tuple[int, str]] = {_view_id(self.recorded)}
        self.adopted: set[tuple[int, str]] = set()
        self.wiped: set[str] = set()  # replica ids whose disk was lost
        self.lost = LostWrites()
        self.lost_chunks: set[bytes] = set()  # chunks only a lost disk had
        self.reaped: dict[str, dict[str, int]] = {}  # key -> contexts of reaped deletes
        self.pending_copies: set[asyncio.Future[None]] = set()
        self.durable = commits_are_durable()  # as a real node's SQLite store is set up
        self.on_message: Callable[[str, str, Message], Awaitable[None]] = no_hook
        self.in_flight: set[asyncio.Future[Any]] = set()
        self.departed: set[str] = set()  # node ids that left for good
        self.breaches: list[str] = []  # rules seen broken as processes start
        for spec in specs:
            self.start(spec.id, self.recorded)
        if not self.durable:
            self.pending_copies.add(asyncio.ensure_future(self.write_back()))
        self.client = self.new_client()
        self.membership = Membership(self.client, SimLauncher(self),
                                     new_change_id=lambda: f"c{next(self.ids)}",
                                     drain_poll=0.2)

    def new_client(self) -> NetworkClient:
        """A gateway's client, as a restarted gateway builds it from the recorded view."""
        loop = asyncio.get_event_loop()
        client = NetworkClient(self.recorded, SimTransport(self, "gateway"), SECRET,
                               call_timeout=2.0, read_wait=0.5, read_cache_ttl=0.0,
                               new_write_id=lambda: f"w{next(self.ids)}",
                               clock=loop.time, wall_clock=loop.time)
        client.on_adopt = self._note_adopted
        return client

    def restart_gateway(self) -> None:
        self.client = self.new_client()
        self.membership = Membership(self.client, SimLauncher(self),
                                     new_change_id=lambda: f"c{next(self.ids)}",
                                     drain_poll=0.2)

    # -- processes ----------------------------------------------------------------------

    def start(self, node_id: str, view: View) -> Node:
        store = self.stores.setdefault(node_id, MemoryStore(sync_on_commit=self.durable))
        replica = Replica(node_id, view, store, lambda: f"i{next(self.incarnations)}",
                          now=asyncio.get_event_loop().time)
        if replica.id in self.wiped:
            self.breaches.append(f"{node_id} came back from a lost disk as {replica.id}, "
                                 "the replica id its lost disk had: its dots are reissued")
        if node_id in self.departed:
            self.breaches.append(f"node id {node_id} was given out again after it left")
        replica.on_reap = self._note_reaped
        replica.on_commit = self._note_committed
        node = Node(replica, SimTransport(self, node_id), SETTINGS, _inline,
                    lambda: self.depart(node_id))
        node.start()
        self.nodes[node_id] = node
        return node

    def _note_adopted(self, view: View) -> None:
        self.adopted.add(_view_id(view))

    def _note_committed(self, view: View) -> None:
        """A view is committed once a node commits it: not as a coordinator sends its
        Commit (one that dies with it on the wire committed nothing), nor where a node
        refuses it."""
        self.committed.add(_view_id(view))

    def _note_reaped(self, key: str, state: State) -> None:
        """Remember what each reaped delete had superseded: none of it may come back."""
        self.reaped[key] = clock.join(self.reaped.get(key, {}), state.context)

    def depart(self, node_id: str, left: bool = True) -> None:
        """A node that left ends its process for good once it has handed off (``left``
        False: a joiner whose change was rolled back, whose id may be given out again)."""
        self.crash(node_id)
        self.stores.pop(node_id, None)
        if left:
            self.departed.add(node_id)

    def crash(self, node_id: str) -> None:
        node = self.nodes.pop(node_id, None)
        if node is not None:
            node.stop()

    def restart(self, node_id: str) -> None:
        if node_id not in self.nodes and node_id in self.stores:
            self.start(node_id, self.recorded)

    def revive(self, node_id: str, store: MemoryStore, view: View) -> Node:
        """A node removed by force comes back after all, on its old disk and its old
        view (it has not heard of its removal)."""
        self.stores[node_id] = store
        self.departed.discard(node_id)
        node = self.start(node_id, view)
        self.departed.add(node_id)
        return node

    def crash_for(self, node_id: str, seconds: float) -> None:
        """A crash, and the process back (on the same disk) after ``seconds``."""
        self.crash(node_id)
        asyncio.get_running_loop().call_later(seconds, self.restart, node_id)

    def power_loss(self, node_id: str, seconds: float) -> None:
        """The host loses power: the node crashes and its disk keeps only what was synced
        (everything, when commits sync before they return)."""
        self.crash_for(node_id, seconds)
        if node_id in self.stores:
            self.stores[node_id].lose_unsynced()

    async def write_back(self) -> None:
        """The OS writes unsynced pages back now and then (only matters when commits do
        not sync by themselves)."""
        while True:
            await asyncio.sleep(WRITEBACK_SECONDS)
            for store in self.stores.values():
                store.sync()

    def deliver_again(self, node: str, sender: str, message: Message) -> None:
        """A copy of a message delivered once more: a peer's message late (after newer
        ones), anything else right after the first (a retry of a call whose answer was
        lost); its answer goes nowhere."""
        late = isinstance(message, PEER_MESSAGES)
        delay = self.rng.uniform(0.0, 2.0) if late else 0.0

        async def again() -> None:
            await asyncio.sleep(delay)
            target = self.nodes.get(node)
            if target is not None and not self.faults.cuts(sender, node):
                with contextlib.suppress(Exception):
                    await target.handle(sender, message)
        copy = asyncio.ensure_future(again())
        self.pending_copies.add(copy)
        copy.add_done_callback(self.pending_copies.discard)

    def lose_disk(self, node_id: str) -> None:
        """The node dies and comes back on an empty store (a new incarnation)."""
        if node_id not in self.stores:
            return
        self.crash(node_id)
        old = self.stores.pop(node_id)
        replica_id = old.meta.get("replica_id")
        if replica_id:
            self.wiped.add(replica_id)
        self._note_lost(old)
        self.start(node_id, self.recorded)

    def _note_lost(self, gone: MemoryStore) -> None:
        """What of each key only this disk had seen: every other store, running or not,
        still has what its state of the key covers."""
        for key, (_, blob, _) in gone.states.items():
            kept = [decode_state(b).context for s in self.stores.values()
                    if (b := s.get_state(key)) is not None]
            for replica, upto in decode_state(blob).context.items():
                after = max((k.get(replica, 0) for k in kept), default=0)
                if after < upto:
                    self.lost.add(key, replica, after, upto)
        self.lost_chunks |= {c for c in gone.chunks
                             if not any(s.has_chunk(c) for s in self.stores.values())}

    def lost_with_disk(self, key: str, dot: Dot) -> bool:
        """The write was held only by disks that were then lost (all of its copies)."""
        return self.lost.dot(key, dot)

    def heal(self) -> None:
        self.faults = Faults()
        for node_id in sorted(self.stores):
            self.restart(node_id)


async def no_hook(sender: str, node: str, message: Message) -> None:
    """What happens as a message leaves: nothing, unless a run or a story says."""


async def _inline(fn: Any) -> Any:
    return fn()


class SimLauncher:
    def __init__(self, world: World) -> None:
        self.world = world

    def local_host(self) -> str:
        return "h0"

    async def start(self, view: View, node_id: str, initial: View | None = None) -> None:
        if node_id not in self.world.nodes:
            self.world.start(node_id, initial or view)

    async def stop(self, node_id: str) -> None:
        self.world.depart(node_id)

    async def discard(self, view: View, node_id: str) -> None:
        self.world.depart(node_id, left=False)

    def record(self, view: View) -> None:
        self.world.recorded = view
