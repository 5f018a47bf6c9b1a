"""View changes meeting faults, one scenario per defect they used to hit (issue: view
changes that never lose a write). Each runs the real node loop, client and membership in
the simulator's world on virtual time, with the faults placed by hand."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

import pytest

from dwp.client.membership import Membership
from dwp.client.network import NetworkClient
from dwp.core.errors import ChangeFailed, DwpError, NotOwner, Stale
from dwp.core.messages import Commit, Put
from dwp.core.rebalance import plan_join
from dwp.core.token import Token
from dwp.core.transport import Unreachable
from dwp.core.version import Version
from dwp.core.view import NodeSpec, View
from dwp.node.local_transport import LocalTransport
from tests.simulation.loop import run_virtual
from tests.simulation.shard import Shard, commit, version
from tests.simulation.world import SimLauncher, World

T = TypeVar("T")


def simulate(scenario: Callable[[World], Awaitable[T]], nodes: int = 4) -> T:
    async def main() -> T:
        return await scenario(World(1, nodes, 2))
    return run_virtual(main)


def key_in(view: View, shard: int, moving_to: View | None = None, skip: int = 0) -> str:
    """A key of ``shard`` (that ``moving_to`` gives to another shard, if given)."""
    found = 0
    for i in range(10_000):
        key = f"site/k{i}"
        p = view.partition_of_key(key)
        if view.shard_of_partition(p) != shard:
            continue
        if moving_to is not None and moving_to.shard_of_partition(p) == shard:
            continue
        if found == skip:
            return key
        found += 1
    raise AssertionError("no such key")


def test_a_write_queued_behind_a_commit_is_redirected_not_acknowledged() -> None:
    async def scenario(world: World) -> Any:
        view = world.recorded
        target = plan_join(view, NodeSpec("n6", "h6"))
        key = key_in(view, 0, moving_to=target)
        p = view.partition_of_key(key)
        node = world.nodes[next(n for n in view.shards[0]
                                if n not in target.owners_of_partition(p))]
        put = Put(key, version("v"), None)
        return await asyncio.gather(node.handle("gw", Commit(target.to_json())),
                                    node.handle("gw", put), return_exceptions=True)
    epoch, answer = simulate(scenario, nodes=5)
    assert epoch == 2 and isinstance(answer, NotOwner)


def test_writes_still_queued_between_old_owners_reach_the_new_owners() -> None:
    """n1 acknowledges writes while cut off from its shard-mate; the joiner copies from
    that shard-mate, which lacks them; n1 hands them over before it drops them."""
    async def scenario(world: World) -> tuple[list[bytes], list[str]]:
        view = world.recorded
        shard = next(s for s, m in view.shards.items() if len(m) == 2)
        a, b = view.shards[shard]
        target = plan_join(view, NodeSpec("n6", "h6"))
        keys = [key_in(view, shard, moving_to=target, skip=i) for i in range(5)]
        world.faults.cut = {frozenset((a, n)) for n in (b, "n5", "n6")}
        token = Token()
        for key in keys:
            token = (await world.client.put(key, key.encode(), "text/plain", token,
                                            replica=a)).token
        await world.membership.join("h6")
        world.heal()
        await asyncio.sleep(10)
        bodies = []
        for key in keys:
            result = await world.client.get(key, Token())
            assert result.winner is not None
            bodies.append(b"".join([p async for p in world.client.body(result.winner)]))
        assert not world.nodes[a].replica.held_unowned()
        return bodies, keys
    bodies, keys = simulate(scenario, nodes=5)
    assert bodies == [k.encode() for k in keys]


def test_an_aborted_join_leaves_every_node_on_the_committed_view() -> None:
    async def scenario(world: World) -> tuple[set[int], list[Any], int]:
        world.faults.cut = {frozenset(("n5", n)) for n in world.recorded.members}
        with pytest.raises(ChangeFailed):
            await world.membership.join("h5")
        world.heal()
        epochs = {n.replica.view.epoch for n in world.nodes.values()}
        pending = [n.replica.pending for n in world.nodes.values()]
        view = await world.membership.join("h6")
        return epochs, pending, view.epoch
    epochs, pending, epoch = simulate(scenario)
    assert epochs == {1} and pending == [None] * 4 and epoch == 2


def test_a_change_whose_coordinator_died_before_any_commit_is_rolled_back() -> None:
    async def scenario(world: World) -> tuple[set[tuple[int, str]], int]:
        task = asyncio.ensure_future(world.membership.join("h5"))
        while not all(n.replica.pending for i, n in world.nodes.items() if i != "n5"):
            await asyncio.sleep(0.001)
        task.cancel()
        world.restart_gateway()
        await world.membership.recover()
        views = {(n.replica.view.epoch, n.replica.pending is None)
                 for n in world.nodes.values()}
        return views, (await world.membership.join("h6")).epoch  # type: ignore[return-value]
    views, epoch = simulate(scenario)
    assert views == {(1, True)} and epoch == 2


def test_a_change_whose_coordinator_died_after_the_first_commit_is_finished() -> None:
    async def scenario(world: World) -> set[tuple[int, str]]:
        task = asyncio.ensure_future(world.membership.join("h5"))
        while not any(n.replica.view.epoch == 2 for n in world.nodes.values()):
            await asyncio.sleep(0.001)
        task.cancel()
        world.restart_gateway()
        view = await world.membership.recover()
        assert view.epoch == 2
        return {(n.replica.view.epoch, n.replica.view.change) for n in world.nodes.values()}
    views = simulate(scenario)
    assert len(views) == 1 and next(iter(views))[0] == 2


def test_a_leaving_node_that_missed_its_commit_runs_until_it_has_handed_off() -> None:
    """Cut off from every node but the gateway, and the commit of its removal lost: it
    still believes it owns its partitions (and may take writes in them), so it is not
    stopped until it has learned the view and handed them off (seed 18859 of the
    simulator: stopped at once, it never sealed them and tokens that had seen its
    writes were refused for good). Once it has, it ends by itself."""
    async def scenario(world: World) -> tuple[bool, list[str], list[bytes]]:
        view = world.recorded
        leaving = "n4"
        keys = [key_in(view, view.shard_of_node(leaving), skip=i) for i in range(3)]
        token = Token()
        for key in keys:
            token = (await world.client.put(key, key.encode(), "text/plain", token,
                                            replica=leaving)).token
        await asyncio.sleep(1)
        world.faults.cut = {frozenset((leaving, n)) for n in view.members if n != leaving}
        deliver = world.client.transport.call

        async def commit_lost_at_the_leaver(node: str, message: Any, timeout: float) -> Any:
            if node == leaving and isinstance(message, Commit):
                raise Unreachable(f"gateway -> {node}: no answer")
            return await deliver(node, message, timeout)
        world.client.transport.call = commit_lost_at_the_leaver  # type: ignore[method-assign]
        await world.membership.leave(leaving)
        still_running = leaving in world.nodes
        world.heal()
        await asyncio.sleep(10)
        bodies = []
        for key in keys:
            result = await world.client.get(key, token)
            bodies += [v.data for v in result.versions]
        return still_running and leaving not in world.nodes, keys, bodies  # it ended
    retired, keys, bodies = simulate(scenario)
    assert retired and bodies == [key.encode() for key in keys]


def test_a_node_that_lost_its_disk_before_handing_off_still_seals_what_it_held() -> None:
    """n5 moves to another shard and loses its disk before its hand-off reaches its old
    shard, so its new incarnation does not know it held anything there. A token that saw
    a write of the new incarnation must still read the old shard's keys (seed 3072 of
    the simulator: 503 for good), so the old shard asks n5 to hand off again."""
    async def scenario(world: World) -> list[str]:
        view = world.recorded
        mover = "n5"
        old_shard = view.shard_of_node(mover)
        keep = key_in(view, old_shard)
        others = [n for n in view.shards[old_shard] if n != mover]
        token = (await world.client.put(keep, b"kept", "text/plain", Token())).token
        await asyncio.sleep(1)  # at n5 too: nothing of its old shard is left to reach it
        world.faults.cut = {frozenset((mover, n)) for n in others}
        leaving = next(n for n in view.members if view.shard_of_node(n) != old_shard)
        target = await world.membership.leave(leaving)
        assert target.shard_of_node(mover) != old_shard
        world.lose_disk(mover)
        fresh = key_in(target, target.shard_of_node(mover))
        token = (await world.client.put(fresh, b"new", "text/plain", token,
                                        replica=mover)).token
        world.heal()
        await asyncio.sleep(15)
        result = await world.client.get(keep, token)
        return [v.data for v in result.versions]
    assert simulate(scenario, nodes=5) == [b"kept"]


def test_a_token_stays_satisfiable_after_its_keys_move_to_a_new_shard() -> None:
    """300 writes chained on one token, then 4 -> 6 nodes (2 -> 3 shards): every key
    reads back with the token, none is answered 'not yet received' for good."""
    async def scenario(world: World) -> list[str]:
        token = Token()
        for i in range(60):
            token = (await world.client.put(f"site/p{i}", b"x", "text/plain", token)).token
        await world.membership.join("h5")
        await world.membership.join("h6")
        await asyncio.sleep(5)
        stale = []
        for i in range(60):
            try:
                token = (await world.client.get(f"site/p{i}", token)).token
            except Stale:
                stale.append(f"site/p{i}")
        return stale
    assert simulate(scenario) == []


def test_a_delete_with_a_token_deletes_what_the_coordinator_has_not_received_yet() -> None:
    """x, then y, then delete x with the token, at a replica that has neither yet."""
    s = Shard()
    x = s.write("n1", "site/x", "x1")
    y = s.write("n1", "site/y", "y1")
    need = {s["n1"].id: max(x.values()) + max(y.values())}
    with s["n2"].transaction():
        state = s["n2"].delete("site/x", Version.tombstone(1.0, {}), None, need)
    s.deliver_all()
    assert state is not None and s.values("n1", "site/x") == [] == s.values("n2", "site/x")


def test_a_retried_write_adds_no_second_sibling() -> None:
    s = Shard()
    v = Version("text/plain", 1, b"h", 1.0, data=b"a", write_id="w1")
    for _ in range(3):
        with s["n1"].transaction():
            s["n1"].write("site/a", v, None)
    state = s["n1"].get("site/a")
    assert state is not None and len(state.siblings) == 1 and s["n1"].counter == 1


def test_a_blind_write_keeps_only_the_part_of_the_clients_past_it_may_lack() -> None:
    """A client's past names every replica it ever read from; stored whole in each key it
    wrote blind, it doubled the next token (over its size limit on about 160 shards)."""
    s = Shard()
    s.write("n1", "site/a", "a")
    s.deliver_all()
    lagging = s.write("n1", "site/b", "b")  # not yet at n2
    elsewhere = {f"n{i}.i1": 7 for i in range(100, 260)}  # never held this partition
    past = {**elsewhere, **lagging}
    state = commit(s["n2"], lambda r: r.write("site/b", version("c"), None, past))
    assert state.context == {**lagging, s["n2"].id: 1}


def test_a_write_retried_at_another_replica_is_one_sibling_once_both_meet() -> None:
    """The first answer was lost, so the client retried at the shard's next replica."""
    s = Shard()
    v = Version("text/plain", 1, b"h", 1.0, data=b"a", write_id="w1")
    for node in ("n1", "n2"):
        commit(s[node], lambda r: r.write("site/a", v, None))
    s.deliver_all()
    states = [s[n].get("site/a") for n in ("n1", "n2")]
    assert s.converged() and states[0] == states[1] and states[0] is not None
    assert [x.value for x in states[0].siblings] == [v]


def test_a_retried_delete_answers_what_its_first_attempt_did() -> None:
    s = Shard()
    s.write("n1", "site/a", "a")
    tombstone = replace(Version.tombstone(1.0, {}), write_id="d1")
    first, again = (commit(s["n1"], lambda r: r.delete("site/a", tombstone, None))
                    for _ in range(2))
    assert first is not None and again == first and s["n1"].counter == 2


def test_aborted_uploads_give_their_slots_back() -> None:
    async def failing_body() -> AsyncIterator[bytes]:
        yield b"x" * 200_000
        raise ConnectionResetError("the client went away")

    async def scenario(world: World) -> bytes:
        for _ in range(12):
            with pytest.raises(ConnectionResetError):
                await world.client.put("site/big", failing_body(), "text/plain", Token())
        written = await asyncio.wait_for(
            world.client.put("site/big", b"y" * 300_000, "text/plain", Token()), 60)
        assert written.version is not None
        return b"".join([p async for p in world.client.body(written.version)])
    assert simulate(scenario) == b"y" * 300_000


def test_a_chained_token_reads_everything_after_the_network_goes_4_5_6_5_6() -> None:
    """A writer chains its token while the network changes four times; after, it reads
    every key it wrote. Seals pass from holder to holder: a node that held a partition
    two moves ago must not make it unreadable (found as 503s on real Ray)."""
    async def scenario(world: World) -> tuple[int, list[str]]:
        token, acked, stop = Token(), [], asyncio.Event()

        async def writer() -> None:
            nonlocal token
            for i in range(10_000):
                if stop.is_set():
                    return
                with contextlib.suppress(DwpError):
                    body = b"x" * (150_000 if i % 7 == 0 else 20)
                    token = (await world.client.put(f"e2e/k{i}", body, "text/plain",
                                                    token)).token
                    acked.append(f"e2e/k{i}")
                await asyncio.sleep(0.01)
        task = asyncio.ensure_future(writer())
        await world.membership.join("h5")
        view = await world.membership.join("h6")
        await world.membership.leave(view.members[0])
        await world.membership.join("h7")
        stop.set()
        await task
        await asyncio.sleep(20)
        stale = []
        for key in acked:
            try:
                token = (await world.client.get(key, token)).token
            except DwpError:
                stale.append(key)
        return len(acked), stale
    count, stale = simulate(scenario)
    assert count > 50 and stale == []


def test_two_gateways_changing_at_once_commit_one_change_and_refuse_the_other() -> None:
    async def scenario(world: World) -> tuple[list[str], set[tuple[int, str]]]:
        other = Membership(world.new_client(), SimLauncher(world),
                           new_change_id=lambda: "other")
        results = await asyncio.gather(world.membership.join("h5"), other.join("h6"),
                                       return_exceptions=True)
        await world.membership.recover()
        await asyncio.sleep(5)
        outcome = sorted("committed" if isinstance(r, View) else type(r).__name__
                         for r in results)
        return outcome, {(n.replica.view.epoch, n.replica.view.change)
                         for n in world.nodes.values()}
    outcome, views = simulate(scenario)
    assert outcome == ["ChangeFailed", "committed"] and len(views) == 1


def test_a_client_tells_its_adopt_observer_of_each_view_it_adopts_and_no_other() -> None:
    view = View.create("t", [NodeSpec("n1", "h1"), NodeSpec("n2", "h2")], 2)
    client = NetworkClient(view, LocalTransport("gateway", {}), "secret")
    seen: list[View] = []
    client.on_adopt = seen.append
    newer = replace(view, epoch=2, change="c2")
    assert client.adopt(newer)
    assert not client.adopt(newer) and not client.adopt(view)
    assert seen == [newer]
