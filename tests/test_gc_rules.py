"""The rules that keep garbage collection safe, each in a scenario on the simulator's
world (real node loop, client and membership on virtual time; faults placed by hand).
The world's network keeps 3 versions a key and lets deletes be reaped at once."""

from __future__ import annotations

import asyncio
import re

from dwp.client import gc
from dwp.client.network import NetworkClient
from dwp.core.errors import NotFound
from dwp.core.messages import Reap
from dwp.core.token import Token
from tests.simulation.world import SECRET, SimTransport, World
from tests.test_view_changes import key_in, simulate


def test_a_delete_is_not_reaped_while_a_shard_mate_may_still_hold_what_it_deleted() -> None:
    """n1 takes the delete while cut off from its shard-mate, which still holds the value:
    n1 keeps the tombstone until the shard-mate has it too, so the value never returns."""
    async def scenario(world: World) -> tuple[list[str], bool, bool, bool]:
        key = key_in(world.recorded, 0)
        a, b = world.recorded.shards[0]
        written = await world.client.put(key, b"the value", "text/plain", Token())
        await asyncio.sleep(3)  # replicated, and each side has heard the other's vector
        world.faults.cut = {frozenset((a, b))}
        await world.client.delete(key, written.token, replica=a)
        await asyncio.sleep(5)
        reaped_early = (await world.nodes[a].handle("gw", Reap("", [key]))).keys
        held = world.nodes[a].replica.get(key) is not None
        world.heal()
        await asyncio.sleep(5)  # anti-entropy: each side hears the other's vector
        await gc.collect(world.client, grace=0, now=asyncio.get_running_loop().time)
        gone = all(world.nodes[n].replica.get(key) is None for n in (a, b))
        try:
            await world.client.get(key, Token())
            came_back = True
        except NotFound:
            came_back = False
        return reaped_early, held, gone, came_back
    reaped_early, held, gone, came_back = simulate(scenario)
    assert (reaped_early, held) == ([], True)
    assert gone and not came_back


def test_a_round_begun_on_an_older_view_removes_nothing() -> None:
    """The gateway's view is behind the nodes' (a change it has not heard of): the mark
    would send members the named chunks of shards they no longer replicate."""
    async def scenario(world: World) -> tuple[gc.Report, int]:
        old = world.recorded
        for i in range(4):
            await world.client.put(f"site/big{i}", bytes([i]) * 100_000, "application/x",
                                   Token())
        await world.membership.join("h9")
        stale = NetworkClient(old, SimTransport(world, "gateway2"), SECRET)
        report = await gc.collect(stale, grace=0, now=asyncio.get_running_loop().time)
        chunks = sum(len(world.stores[n].chunks) for n in world.recorded.members)
        return report, chunks
    report, chunks = simulate(scenario)
    assert report.chunks == 0 and report.skipped and chunks > 0


def test_nothing_is_collected_while_a_node_outside_the_view_runs() -> None:
    """A joiner whose change is not decided holds copies the view does not account for
    (here: a node started on the view but in no shard, as a prepared joiner is)."""
    async def scenario(world: World) -> tuple[gc.Report, gc.Report]:
        token = Token()
        for i in range(5):  # 3 versions kept: the first two's chunks are garbage
            token = (await world.client.put("site/big", bytes([i]) * 100_000,
                                            "application/x", token)).token
        await asyncio.sleep(3)
        world.start(world.recorded.new_node_id(), world.recorded)
        now = asyncio.get_running_loop().time
        held_back = await gc.collect(world.client, grace=0, now=now)
        world.crash(world.recorded.new_node_id())
        return held_back, await gc.collect(world.client, grace=0, now=now)
    held_back, done = simulate(scenario)
    assert held_back.chunks == 0 and "runs outside the view" in held_back.skipped[0]
    assert done.chunks > 0 and done.skipped == []


def test_a_skipped_round_says_why_in_one_sentence() -> None:
    """A node left but is cut off from the new owners, so its hand-off waits: the round
    names who waits for whom, and for which partitions."""
    async def scenario(world: World) -> list[str]:
        await world.client.put("site/a", b"one", "text/plain", Token())
        leaving = world.recorded.shards[1][-1]
        world.faults.cut = {frozenset((leaving, n)) for n in world.recorded.members}
        await world.membership.leave(leaving)
        report = await gc.collect(world.client, grace=0, now=asyncio.get_running_loop().time,
                                  timeout=2.0)
        return report.skipped
    skipped = simulate(scenario)
    assert len(skipped) == 1, skipped
    assert re.fullmatch(r"No chunk was collected because n\d waits for n\d to hand off "
                        r"partitions [\d, ]+ and \d+, which n\d held before\.", skipped[0])
