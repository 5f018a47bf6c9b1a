"""Driving a view change to completion, or rolling it back, from any coordinator.

A change is a proposal: the target view with a unique ``change`` id and the next epoch.
1. every node of the committed view answers (else: an error naming the one that does
   not; nothing is changed);
2. prepare: each node records the proposal durably and refuses any other until it is
   decided; from now on it also queues its writes for the partitions' owners-to-be;
3. a joining node starts on the committed view (it owns nothing yet) and prepares too;
4. copy: each owner-to-be copies what it lacks from a live old owner;
5. commit: new owners first, then the rest; from the first commit on, the change is
   decided. Old owners keep a partition until its new owners hold all of it
   (``dwp.core.sessions.hand_off``), then drop it.
A failure in steps 1-4 aborts the proposal everywhere. A coordinator that dies leaves a
prepared proposal behind: whoever coordinates next (a restarted gateway, another
gateway, the next ``dwp network`` command) first calls ``recover``, which rolls it
forward if any node committed it and back only if every node involved answered.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol, TypeVar

from dwp.client.network import NetworkClient
from dwp.core.errors import ChangeFailed, ChangeRefused, DwpError
from dwp.core.messages import Abort, Commit, GetView, Import, Message, Prepare, ViewState
from dwp.core.rebalance import PlanError, Transfer, plan_join, plan_leave, transfers
from dwp.core.view import NodeSpec, View

log = logging.getLogger("dwp.client.membership")
STREAM_TIMEOUT = 900.0
DRAIN_TIMEOUT = 60.0
ASK_TIMEOUT = 5.0
R = TypeVar("R")


class Launcher(Protocol):
    """Starts and stops node actors on hosts, and records the committed view."""

    async def start(self, view: View, node_id: str, initial: View | None = None) -> None: ...
    async def stop(self, node_id: str) -> None: ...
    async def discard(self, view: View, node_id: str) -> None: ...
    def record(self, view: View) -> None: ...
    def local_host(self) -> str: ...


class Membership:
    def __init__(self, client: NetworkClient, launcher: Launcher,
                 new_change_id: Callable[[], str] = lambda: uuid.uuid4().hex[:12],
                 drain_poll: float = 0.5) -> None:
        self.client = client
        self.launcher = launcher
        self.new_change_id = new_change_id
        self.drain_poll = drain_poll
        self._lock = asyncio.Lock()

    async def join(self, host: str | None = None) -> View:
        """Add a node on ``host`` (this machine by default) and rebalance onto it."""
        async with self._lock:
            await self._recover()
            view = self.client.view
            node = NodeSpec(view.new_node_id(), host or self.launcher.local_host())
            target = self._plan(lambda v: plan_join(v, node))
            target = replace(target, next_node=int(node.id[1:]) + 1)
            return await self._change(target, joining=node.id)

    async def leave(self, node_id: str, force: bool = False) -> View:
        """Hand a node's data off and remove it; ``force`` for a node that is dead: it is
        recorded as removed, so nothing waits for its hand-off any more (collection and
        reaping go on), and it is refused if it answers."""
        async with self._lock:
            await self._recover()
            target = self._plan(lambda v: plan_leave(v, node_id))
            if force:
                await self._check_dead(node_id)
                target = replace(target, removed=target.removed | {node_id})
            gone = frozenset({node_id}) if force else frozenset()
            view = await self._change(target, unavailable=gone)
            if force:
                await self.launcher.stop(node_id)
            else:
                await self._wait_departed(node_id)
            return view

    async def recover(self) -> View:
        """Finish or undo whatever change a previous coordinator left prepared."""
        async with self._lock:
            return await self._recover()

    def _plan(self, plan: Callable[[View], View]) -> View:
        try:
            target = plan(self.client.view)
        except PlanError as exc:
            raise ChangeFailed(str(exc)) from exc
        return replace(target, change=self.new_change_id())

    async def _change(self, target: View, joining: str | None = None,
                      unavailable: frozenset[str] = frozenset()) -> View:
        old = self.client.view
        current = [n for n in old.members if n not in unavailable]
        try:
            moves = transfers(old, target, unavailable)
        except PlanError as exc:
            raise ChangeFailed(str(exc)) from exc
        await self._check_reachable(current)
        prepared: list[str] = []
        try:
            for node in current:
                prepared.append(node)  # a prepare whose answer was lost still counts
                await self._ask(node, Prepare(target.to_json()))
            if joining is not None:
                await self.launcher.start(target, joining, initial=old)
                await self._ask(joining, Prepare(target.to_json()))
            await asyncio.gather(*(self._stream(move) for move in moves))
        except Exception as exc:
            await self._abort(prepared, target, joining)
            if isinstance(exc, ChangeFailed):
                raise
            raise ChangeFailed(f"the change to epoch {target.epoch} failed and was rolled "
                               f"back: {exc}") from exc
        await self._commit(target, current)
        return target

    async def _ask(self, node: str, message: Message[R], timeout: float = ASK_TIMEOUT) -> R:
        """One message to a node, its failure said in words a person can act on."""
        try:
            return await self.client.ask(node, message, timeout)
        except ChangeRefused:
            raise
        except DwpError as exc:
            raise ChangeFailed(f"node {node}: {exc}") from exc

    async def _check_reachable(self, nodes: list[str]) -> None:
        infos = await asyncio.gather(*(self.client.node_info(n, ASK_TIMEOUT) for n in nodes))
        down = [n for n, info in zip(nodes, infos, strict=True) if info is None]
        if down:
            raise ChangeFailed(f"node {', '.join(down)} is unreachable; nothing was changed "
                               "(remove a dead node with force)")

    async def _check_dead(self, node_id: str) -> None:
        """A forced removal drops whatever the node holds that its shard-mates lack, so
        it is only for a node that is gone: one that answers is refused."""
        if await self.client.node_info(node_id, ASK_TIMEOUT) is not None:
            raise ChangeFailed(f"node {node_id} answers, so it is not removed by force: "
                               "let it leave without force, which hands its data off "
                               "first, or stop it and then remove it by force")

    async def _stream(self, move: Transfer) -> None:
        errors = []
        for source in move.sources:
            try:
                await self._ask(move.dest, Import(source, sorted(move.partitions),
                                                  move.whole_shard), STREAM_TIMEOUT)
                return
            except DwpError as exc:
                errors.append(f"from {source}: {exc}")
        raise ChangeFailed(f"node {move.dest} could not copy its data: " + "; ".join(errors))

    async def _commit(self, target: View, current: list[str]) -> None:
        """A witness first: a node of both views, so that if any node committed, one of
        the committed view's nodes did, and a coordinator that asks them all knows. Then
        new owners, so a node that refuses a write for a partition it gave up points the
        client at owners that already took it; then the rest."""
        members = list(target.members)
        staying = [n for n in current if n in members]
        witness = max(staying, key=lambda n: _gain(self.client.view, target, n))
        order = [witness] + [n for n in members if n not in current] + [
            n for n in current if n != witness]
        for node in order:
            try:
                await self._ask(node, Commit(target.to_json()))
            except DwpError as exc:
                log.warning("node %s missed epoch %d (%s); it will learn it from its peers",
                            node, target.epoch, exc)
        self.client.adopt(target)
        self.launcher.record(target)

    async def _abort(self, prepared: list[str], target: View, joining: str | None) -> None:
        """Joiners go first: while any node of the committed view still holds the
        proposal, a later ``recover`` finds it, and with it every node it added."""
        if joining is not None:
            await self.launcher.discard(target, joining)
        for node in prepared:
            try:
                await self._ask(node, Abort(target.change))
            except DwpError as exc:
                log.warning("abort at %s failed: %s", node, exc)

    async def _wait_departed(self, node_id: str) -> None:
        """Wait (bounded) for a leaving node to end: it does so by itself once it has
        committed its removal and handed off everything it held (``Replica.departed``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN_TIMEOUT
        while loop.time() < deadline:
            if await self.client.node_info(node_id) is None:
                return
            await asyncio.sleep(self.drain_poll)
        log.warning("node %s still held data after %.0fs; it keeps running until it has "
                    "handed it all off, then stops by itself", node_id, DRAIN_TIMEOUT)

    # -- recovery ---------------------------------------------------------------------

    async def _states(self, nodes: list[str]) -> dict[str, ViewState | None]:
        async def one(node: str) -> ViewState | None:
            try:
                state = await self.client.ask(node, GetView(), ASK_TIMEOUT)
            except DwpError:
                return None
            return state
        answers = await asyncio.gather(*(one(n) for n in nodes))
        return dict(zip(nodes, answers, strict=True))

    async def _recover(self) -> View:
        """Adopt the newest committed view any node holds; then roll each prepared
        proposal forward (some node committed it) or back (every node involved says it
        did not)."""
        while True:
            asked = list(self.client.view.members)  # a change is decided by these alone:
            states = await self._states(asked)  # any commit reaches one of them first
            best = max([self.client.view,
                        *(View.from_json(s.view) for s in states.values() if s)],
                       key=lambda v: v.epoch)
            if best.epoch == self.client.view.epoch:
                break
            for node in best.members:
                if node not in states:
                    await self.launcher.start(best, node)
            self.client.adopt(best)
        self.launcher.record(best)  # the client may have learned it from a node, unrecorded
        pending = _pending(states)
        extra = sorted({n for p in pending.values() for n in p.members} - set(asked))
        states |= await self._states(extra)
        pending = _pending(states)
        for change, proposal in sorted(pending.items()):
            if proposal.change == best.change:
                continue
            silent = [n for n in asked if states.get(n) is None]
            if silent:
                raise ChangeFailed(
                    f"change {change} (epoch {proposal.epoch}) is prepared but node "
                    f"{', '.join(sorted(silent))} does not answer, so it can be neither "
                    "finished nor undone yet; try again when it is back")
            log.warning("rolling back change %s (epoch %d)", change, proposal.epoch)
            for node in proposal.members:
                if node not in best.members and node not in asked:
                    await self.launcher.discard(proposal, node)
            if await self._undo(sorted(asked), proposal):
                best = await self._finish(proposal)
        behind = [n for n, s in states.items() if s and n in best.members
                  and View.from_json(s.view).epoch < best.epoch]
        for node in behind:
            try:
                await self._ask(node, Commit(best.to_json(), decided=True))
            except DwpError as exc:
                log.warning("node %s is still behind epoch %d: %s", node, best.epoch, exc)
        return best

    async def _undo(self, nodes: list[str], proposal: View) -> list[str]:
        """Abort a proposal at every node; answers those that had committed it already
        (its Commit was still on the wire when they were asked). The change is undone
        only once every node has answered: from then on each refuses its late Commit."""
        answers = await asyncio.gather(*(self._ask(n, Abort(proposal.change)) for n in nodes),
                                       return_exceptions=True)
        silent = [n for n, a in zip(nodes, answers, strict=True) if isinstance(a, BaseException)]
        if silent:
            raise ChangeFailed(
                f"change {proposal.change} (epoch {proposal.epoch}) is being rolled back but "
                f"node {', '.join(silent)} does not answer, so it is not undone yet; try "
                "again when it is back")
        return [n for n, undone in zip(nodes, answers, strict=True) if undone is False]

    async def _finish(self, proposal: View) -> View:
        """A node committed the proposal while it was being rolled back: it stands, so
        every node takes it (nodes it adds start afresh, as after a lost disk)."""
        log.warning("node(s) had committed change %s (epoch %d): finishing it instead",
                    proposal.change, proposal.epoch)
        old = self.client.view
        for node in proposal.members:
            if node not in old.members:
                await self.launcher.start(proposal, node)
        for node in dict.fromkeys([*proposal.members, *old.members]):  # leavers learn they left
            try:
                await self._ask(node, Commit(proposal.to_json(), decided=True))
            except DwpError as exc:
                log.warning("node %s is still behind epoch %d: %s", node, proposal.epoch, exc)
        self.client.adopt(proposal)
        self.launcher.record(proposal)
        return proposal


def _gain(old: View, new: View, node: str) -> int:
    """How many partitions a node of both views gains (negative: gives up) in ``new``."""
    mine = new.partitions_of_shard(new.shard_of_node(node))
    before = old.partitions_of_shard(old.shard_of_node(node))
    return len(mine - before) - len(before - mine)


def _pending(states: dict[str, ViewState | None]) -> dict[str, View]:
    out: dict[str, View] = {}
    for state in states.values():
        if state is not None and state.pending:
            proposal = View.from_json(state.pending)
            out[proposal.change] = proposal
    return out

