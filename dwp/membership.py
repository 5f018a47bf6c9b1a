"""Driving a view change to completion, or rolling it back cleanly.

The steps, each finished before the next starts:
1. check that every node the change involves answers (else: an error naming it);
2. start the joining node's actor, with the target view;
3. prepare: every current node also queues its writes for the partitions' owners-to-be;
4. stream: each node of the target pulls what it lacks from a live old owner;
5. commit: every node adopts the target view (new owners first); the client follows.
A failure in steps 1-4 aborts the change everywhere and leaves the old view in force; a
node that misses step 5 learns the view from its peers' anti-entropy rounds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from dwp.client import NetworkClient
from dwp.errors import ChangeFailed
from dwp.rebalance import PlanError, Transfer, plan_join, plan_leave, transfers
from dwp.view import NodeSpec, View

log = logging.getLogger("dwp.membership")
STREAM_TIMEOUT = 900.0
DRAIN_TIMEOUT = 60.0


class Launcher(Protocol):
    """Starts and stops node actors on Ray hosts, and records the view on disk."""

    async def start(self, view: View, node_id: str) -> None: ...
    async def stop(self, node_id: str) -> None: ...
    async def discard(self, view: View, node_id: str) -> None: ...
    def record(self, view: View) -> None: ...
    def local_host(self) -> str: ...


class Membership:
    def __init__(self, client: NetworkClient, launcher: Launcher) -> None:
        self.client = client
        self.launcher = launcher
        self._lock = asyncio.Lock()

    def _next_id(self) -> str:
        taken = {n.id for n in self.client.view.nodes}
        return next(f"n{i}" for i in range(1, len(taken) + 2) if f"n{i}" not in taken)

    async def join(self, host: str | None = None) -> View:
        """Add a node on ``host`` (this machine by default) and rebalance onto it."""
        async with self._lock:
            node = NodeSpec(self._next_id(), host or self.launcher.local_host())
            target = self._plan(lambda v: plan_join(v, node))
            return await self._change(target, joining=node.id)

    async def leave(self, node_id: str, force: bool = False) -> View:
        """Hand a node's data off and remove it; ``force`` for a node that is dead."""
        async with self._lock:
            target = self._plan(lambda v: plan_leave(v, node_id))
            gone = frozenset({node_id}) if force else frozenset()
            view = await self._change(target, unavailable=gone)
            if not force:
                await self._drain(node_id)
            await self.launcher.stop(node_id)
            return view

    def _plan(self, plan: Callable[[View], View]) -> View:
        try:
            return plan(self.client.view)
        except PlanError as exc:
            raise ChangeFailed(str(exc)) from exc

    async def _change(self, target: View, joining: str | None = None,
                      unavailable: frozenset[str] = frozenset()) -> View:
        old = self.client.view
        current = [n.id for n in old.nodes if n.id not in unavailable]
        try:
            moves = transfers(old, target, unavailable)
        except PlanError as exc:
            raise ChangeFailed(str(exc)) from exc
        await self._check_reachable(current)
        prepared: list[str] = []
        try:
            if joining is not None:
                await self.launcher.start(target, joining)
            for node in current:
                await self.client.call(node, "prepare", target.to_json())
                prepared.append(node)
            await asyncio.gather(*(self._stream(move) for move in moves))
        except Exception as exc:
            await self._abort(prepared, target, joining)
            if isinstance(exc, ChangeFailed):
                raise
            raise ChangeFailed(f"the change to epoch {target.epoch} failed and was rolled "
                               f"back: {exc}") from exc
        await self._commit(target, current, joining)
        return target

    async def _check_reachable(self, nodes: list[str]) -> None:
        infos = await asyncio.gather(*(self.client.node_info(n, 5.0) for n in nodes))
        down = [n for n, info in zip(nodes, infos, strict=True) if info is None]
        if down:
            raise ChangeFailed(f"node {', '.join(down)} is unreachable; nothing was changed "
                               "(remove a dead node with force)")

    async def _stream(self, move: Transfer) -> None:
        errors = []
        for source in move.sources:
            try:
                await self.client.call(move.dest, "import_partitions", source,
                                       sorted(move.partitions), move.whole_shard,
                                       timeout=STREAM_TIMEOUT)
                return
            except Exception as exc:
                errors.append(f"from {source}: {exc}")
        raise ChangeFailed(f"node {move.dest} could not copy its data: " + "; ".join(errors))

    async def _commit(self, target: View, current: list[str], joining: str | None) -> None:
        members = [n for m in target.shards.values() for n in m]
        order = [n for n in members if n not in current] + [
            n for n in current if n in members] + [n for n in current if n not in members]
        for node in order:
            try:
                await self.client.call(node, "commit", target.to_json())
            except Exception as exc:
                log.warning("node %s missed epoch %d (%s); it will learn it from its peers",
                            node, target.epoch, exc)
        self.client.adopt(target)
        self.launcher.record(target)

    async def _abort(self, prepared: list[str], target: View, joining: str | None) -> None:
        for node in prepared:
            try:
                await self.client.call(node, "abort")
            except Exception as exc:
                log.warning("abort at %s failed: %s", node, exc)
        if joining is not None:
            await self.launcher.discard(target, joining)

    async def _drain(self, node_id: str) -> None:
        """Wait (bounded) until a leaving node has sent what it queued for others."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN_TIMEOUT
        while loop.time() < deadline:
            info = await self.client.node_info(node_id)
            if info is None or not any(info["outbox"].values()):
                return
            await asyncio.sleep(0.5)
        log.warning("node %s still had queued writes after %.0fs; anti-entropy will "
                    "repair them", node_id, DRAIN_TIMEOUT)
