"""Directed scenarios: one story per rule of docs/architecture.md, each told in the
order things happen and each failing when its rule is broken (the rule mutants in
``tests/mutants`` show that they do). Every story runs on the simulator's world with
its invariants checked at every step, then heals, settles and is checked as a seeded
run is. ``python -m tests.simulation --story NAME -v`` tells one with its log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from dwp.core import clock
from dwp.core.messages import (
    Abort,
    AeEntries,
    AeExport,
    AePartitions,
    AeRoot,
    AeSynced,
    Commit,
    HandOff,
    Message,
    Prepare,
    Put,
    Replicate,
)
from dwp.core.rebalance import plan_join
from dwp.core.token import Token
from dwp.core.view import NodeSpec, View
from tests.simulation.loop import run_virtual
from tests.simulation.story import GRACE, Died, Story, Tale

STORIES: dict[str, Tale] = {}
ANTI_ENTROPY = (AeRoot, AePartitions, AeEntries, AeExport)


def story(tale: Tale) -> Tale:
    STORIES[tale.__name__] = tale
    return tale


def _key_owned_by(s: Story, shard: int, prefix: str = "site/") -> str:
    """A key whose partition belongs to ``shard`` now."""
    return next(k for i in range(1000) if s.view.owners[s.view.partition_of_key(
        k := f"{prefix}k{i}")] == shard)


# -- a view is either committed or invisible ------------------------------------------


@story
async def a_prepared_view_stays_invisible(s: Story) -> None:
    """join; every node prepares and the joiner copies; the coordinator dies before any
    commit; clients read, write and collect meanwhile; the next coordinator rolls it
    back; a second join commits epoch 2. No node or gateway ever uses the proposal."""
    await s.put("c1", "site/a", "one")

    async def die_before_commit(sender: str, node: str, message: Message) -> None:
        if isinstance(message, Commit):
            raise Died
    s.when(die_before_commit)
    await s.change(s.world.membership.join("h9"))
    s.when(_quiet)
    await s.put("c1", "site/a", "two")
    await s.get("c2", "site/a")
    await s.collect()
    await s.wait(3.0)
    rolled_back = await s.recover()
    s.expect(rolled_back is not None and rolled_back.epoch == 1, "the change rolled back")
    await s.change(s.world.membership.join("h9"))
    s.expect(s.view.epoch == 2, "the second join committed epoch 2")
    await s.get("c1", "site/a")


@story
async def two_coordinators_commit_one_change(s: Story) -> None:
    """Two gateways each add a node at the same moment: one change commits, the other is
    refused, and no epoch ever names two views."""
    await s.put("c1", "site/a", "one")
    _, first = s.gateway()
    _, second = s.gateway()
    await asyncio.gather(s.change(first.join("h8")), s.change(second.join("h9")))
    await s.put("c1", "site/a", "two")


# -- decided at the first commit --------------------------------------------------------


@story
async def a_change_some_node_committed_is_finished(s: Story) -> None:
    """join; the coordinator commits on one node and dies; the next coordinator must
    roll the change forward (a node holds it committed), never back; then one more join."""
    await s.put("c1", "site/a", "one")
    s.when(_die_after_one_commit([]))
    await s.change(s.world.membership.join("h9"))
    s.when(_quiet)
    view = await s.recover()
    s.expect(view is not None and view.epoch == 2, "the change was rolled forward")
    await s.change(s.world.membership.join("h10"))
    await s.put("c1", "site/a", "two")
    await s.get("c2", "site/a")


@story
async def a_change_is_not_undone_while_a_node_is_silent(s: Story) -> None:
    """join; the coordinator commits on the witness alone and dies; the witness is cut off
    from the next coordinator, which must wait rather than roll back (every other node,
    the joiner too, still holds the proposal); once it is back, the change is finished
    and a second join follows."""
    witness: list[str] = []
    s.when(_die_after_one_commit(witness))
    await s.change(s.world.membership.join("h9"))
    s.when(_quiet)
    s.world.restart_gateway()
    for node in witness:
        s.world.crash(node)  # down while the next coordinator looks
    refused = await s.change(s.world.membership.recover())
    s.expect(refused is None, "recover waited for the silent witness")
    undone = [n for n, node in s.world.nodes.items() if node.replica.pending is None]
    s.expect(not undone, f"nothing was undone while the witness was silent: {undone} "
             "no longer hold the proposal")
    for node in witness:
        s.world.restart(node)
    view = await s.recover()
    s.expect(view is not None and view.epoch == 2, "then finished the change")
    await s.change(s.world.membership.join("h10"))


@story
async def a_commit_that_never_arrived_is_undone(s: Story) -> None:
    """join; the coordinator dies while its first Commit is on the wire, so no node ever
    gets it; the next coordinator hears every node and rolls the change back, and the
    next join takes the same epoch: a Commit that never arrived committed nothing."""
    await s.put("c1", "site/a", "one")
    await _die_with_a_commit_on_the_wire(s)
    view = await s.recover()
    s.expect(view is not None and view.epoch == 1, "the change was rolled back")
    await _the_next_join_takes_the_epoch(s)


@story
async def a_late_commit_of_a_rolled_back_change_is_refused(s: Story) -> None:
    """join; the coordinator dies while its first Commit is on the wire; the next
    coordinator hears every node, rolls the change back and joins another node at the
    same epoch; the old Commit arrives only once its node prepared the new proposal,
    and must be refused there: one epoch, one view."""
    await s.put("c1", "site/a", "one")
    held = [await _die_with_a_commit_on_the_wire(s)]
    view = await s.recover()
    s.expect(view is not None and view.epoch == 1, "the change was rolled back")
    late: list[asyncio.Future[None]] = []

    async def arrive(node: str, message: Message) -> None:
        await asyncio.sleep(0.05)  # after the Prepare, before the new change commits
        epoch = await s.world.client.transport.call(node, message, 5.0)
        s.say(f"the old Commit reached {node}, which is at epoch {epoch}")

    async def commit_arrives_after_prepare(sender: str, node: str, message: Message) -> None:
        if isinstance(message, Prepare) and node == held[0][0] and not late:
            late.append(asyncio.ensure_future(arrive(*held[0])))
    s.when(commit_arrives_after_prepare)
    view = await s.change(s.world.membership.join("h10"))
    await asyncio.gather(*late)
    s.expect(view is not None and view.epoch == 2, "the next join took the epoch")
    await s.put("c1", "site/a", "two")
    await s.get("c2", "site/a")


@story
async def a_commit_that_arrives_after_its_abort_is_refused(s: Story) -> None:
    """join; the coordinator dies while its first Commit is on the wire; the next
    coordinator hears every node and rolls the change back; the old Commit arrives
    after the Abort, before any other change: the node must refuse it, and the next
    join takes the epoch."""
    await s.put("c1", "site/a", "one")
    held = await _die_with_a_commit_on_the_wire(s)
    view = await s.recover()
    s.expect(view is not None and view.epoch == 1, "the change was rolled back")
    node, commit = held
    epoch = await s.world.client.transport.call(node, commit, 5.0)
    s.say(f"the old Commit reached {node}, which is at epoch {epoch}")
    s.expect(epoch == 1, f"{node} refused the Commit of a change rolled back")
    await _the_next_join_takes_the_epoch(s)


@story
async def a_commit_that_lands_as_its_change_is_rolled_back_is_finished(s: Story) -> None:
    """join; the coordinator dies while its first Commit is on the wire; the next
    coordinator hears every node (none committed) and starts to roll the change back,
    but the old Commit reaches its node just before that node's Abort: the node keeps
    it, says so, and the change is finished instead, everywhere; one more join follows."""
    await s.put("c1", "site/a", "one")
    node, commit = await _die_with_a_commit_on_the_wire(s)

    async def commit_lands_before_abort(sender: str, to: str, message: Message) -> None:
        if isinstance(message, Abort) and to == node:
            s.when(_quiet)
            epoch = await s.world.client.transport.call(node, commit, 5.0)
            s.say(f"the old Commit reached {node} before its Abort: epoch {epoch}")
    s.when(commit_lands_before_abort)
    view = await s.recover()
    s.when(_quiet)
    s.expect(view is not None and view.epoch == 2, "the change was finished")
    view = await s.change(s.world.membership.join("h10"))
    s.expect(view is not None and view.epoch == 3, "the next join followed it")
    await s.put("c1", "site/a", "two")
    await s.get("c2", "site/a")


async def _the_next_join_takes_the_epoch(s: Story) -> None:
    """After a rollback, a join commits epoch 2, and a write and a read go through."""
    view = await s.change(s.world.membership.join("h10"))
    s.expect(view is not None and view.epoch == 2, "the next join took the epoch")
    await s.put("c1", "site/a", "two")
    await s.get("c2", "site/a")


async def _die_with_a_commit_on_the_wire(s: Story) -> tuple[str, Message]:
    """Start a join whose coordinator dies as it sends its first Commit: answers that
    Commit and the node it was for, to be delivered late."""
    coordinator: list[asyncio.Future[View]] = []
    held: list[tuple[str, Message]] = []

    async def die(sender: str, node: str, message: Message) -> None:
        if isinstance(message, Commit) and not held:
            held.append((node, message))
            asyncio.get_running_loop().call_soon(coordinator[0].cancel)
    s.when(die)
    coordinator.append(asyncio.ensure_future(s.world.membership.join("h9")))
    await asyncio.wait(coordinator)
    s.say(f"the coordinator died; its Commit for {held[0][0]} is still on the wire")
    s.when(_quiet)
    return held[0]


# -- ownership is checked where the write is applied ---------------------------------


@story
async def a_write_to_a_partition_given_up_is_redirected(s: Story) -> None:
    """A gateway that missed two joins writes to a node that gave the key's partition
    up and handed it off: the write is redirected to the new owners, so a read with the
    writer's token at a new owner sees it at once."""
    keys = [f"site/r{i}" for i in range(16)]
    for key in keys:
        await s.put("c1", key, "one")
    before = {k: s.owners(k) for k in keys}
    stale, _ = s.gateway()  # started before the changes: it routes by epoch 1
    await s.change(s.world.membership.join("h8"))
    await s.change(s.world.membership.join("h9"))
    await s.wait(5.0)  # hand-offs done
    moved = [k for k in keys if not set(before[k]) & set(s.owners(k))]
    s.expect(bool(moved), "some partition moved to the new shard")
    for key in moved[:3]:
        await s.put("c1", key, "two", client=stale, at=before[key][0])
        for node in s.owners(key):
            await s.get("c1", key, at=node)


# -- an old owner drops a partition only after every new owner holds all of it ---------


@story
async def a_partition_is_dropped_only_once_every_new_owner_has_it(s: Story) -> None:
    """leave Y, an owner of key k's partition: two nodes, A and B, become new owners.
    As the commit begins, Y writes k while cut off from its shard-mate X and from B, and
    A from both; A gets the write. Y must keep the partition until B holds it too: A then
    loses its disk,
    and after the heal every owner answers k with Y's write, from Y's disk (B, before it
    has the write, makes the reader wait rather than answer without it)."""
    key = _key_owned_by(s, 1)
    x, y = s.owners(key)
    await s.put("c1", key, "before")
    await s.wait(2.0)
    target_owners: list[str] = []
    cut_off: list[str] = []
    writes: list[asyncio.Future[str | None]] = []

    async def at_first_commit(sender: str, node: str, message: Message) -> None:
        if isinstance(message, Commit) and not writes:
            view = _view_of(message)
            target_owners.extend(s.owners(key, view))
            b = [n for n in target_owners if n not in (x, y)][-1]
            cut_off.append(b)
            s.cut(y, x, b)
            s.cut(b, *[n for n in target_owners if n != b])
            s.cut(x, *[n for n in target_owners if n not in (x, b)])
            writes.append(asyncio.ensure_future(s.put("c1", key, "during", at=y)))
    s.when(at_first_commit)
    await s.change(s.world.membership.leave(y))
    s.when(_quiet)
    s.expect(bool(writes) and writes[0].done() and writes[0].result() == y,
             f"the write during the change was acknowledged by {y}")
    during = s.history.acks[-1].state.context
    await s.wait(5.0)
    await s.get("c1", key, at=cut_off[0])  # B has not got Y's write: it must wait (503)
    a = next(n for n in target_owners if n not in (x, y, cut_off[0]))
    s.world.lose_disk(a)  # Y's write is now on Y's disk alone, until B has it
    s.heal()
    await s.wait(15.0)
    for node in target_owners:
        state = await s.get("c1", key, at=node)
        s.expect(state is not None and clock.descends(state.context, during),
                 f"{node} answers Y's write, which A's lost disk did not take with it")


@story
async def a_partition_that_changed_during_its_hand_off_is_kept(s: Story) -> None:
    """Y writes k while cut off from its shard-mate X; two joins move k's partition to a
    new shard {A, B}, which copies it from X. X hands it off to the (slow) new owners;
    meanwhile Y's write reaches X. X's hand-off began before the write arrived, so X
    must keep the partition and hand off again: A and B answer k with the writer's
    token while Y is still cut off from them."""
    two_joins = plan_join(replace(plan_join(s.view, NodeSpec("n5", "h9")), next_node=6),
                          NodeSpec("n6", "h10"))
    key = next(k for k in (f"site/h{i}" for i in range(1000))
               if set(two_joins.owners_of_partition(two_joins.partition_of_key(k)))
               == {"n5", "n6"})
    x, y = s.owners(key)
    await s.put("c1", key, "first")
    await s.wait(2.0)
    s.cut(x, y)
    s.cut(y, "n5", "n6")
    await s.put("c1", key, "only at y", at=y)
    await s.change(s.world.membership.join("h9"))
    await s.change(s.world.membership.join("h10"))
    s.world.faults.slow.update({"n5": 0.9, "n6": 0.9})  # each hand-off takes seconds
    s.world.faults.cut.discard(frozenset((x, y)))
    await s.wait(10.0)  # Y's outbox reached X, in the middle of one of X's hand-offs
    for node in ("n5", "n6"):
        read = await s.get("c1", key, at=node)
        s.expect(read is not None, f"{node} answers {key} with Y's write, which X handed off")


# -- hand-offs pass on the seals they received -----------------------------------------


@story
async def a_partition_that_moves_twice_stays_readable(s: Story) -> None:
    """leave Y while Y is cut off from every node, having just written keys of its
    shard: its hand-offs wait. Then a join moves some of those partitions on to a new
    shard, copied from nodes Y has not handed off to yet. After the heal Y hands off, and
    the nodes that gave those partitions up hand off in turn, passing Y's seal on: every
    owner of every key answers it with the writer's token."""
    keys = [f"site/m{i}" for i in range(24)]
    for key in keys:
        await s.put("c1", key, "first")
    y = s.view.shards[1][-1]
    mine = [k for k in keys if y in s.owners(k)]
    started: list[bool] = []

    async def at_first_commit(sender: str, node: str, message: Message) -> None:
        if isinstance(message, Commit) and not started:
            started.append(True)
            s.cut(y, *[n for n in s.world.nodes if n != y])
            await asyncio.gather(*(s.put("c1", k, "from y", at=y) for k in mine))
    s.when(at_first_commit)
    await s.change(s.world.membership.leave(y))
    s.when(_quiet)
    await s.change(s.world.membership.join("h9"))
    await s.change(s.world.membership.join("h10"))
    await s.wait(3.0)
    s.heal()
    await s.wait(20.0)
    for key in mine:
        for node in s.owners(key):
            await s.get("c1", key, at=node)
    report = await s.collect()
    s.expect(not report.skipped, f"collection runs once every hand-off is done: "
             f"{report.skipped}")


@story
async def a_partition_that_moves_away_and_back_lets_collection_run(s: Story) -> None:
    """Two joins make a third shard and move partitions to it; the second joiner leaves
    and the third shard is dissolved, so partitions go back where they were. Their old
    holders now include their owners themselves: collection must still run."""
    for i in range(16):
        await s.put("c1", f"site/b{i}", "one")
    await s.change(s.world.membership.join("h8"))
    await s.change(s.world.membership.join("h9"))
    await s.change(s.world.membership.leave(s.view.members[-1]))
    await s.wait(10.0)
    report = await s.collect()
    s.expect(not report.skipped, f"collection runs once every hand-off is done: "
             f"{report.skipped}")


@story
async def a_seal_that_comes_after_a_copy_reaches_the_copier(s: Story) -> None:
    """A join moves Y into a new shard: Y hands off the partitions it gave up to their
    owners X, but its seals are held up until the next change commits. That change is
    Y's leave, and it makes A an owner of those partitions, copied from X before Y's
    seals reach X. Y then drops them and ends: it never hands them off to A, which must
    learn Y's seals from X by anti-entropy, or it waits for Y for ever and collection
    never runs again."""
    for i in range(16):
        await s.put("c1", f"site/s{i}", "one")
    await s.change(s.world.membership.join("h8"))
    await s.wait(3.0)
    grown = plan_join(s.view, NodeSpec(f"n{s.view.next_node}", "h9"))
    y = next(n for n in grown.shards[max(grown.shards)] if n in s.view.members)
    held: list[int] = []
    left = asyncio.Event()

    async def hold_y_seals(sender: str, node: str, message: Message) -> None:
        if isinstance(message, Commit) and y not in _view_of(message).members:
            left.set()
        elif isinstance(message, HandOff) and sender == y and not left.is_set():
            held.append(message.partition)
            await left.wait()
    s.when(hold_y_seals)
    await s.change(s.world.membership.join("h9"))
    await s.wait(1.0)  # Y's hand-off has begun; its seals wait
    await s.change(s.world.membership.leave(y))
    s.when(_quiet)
    s.expect(bool(held), f"{y}'s seals were held until its leave committed")
    await s.wait(10.0)
    s.expect(y not in s.world.nodes, f"{y} handed everything off and ended")
    report = await s.collect()
    s.expect(not report.skipped, f"collection runs once every hand-off is done: "
             f"{report.skipped}")


@story
async def a_seal_reaches_a_new_shard_only_by_hand_off(s: Story) -> None:
    """A join puts J in the other shard; Y leaves and J moves into Y's shard in its
    place, so X (Y's shard-mate) and J await Y's seals, which are held up. Two more
    joins make a new shard of two nodes that never shared a partition with Y, X or J,
    and some of the partitions Y held move to it, copied from X or J before Y's seals
    reach them. Then the seals arrive, Y ends (it never learns of the new shard), and X
    and J hand those partitions on: only their hand-offs can tell the new owners that Y
    sealed them (no shard-mate of theirs ever had the seal), or they wait for Y for
    ever and collection never runs again."""
    await _seals_held_while_a_new_shard_forms(s, until_handed_on=False)


@story
async def a_seal_that_comes_after_the_hand_off_follows_it(s: Story) -> None:
    """As above, but Y's seals are held until X and J have handed the moved partitions
    on to the new shard and dropped them: a seal that reaches a holder after it handed
    a partition on must follow it there, or the new owners wait for Y for ever."""
    await _seals_held_while_a_new_shard_forms(s, until_handed_on=True)


async def _seals_held_while_a_new_shard_forms(s: Story, until_handed_on: bool) -> None:
    for i in range(16):
        await s.put("c1", f"site/h{i}", "one")
    y = s.view.shards[1][0]
    await s.change(s.world.membership.join("h8"))
    grown = s.view
    release = asyncio.Event()
    held: list[int] = []

    async def hold_y_seals(sender: str, node: str, message: Message) -> None:
        if (isinstance(message, Commit) and not until_handed_on
                and len(_view_of(message).shards) > len(grown.shards)):
            release.set()
        elif isinstance(message, HandOff) and sender == y and not release.is_set():
            held.append(message.partition)
            await release.wait()
    s.when(hold_y_seals)
    await s.change(s.world.membership.leave(y))
    left = s.view
    await s.change(s.world.membership.join("h9"))
    await s.change(s.world.membership.join("h10"))
    newest = max(s.view.shards)
    moved = [p for p in s.view.partitions_of_shard(newest)
             if grown.owners[p] == grown.shard_of_node(y)]
    if until_handed_on:
        await s.wait(10.0)
        still = {n: sorted(set(moved) & set(s.world.nodes[n].replica.held_unowned()))
                 for n in left.members if n in s.world.nodes}
        s.expect(not any(still.values()), f"the moved partitions were handed on: {still}")
        release.set()
    s.when(_quiet)
    s.expect(bool(held), f"{y}'s seals were held up")
    s.expect(bool(moved) and not set(s.view.shards[newest]) & set(left.members),
             f"partitions {y} held moved to a shard of new nodes: {s.view.shards}")
    await s.wait(10.0)
    s.expect(y not in s.world.nodes, f"{y} handed everything off and ended")
    report = await s.collect()
    s.expect(not report.skipped, f"collection runs once every hand-off is done: "
             f"{report.skipped}")


# -- claims follow data -------------------------------------------------------------------


@story
async def a_replica_that_lost_its_disk_vouches_for_nothing_it_lacks(s: Story) -> None:
    """Y loses its disk; X writes a second key of the shard, and its outbox batch to Y
    carries a claim. Y holds neither key's first write, so a read of the first key at Y
    with the writer's token must wait (503), never answer 'not found'."""
    first = _key_owned_by(s, 0)
    second = next(k for k in (f"site/z{i}" for i in range(1000))
                  if s.view.partition_of_key(k) != s.view.partition_of_key(first)
                  and s.view.owners[s.view.partition_of_key(k)] == 0)
    x, y = s.owners(first)
    await s.put("c1", first, "one", at=x)
    await s.wait(2.0)
    rounds = Hold(lambda sender, node, message: {sender, node} == {x, y} and isinstance(
        message, (*ANTI_ENTROPY, AeSynced)))
    s.when(rounds)
    s.world.lose_disk(y)
    s.world.wiped.clear()  # judge Y's answers as if nothing could excuse them
    s.world.lost.clear()
    await s.put("c1", second, "two", at=x)
    await s.wait(0.2)  # the batch reached Y; no anti-entropy round gave it the first
    await s.get("c1", first, at=y)
    await s.get("c1", second, at=y)
    rounds.release()


@story
async def a_new_owner_that_lost_its_disk_vouches_for_no_old_holder(s: Story) -> None:
    """X writes k; two joins move k's partition to a new shard {A, B}, which copies it
    and is handed it off. B loses its disk: until anti-entropy gives it A's data and
    lineage, a read of k at B with the writer's token must wait, never answer 'not
    found' for a write of X, which held the partition before."""
    keys = [f"site/d{i}" for i in range(16)]
    for key in keys:
        await s.put("c1", key, "one")
    before = {k: s.owners(k) for k in keys}
    await s.change(s.world.membership.join("h8"))
    await s.change(s.world.membership.join("h9"))
    await s.wait(5.0)  # handed off and sealed
    moved = [k for k in keys if not set(before[k]) & set(s.owners(k))]
    s.expect(bool(moved), "some partition moved to the new shard")
    b = s.owners(moved[0])[-1]
    s.world.lose_disk(b)
    for key in moved:
        await s.get("c1", key, at=b)


@story
async def a_write_passed_on_by_anti_entropy_alone_outlives_its_writers_disk(s: Story) -> None:
    """X's outbox batch of k never reaches Y, and Y's own rounds with X are held back:
    only X's anti-entropy rounds bring Y the write. Then X loses its disk, and with it
    the outbox that would have told Y. A read of k at Y with the writer's token must
    answer the write, not wait for ever ("replica behind") for one Y already holds."""
    key = _key_owned_by(s, 0)
    x, y = s.owners(key)
    writer = s.world.nodes[x].replica.id
    outbox = Hold(lambda sender, node, message: (sender, node) == (x, y) and isinstance(
        message, Replicate) and message.origin == writer)  # gone with X's disk: never let go
    y_rounds = Hold(lambda sender, node, message: (sender, node) == (y, x)
                    and isinstance(message, AeRoot))

    async def only_x_rounds(sender: str, node: str, message: Message) -> None:
        await outbox(sender, node, message)
        await y_rounds(sender, node, message)
    s.when(only_x_rounds)
    await s.put("c1", key, "one", at=x)
    await s.wait(4.0)  # X's rounds pushed k to Y
    s.world.lose_disk(x)
    y_rounds.release()
    state = await s.get("c1", key, at=y)
    s.expect(state is not None, f"{y} answers the write of {key} it got from {x}'s rounds")


@story
async def a_late_word_of_a_round_does_not_vouch_for_a_disk_lost_since(s: Story) -> None:
    """X's anti-entropy round ends by telling Y that Y now holds all X had applied; that
    word is held back until Y has lost its disk. The blank Y must not take it: a read of
    k at Y with the writer's token waits, never answers 'not found'."""
    key = _key_owned_by(s, 0)
    x, y = s.owners(key)
    word = Hold(lambda sender, node, message: (sender, node) == (x, y)
                and isinstance(message, AeSynced))
    await s.put("c1", key, "one", at=x)
    await s.wait(3.0)  # replicated, and rounds have run
    s.when(word)
    await s.wait(3.0)  # X's next round's last word is held
    s.world.lose_disk(y)
    word.release()
    await s.wait(0.01)
    await s.get("c1", key, at=y)


@story
async def a_token_read_waits_for_what_the_token_names(s: Story) -> None:
    """X writes while cut off from Y; a read at Y with the writer's token must wait and
    answer 503, never the older value or 'not found'; after the heal it answers."""
    key = _key_owned_by(s, 0)
    x, y = s.owners(key)
    await s.put("c1", key, "one", at=x)
    await s.wait(2.0)
    s.cut(x, y)
    await s.put("c1", key, "two", at=x)
    await s.put("c1", "site/new", "three", at=None)
    await s.get("c1", key, at=y)
    s.heal()
    await s.wait(3.0)
    await s.get("c1", key, at=y)


# -- retries are idempotent ----------------------------------------------------------------


@story
async def a_retried_write_is_one_version(s: Story) -> None:
    """Writes whose node crashes after its commit, before its answer, are retried at the
    shard-mate (cut off from the first, so it has not seen them); messages are also
    delivered twice. Wherever the copies meet, each write is one version."""
    key = _key_owned_by(s, 0)
    x, y = s.owners(key)
    await s.put("c1", key, "one")
    await s.wait(2.0)
    s.cut(x, y)
    s.world.faults.crash_before_reply = 1.0
    await s.put("c1", key, "two", at=None)
    s.world.faults.crash_before_reply = 0.0
    s.world.faults.duplicate = 1.0
    await s.put("c1", key, "three")  # with c1's context: a second copy would be a sibling
    await s.put("c2", "site/other", "four")
    s.world.faults.duplicate = 0.0
    await s.wait(3.0)
    s.heal()
    await s.wait(5.0)
    for node in (x, y):
        await s.get("c3", key, at=node)


# -- durability -------------------------------------------------------------------------------


@story
async def an_acknowledged_write_survives_a_power_loss(s: Story) -> None:
    """X acknowledges writes while cut off from Y, then loses power; its disk must hold
    every write it acknowledged (a commit is synced before its answer)."""
    key = _key_owned_by(s, 0)
    x, y = s.owners(key)
    s.cut(x, y)
    for i in range(3):
        await s.put("c1", key, f"v{i}", at=x)
    s.world.power_loss(x, 1.0)
    await s.wait(2.0)
    s.heal()
    await s.wait(3.0)
    await s.get("c1", key)


# -- node ids and incarnations ----------------------------------------------------------------


@story
async def ids_are_never_given_out_twice(s: Story) -> None:
    """A node leaves and another joins: the joiner gets a new id. A node that loses its
    disk comes back under a new replica id, and writes again without reissuing a dot."""
    key = _key_owned_by(s, 0)
    x = s.owners(key)[0]
    await s.put("c1", key, "one", at=x)
    await s.wait(2.0)
    s.world.lose_disk(x)
    await s.put("c2", key, "two", at=x)
    last = s.view.members[-1]
    await s.change(s.world.membership.leave(last))
    await s.change(s.world.membership.join("h9"))
    s.expect(last not in s.view.members, f"{last} stays gone")


# -- a leaving node ends only once it has handed everything off --------------------------------


@story
async def a_leaving_node_runs_until_it_has_handed_off(s: Story) -> None:
    """Y writes keys while cut off from every node, then leaves: it must keep running
    until the heal lets it hand those writes off."""
    keys = [f"site/l{i}" for i in range(12)]
    y = s.view.shards[0][-1]
    mine = [k for k in keys if y in s.owners(k)]
    s.cut(y, *[n for n in s.world.nodes if n != y])
    for key in mine:
        await s.put("c1", key, "only on y", at=y)
    await s.change(s.world.membership.leave(y))
    await s.wait(5.0)
    s.heal()
    await s.wait(10.0)
    for key in mine:
        await s.get("c1", key)


# -- a forced removal lets the network go on ------------------------------------------


@story
async def a_forced_removal_lets_collection_and_reaping_go_on(s: Story) -> None:
    """Chunked values are written, replaced (the first ones age out of history) and some
    deleted. Removing Y by force while it answers is refused. Y dies, having just sent
    one more write (whose delivery it had not recorded), and is removed by force: the
    key is then deleted, and once the grace period is over a round reclaims chunks and
    reaps deletes, skipping nothing. Then Y comes back on its old disk: its peers refuse
    what it sends, it learns it was removed and ends, and nothing reaped comes back."""
    y = s.view.shards[1][-1]
    keys = [f"site/f{i}" for i in range(8)]
    for i in range(4):
        for key in keys:
            await s.put("c1", key, f"v{i}", size=40_000 if i == 0 else 0)
    for key in keys[:4]:
        await s.delete("c1", key)
    late = next(k for k in keys[4:] if y in s.owners(k))
    await s.wait(3.0)
    refused = await s.change(s.world.membership.leave(y, force=True))
    s.expect(refused is None and y in s.view.members, f"{y}, which answers, stays")
    await s.put("c2", late, "from y", at=y)
    await s.wait(0.1)  # delivered to its shard-mate; the acknowledgement not yet recorded
    disk, old_view = s.world.stores[y], s.world.nodes[y].replica.view
    s.world.crash(y)
    removed = await s.change(s.world.membership.leave(y, force=True))
    s.expect(removed is not None and y in removed.removed, f"{y} is recorded as removed")
    await s.delete("c2", late)
    await s.wait(GRACE + 5.0)
    report = await s.collect()
    s.expect(not report.skipped, f"nothing skipped: {report.skipped}")
    s.expect(report.chunks > 0, "chunks no version names are reclaimed")
    unreaped = [k for k in [*keys[:4], late] if k not in s.world.reaped]
    s.expect(not unreaped, f"every delete is reaped, {unreaped} too")
    s.world.revive(y, disk, old_view)
    await s.wait(5.0)
    s.expect(y not in s.world.nodes, f"{y} learned it was removed and ended")
    for key in keys:
        await s.get("c3", key)


# -- replicas that saw the same writes keep the same history ----------------------------------


@story
async def a_replica_that_missed_a_middle_version_keeps_it_after_anti_entropy(s: Story) -> None:
    """X writes k's version one everywhere, then versions two and three while cut off
    from Y; anti-entropy between them is held back until the heal has let X's outbox
    through. A write replicates without the versions its key keeps, so Y gets three
    alone and files only one into its history, though its current state is X's; once
    anti-entropy runs, it must bring Y version two, so both keep the same versions."""
    key = _key_owned_by(s, 0)
    x, y = s.owners(key)
    await s.put("c1", key, "one", at=x)
    await s.wait(2.0)
    rounds = Hold(lambda sender, node, message: {sender, node} == {x, y}
                  and isinstance(message, ANTI_ENTROPY))
    s.when(rounds)
    s.cut(x, y)
    await s.put("c1", key, "two", at=x)
    await s.put("c1", key, "three", at=x)
    await s.wait(2.0)  # what X's outbox sent during the cut was lost
    s.heal()
    await s.wait(3.0)
    kept = {n: _kept(s, n, key) for n in (x, y)}
    s.expect(len(kept[x]) == 2 and len(kept[y]) == 1,
             f"{y} got version three from {x}'s outbox, but not two: {kept}")
    rounds.release()
    await s.wait(5.0)
    kept = {n: _kept(s, n, key) for n in (x, y)}
    s.expect(len(kept[x]) == 2 and kept[x] == kept[y],
             f"{x} and {y} keep versions one and two of {key}: {kept}")
    await s.get("c2", key, at=y)


# -- garbage collection ----------------------------------------------------------------------


@story
async def collection_waits_while_a_change_hands_off(s: Story) -> None:
    """Y, leaving, writes a chunked value of key k while cut off from every node (its
    chunks are stored on another shard); the leave commits; rounds run for longer than
    the grace period while Y still holds k's state alone. They must collect nothing
    that k names: after the heal, k's chunks are all there."""
    key = _key_owned_by(s, 1)
    y = s.owners(key)[-1]
    started: list[bool] = []

    async def at_first_commit(sender: str, node: str, message: Message) -> None:
        if isinstance(message, Commit) and not started:
            started.append(True)
            s.cut(y, *[n for n in s.world.nodes if n != y])
            await s.put("c1", key, "big", at=y, size=150_000)
    s.when(at_first_commit)
    await s.change(s.world.membership.leave(y))
    s.when(_quiet)
    for _ in range(10):
        await s.wait(3.0)
        await s.collect()
    s.heal()
    await s.wait(10.0)
    await s.get("c2", key)


@story
async def collection_spares_uploads_in_flight(s: Story) -> None:
    """A round runs while a chunked upload is between its chunks and its manifest, once
    for new chunks and once for chunks stored long ago that nothing named any more (the
    replica the upload reaches renews them; its shard-mates, cut off, hear nothing): the
    manifest finds every chunk it names."""
    body = 100_000

    async def collect_before_the_manifest(sender: str, node: str, message: Message) -> None:
        if isinstance(message, Put) and message.version.chunks:
            await s.collect()
    await s.put("c1", "site/big", "same", size=body)
    for i in range(4):  # the first value ages out of the key's kept versions
        await s.put("c1", "site/big", f"small {i}")
    await s.wait(25.0)  # longer than the grace period: its chunks are old garbage now
    nodes = sorted(s.world.nodes)
    for node in nodes:  # replicas hear nothing from each other: each renews on its own
        s.cut(node, *nodes)
    s.when(collect_before_the_manifest)
    s.reader("c1").count = 0  # the same bytes again
    await s.put("c1", "site/again", "same", size=body)
    await s.put("c2", "site/fresh", "new", size=body)
    s.when(_quiet)
    s.heal()
    await s.get("c3", "site/again")
    await s.get("c3", "site/fresh")


@story
async def two_switches_from_one_past_stay_siblings_everywhere(s: Story) -> None:
    """A site's live deploy is one causal key: c1 and c2 read it, then each switches it
    from that same past, c1 at X and c2 at X, then c3 (who also read it) at Y while Y
    is cut off. All three must end as siblings on every replica: a conflict the site
    names, never a switch silently lost."""
    key = ".live/site"
    x, y = s.owners(key)
    await s.put("c0", key, "first")
    await s.wait(3.0)
    for who in ("c1", "c2", "c3"):
        await s.get(who, key)
    await s.put("c1", key, "one", at=x)
    await s.put("c2", key, "two", at=x)
    s.cut(x, y)
    await s.put("c3", key, "three", at=y)
    s.heal()
    await s.wait(5.0)
    for node in (x, y):
        state = s.world.nodes[node].replica.get(key)
        found = sorted(v.value.data or b"" for v in state.siblings) if state else []
        s.expect(len(found) == 3, f"{node} holds {found} of the three switches")


@story
async def collection_keeps_every_file_a_kept_deploy_names(s: Story) -> None:
    """A deploy's files are stored as chunks under no key, and its manifest names them
    as references; rounds run for longer than the grace period. Every file must stay
    readable while the manifest is kept, and go once its manifest is deleted and reaped."""
    client = s.world.client
    files = [await client.store_chunks(bytes([i]) * 70_000) for i in range(3)]
    refs = tuple(c for f in files for c in f.chunks or ())
    written = await client.put(".deploy/site/aaaaaaaaaaaa", b"manifest", "text/plain",
                               Token(), refs=refs)
    for _ in range(3):
        await s.wait(GRACE)
        await s.collect()
    for i, f in enumerate(files):
        body = b"".join([piece async for piece in client.body(f)])
        s.expect(body == bytes([i]) * 70_000, f"file {i} of the kept deploy was collected")
    await client.delete(".deploy/site/aaaaaaaaaaaa", written.token)
    await s.wait(GRACE)
    for _ in range(2):
        await s.collect()
        await s.wait(GRACE)
    held = [c for n in s.world.nodes for c in refs if c in s.world.stores[n].chunks]
    s.expect(not held, f"{len(held)} chunks of an aged-out deploy were never collected")


@story
async def a_delete_is_reaped_only_once_every_replica_applied_it(s: Story) -> None:
    """k is written everywhere; X deletes it while cut off from Y; rounds run. X must not
    reap the delete Y has not applied, or Y would hand the value back after the heal."""
    key = _key_owned_by(s, 0)
    x, y = s.owners(key)
    await s.put("c1", key, "one")
    await s.wait(3.0)  # anti-entropy rounds: each replica learns the other's progress
    s.cut(x, y)
    await s.delete("c1", key, at=x)
    for _ in range(3):
        await s.collect()
        await s.wait(1.0)
    s.heal()
    await s.wait(5.0)
    await s.collect()
    await s.get("c1", key)



@story
async def a_late_copy_of_a_batch_does_not_undo_a_reaped_delete(s: Story) -> None:
    """X's outbox batch carrying k's first value to Y is held up on the way; X sends it
    again, then deletes k, and both replicas apply the delete and reap it. When the
    first copy of that batch finally arrives, Y must not store the value again."""
    key = _key_owned_by(s, 0)
    x, y = s.owners(key)
    writer = s.world.nodes[x].replica.id
    held: list[bool] = []

    async def hold_first_batch(sender: str, node: str, message: Message) -> None:
        if (sender, node) == (x, y) and isinstance(message, Replicate) and (
                message.origin == writer) and not held:
            held.append(True)
            while held[0]:
                await asyncio.sleep(0.1)
    s.when(hold_first_batch)
    await s.put("c1", key, "one", at=x)
    await s.wait(5.0)  # sent again, and applied
    await s.delete("c1", key, at=x)
    await s.wait(3.0)
    for _ in range(2):
        await s.collect()
        await s.wait(1.0)
    s.expect(all(s.world.nodes[n].replica.store.get_state(key) is None for n in (x, y)),
             f"the delete of {key} was reaped on {x} and {y}")
    held[0] = False
    await s.wait(1.0)
    await s.get("c1", key, at=y)


@story
async def a_copy_left_by_a_rolled_back_change_comes_back_before_a_reap(s: Story) -> None:
    """Y, of k's shard, leaves; a node of the other shard copies k's partition for it;
    the coordinator dies before any commit and the next one rolls the change back, so
    the copy stays behind, with the other shard cut off from k's owners. k is deleted
    and rounds run: the owners must not reap the delete before the copy is handed back,
    or the stale value handed back after the heal would undo it."""
    key = _key_owned_by(s, 1)
    owners = s.owners(key)
    await s.put("c1", key, "one")
    await s.wait(3.0)

    async def die_before_commit(sender: str, node: str, message: Message) -> None:
        if isinstance(message, Commit):
            raise Died
    s.when(die_before_commit)
    await s.change(s.world.membership.leave(owners[-1]))
    s.when(_quiet)
    others = [n for n in s.world.nodes if n not in owners]
    copied = [n for n in others if s.world.nodes[n].replica.get(key) is not None]
    s.expect(bool(copied), f"a node outside {owners} copied {key} for the change")
    for node in others:
        s.cut(node, *owners)
    rolled_back = await s.recover()
    s.expect(rolled_back is not None and rolled_back.epoch == 1, "the change rolled back")
    await s.delete("c1", key)
    await s.wait(3.0)
    for _ in range(3):
        await s.collect()
        await s.wait(1.0)
    s.heal()
    await s.wait(5.0)
    await s.get("c2", key)

@story
async def every_replica_of_a_shard_reaps_the_same_deletes(s: Story) -> None:
    """k is written and deleted everywhere; Y restarts, so it has not yet heard its
    shard-mate's progress and may not reap k; a round right then must reap k nowhere,
    so the shard's replicas stay equal."""
    key = _key_owned_by(s, 0)
    x, y = s.owners(key)
    await s.put("c1", key, "one")
    await s.delete("c1", key)
    await s.wait(3.0)  # replicated; each side has heard the other's progress
    s.world.crash(y)
    s.world.restart(y)
    s.cut(x, y)  # and it will not hear it during the round
    await s.collect()
    digests = {n: s.world.nodes[n].replica.digest() for n in (x, y)}
    s.expect(len(set(digests.values())) == 1, f"{x} and {y} reaped the same: {digests}")


def _die_after_one_commit(
        committed_at: list[str]) -> Callable[[str, str, Message], Awaitable[None]]:
    """A coordinator that dies as it sends its second Commit; the nodes its other Commits
    go to are added to committed_at."""
    commits = 0

    async def hook(sender: str, node: str, message: Message) -> None:
        nonlocal commits
        if isinstance(message, Commit):
            commits += 1
            if commits == 2:
                raise Died
            committed_at.append(node)
    return hook


def _kept(s: Story, node: str, key: str) -> list[str]:
    """The versions ``node`` keeps of ``key`` (their bodies), oldest first."""
    state = s.world.nodes[node].replica.get(key)
    return [(h.value.data or b"").decode() for h in state.history] if state else []


class Hold:
    """A hook that holds back every message ``picks`` chooses, until ``release``."""

    def __init__(self, picks: Callable[[str, str, Message], bool]) -> None:
        self.picks = picks
        self.holding = True

    async def __call__(self, sender: str, node: str, message: Message) -> None:
        while self.holding and self.picks(sender, node, message):
            await asyncio.sleep(0.05)

    def release(self) -> None:
        self.holding = False


async def _quiet(sender: str, node: str, message: Message) -> None:
    """No hook: messages just go."""


def _view_of(message: Commit) -> View:
    return View.from_json(message.view)


def tell(name: str) -> tuple[list[str], list[str]]:
    """Run one story; answers (violations, its log)."""
    logging.getLogger("dwp").setLevel(logging.CRITICAL)
    log: list[str] = [f"story: {name}: {STORIES[name].__doc__}"]

    async def main() -> list[str]:
        s = Story()
        try:
            await STORIES[name](s)
            return await s.finish()
        except Exception as exc:  # what the story expected did not happen at all
            return [*s.failures, *s.watch.violations, f"the story broke off: {exc!r}"]
        finally:
            log.extend(s.log)
    return run_virtual(main), log


def replay_story(name: str) -> str:
    return f"python -m tests.simulation --story {name} -v"
