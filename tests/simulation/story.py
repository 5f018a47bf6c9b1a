"""A directed run of the simulator: the same world, nodes, client and membership as a
seeded run, and the same invariants at every step and at the end, but the faults come
where a story puts them (``tests/simulation/stories.py``), so each story aims at one
rule and reads like one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from dwp.client import gc
from dwp.client.membership import Membership
from dwp.client.network import NetworkClient
from dwp.core.codec import State
from dwp.core.errors import DwpError, NotFound
from dwp.core.messages import Message
from dwp.core.token import Token
from dwp.core.view import View
from tests.simulation.checker import Ack, History, check
from tests.simulation.invariants import Watch
from tests.simulation.loop import VirtualLoop
from tests.simulation.world import Faults, SimLauncher, World, no_hook

GRACE = 20.0  # the garbage collection grace period stories run with
SETTLE = 30.0


@dataclass
class Reader:
    """A client of the story, with its own token (``check`` reads as each one)."""

    name: str
    token: Token = field(default_factory=Token)
    count: int = 0


class Died(BaseException):
    """A coordinator dies where a story says: nothing of its own cleans up after it."""


class Story:
    def __init__(self, nodes: int = 4, replicas: int = 2) -> None:
        self.world = World(0, nodes, replicas)
        self.world.faults = Faults(max_delay=0.005)
        self.history = History(self.world.lost, self.world.reaped)
        self.watch = Watch(self.world, self.history)
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualLoop)
        loop.on_step = self.watch.step
        self.readers: dict[str, Reader] = {}
        self.failures: list[str] = []
        self.log: list[str] = []

    # -- who does what --------------------------------------------------------------------

    @property
    def view(self) -> View:
        return self.world.client.view

    def owners(self, key: str, view: View | None = None) -> tuple[str, ...]:
        view = view or self.view
        return view.owners_of_partition(view.partition_of_key(key))

    def reader(self, name: str) -> Reader:
        return self.readers.setdefault(name, Reader(name))

    def say(self, text: str) -> None:
        self.log.append(f"t={self.now():.2f} {text}")

    @staticmethod
    def now() -> float:
        return asyncio.get_running_loop().time()

    async def put(self, who: str, key: str, text: str = "", at: str | None = None,
                  size: int = 0, client: NetworkClient | None = None) -> str | None:
        """``who`` writes ``key`` (with its token); answers the node that acknowledged it,
        or None if the write failed. ``size``: that many bytes (over 16 KiB: chunked)."""
        me = self.reader(who)
        me.count += 1
        body = (f"{who}-{me.count}-{text}|".encode() * (size or 1))[:max(size, 1)]
        if not size:
            body = f"{who}-{me.count}-{text}".encode()
        self.history.invoke(who, key, body)
        try:
            written = await (client or self.world.client).put(key, body, "text/plain",
                                                               me.token, replica=at)
        except DwpError as exc:
            self.say(f"{who} put {key}{f' at {at}' if at else ''}: {exc}")
            return None
        self.say(f"{who} put {key} at {written.node}: {written.state.context}")
        self.history.ack(Ack(who, key, body, written.state,
                             written.version.write_id if written.version else ""))
        me.token = written.token
        return written.node

    async def delete(self, who: str, key: str, at: str | None = None) -> str | None:
        me = self.reader(who)
        self.history.invoke(who, key, None)
        try:
            written = await self.world.client.delete(key, me.token, replica=at)
        except DwpError as exc:
            self.say(f"{who} delete {key}: {exc}")
            return None
        self.say(f"{who} delete {key} at {written.node}: {written.state.context}")
        self.history.ack(Ack(who, key, None, written.state))
        me.token = written.token
        return written.node

    async def get(self, who: str, key: str, at: str | None = None) -> State | None:
        """``who`` reads ``key`` with its token; None when it is not there or the read
        failed (the history judges which)."""
        me = self.reader(who)
        try:
            result = await self.world.client.get(key, me.token, replica=at)
        except NotFound as exc:
            self.say(f"{who} get {key}{f' at {at}' if at else ''}: not found")
            self.history.not_found(who, key, me.token, str(exc))
            return None
        except DwpError as exc:
            self.say(f"{who} get {key}{f' at {at}' if at else ''}: {exc}")
            return None
        self.say(f"{who} get {key} at {result.node}: {result.state.context}")
        self.history.read(who, key, me.token, result.state)
        me.token = result.token
        return result.state

    def cut(self, node: str, *others: str) -> None:
        """``node`` can no longer talk with ``others`` (the gateway still reaches all)."""
        self.world.faults.cut |= {frozenset((node, o)) for o in others if o != node}
        self.say(f"cut {node} from {', '.join(others)}")

    def heal(self) -> None:
        self.world.heal()
        self.world.faults.max_delay = 0.005
        self.say("healed")

    async def wait(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def collect(self) -> gc.Report:
        report = await gc.collect(self.world.client, grace=GRACE, now=self.now, timeout=2.0)
        self.say(f"gc: {report.chunks} chunks, {report.deleted_keys} deleted keys, "
                 f"skipped {report.skipped}")
        return report

    def expect(self, ok: bool, text: str) -> None:
        if not ok:
            self.failures.append(f"t={self.now():.2f} expected: {text}")

    def when(self, hook: Callable[[str, str, Message], Awaitable[None]]) -> None:
        """Run ``hook(sender, receiver, message)`` as each message leaves, before it is
        delivered (a hook that raises ``Died`` kills the sender's coordinator there)."""
        self.world.on_message = hook

    def gateway(self) -> tuple[NetworkClient, Membership]:
        """Another gateway, started now from the recorded view (its own coordinator)."""
        client = self.world.new_client()
        return client, Membership(client, SimLauncher(self.world),
                                  new_change_id=lambda: f"c{next(self.world.ids)}",
                                  drain_poll=0.2)

    async def change(self, work: Awaitable[View]) -> View | None:
        """A view change; None if it failed or its coordinator died (``Died``)."""
        try:
            view = await work
        except Died:
            self.say("the coordinator died")
            return None
        except DwpError as exc:
            self.say(f"the change failed: {exc}")
            return None
        self.say(f"now at epoch {view.epoch} ({view.change})")
        return view

    async def recover(self) -> View | None:
        self.world.restart_gateway()
        return await self.change(self.world.membership.recover())

    # -- the end ----------------------------------------------------------------------------

    async def finish(self) -> list[str]:
        """Heal, let the network settle, and check every invariant (those of every step
        were checked all along)."""
        self.world.on_message = no_hook
        self.heal()
        for _ in range(5):
            if await self.recover() is not None:
                break
            await self.wait(1.0)
        await self.wait(SETTLE)
        readers: list[Any] = list(self.readers.values())
        return (self.failures + self.watch.violations
                + await check(self.world, self.history, readers))


Tale = Callable[[Story], Awaitable[None]]
