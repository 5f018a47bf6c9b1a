"""One seeded simulation: clients, view changes and faults on a small network, then a
heal, a settling period and the invariant checks: those that must hold at every step
(``tests.simulation.invariants``) all along, the rest (``tests.simulation.checker``) at
the end."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from random import Random

from dwp.client import gc
from dwp.core.errors import DwpError, NotFound
from dwp.core.messages import Abort, Commit, Import, Message, Prepare
from dwp.core.token import Token
from tests.simulation.checker import Ack, History, check
from tests.simulation.invariants import Watch
from tests.simulation.loop import VirtualLoop, run_virtual
from tests.simulation.world import Faults, World, no_hook

KEYS = [f"site/k{i}" for i in range(12)]
SETTLE_SECONDS = 30.0
GC_EVERY = 3.0
GC_GRACE = 20.0  # longer than any simulated upload takes
CHANGE_PHASES = (Prepare, Import, Commit, Abort)


@dataclass
class Scenario:
    """Everything one seed decides up front (the rest comes from the same generator)."""

    seed: int
    nodes: int
    changes: list[str]
    clients: int = 3
    ops: int = 20
    faults: bool = True
    kill_coordinator: float = 0.3  # chance that a change's coordinator dies mid-way
    back_to_back: bool = False  # each change right after the last: hand-offs in flight

    @classmethod
    def of(cls, seed: int) -> Scenario:
        rng = Random(seed * 7919)
        nodes = rng.choice([4, 4, 5])
        changes = rng.choice([["join"], ["join", "join"], ["leave"], ["join", "leave"],
                              ["join", "join", "leave", "join"]])
        return cls(seed, nodes, changes, back_to_back=rng.random() < 0.3)


@dataclass
class Client:
    name: str
    rng: Random
    token: Token = field(default_factory=Token)
    count: int = 0


async def _client(world: World, history: History, me: Client, ops: int,
                  log: list[str]) -> None:
    for _ in range(ops):
        await asyncio.sleep(me.rng.uniform(0.0, 0.4))
        key = me.rng.choice(KEYS)
        kind = me.rng.choices(["put", "get", "delete", "blind"], [5, 4, 1, 1])[0]
        client = world.client
        try:
            if kind == "get":
                result = await client.get(key, me.token)
                log.append(f"t={_now():.2f} {me.name} get {key} from {result.node}: "
                           f"{result.state.context}")
                history.read(me.name, key, me.token, result.state)
                me.token = result.token
                continue
            if kind == "delete":
                history.invoke(me.name, key, None)
                written = await client.delete(key, me.token)
                log.append(f"t={_now():.2f} {me.name} delete {key} at {written.node}: "
                           f"{written.state.context}")
                history.ack(Ack(me.name, key, None, written.state))
            else:
                me.count += 1
                size = 70_000 if me.rng.random() < 0.1 else 12
                body = (f"{me.name}-{me.count}|".encode() * size)[:max(size, 12)]
                token = me.token if kind == "put" else Token(me.token.causal)
                history.invoke(me.name, key, body)
                written = await client.put(key, body, "text/plain", token)
                log.append(f"t={_now():.2f} {me.name} {kind} {key} at {written.node}: "
                           f"{written.state.context}")
                history.ack(Ack(me.name, key, body, written.state,
                                written.version.write_id if written.version else ""))
            me.token = written.token
        except NotFound as exc:
            log.append(f"t={_now():.2f} {me.name} {kind} {key}: not found (need "
                       f"{me.token.need()})")
            if kind == "get":  # a delete of what is already deleted is "not found" too
                history.not_found(me.name, key, me.token, str(exc))
        except DwpError as exc:
            log.append(f"t={_now():.2f} {me.name} {kind} {key}: {exc}")


async def _changes(world: World, scenario: Scenario, rng: Random, log: list[str]) -> None:
    hosts = iter(range(100, 200))
    for change in scenario.changes:
        await asyncio.sleep(rng.uniform(0.0, 0.3) if scenario.back_to_back
                            else rng.uniform(0.5, 3.0))
        if change == "join":
            work = world.membership.join(f"h{next(hosts)}")
        else:
            work = world.membership.leave(rng.choice(list(world.client.view.members)))
        task = asyncio.ensure_future(work)
        if rng.random() < scenario.kill_coordinator:
            await asyncio.sleep(rng.uniform(0.0, 2.0))
            if not task.done():
                task.cancel()
                log.append(f"t={_now():.2f} coordinator died during {change}")
                world.restart_gateway()
                await asyncio.sleep(rng.uniform(0.5, 2.0))
                try:
                    view = await world.membership.recover()
                    log.append(f"t={_now():.2f} recovered: epoch {view.epoch} ({view.change})")
                except DwpError as exc:
                    log.append(f"t={_now():.2f} recover failed: {exc}")
                continue
        try:
            view = await task
            log.append(f"t={_now():.2f} {change} -> epoch {view.epoch}")
        except DwpError as exc:
            log.append(f"t={_now():.2f} {change} failed: {exc}")


async def _collector(world: World, rng: Random, until: asyncio.Event, log: list[str]) -> None:
    """Garbage collection rounds from the gateway, all through the run and the settling,
    and one more in each phase of a view change (as its coordinator sends prepares,
    copies, commits and aborts) now and then."""
    cursors: dict[int, str] = {}
    phases: dict[str, asyncio.Future[None]] = {}  # phase -> the round started in it

    async def in_phase(sender: str, node: str, message: Message) -> None:
        phase = type(message).__name__.lower()
        if (sender == "gateway" and isinstance(message, CHANGE_PHASES)
                and (phase not in phases or phases[phase].done()) and rng.random() < 0.5):
            phases[phase] = asyncio.ensure_future(_gc_round(world, cursors, log,
                                                            f" ({phase})"))
    world.on_message = in_phase
    while not until.is_set():
        await asyncio.sleep(rng.uniform(0.5, 2 * GC_EVERY))
        await _gc_round(world, cursors, log)
    world.on_message = no_hook
    await asyncio.gather(*phases.values())


async def _gc_round(world: World, cursors: dict[int, str], log: list[str],
                    during: str = "") -> None:
    try:
        report = await gc.collect(world.client, grace=GC_GRACE, now=_now, cursors=cursors,
                                  timeout=2.0)
    except DwpError as exc:
        log.append(f"t={_now():.2f} gc failed{during}: {exc}")
        return
    if report.chunks or report.deleted_keys or during:
        log.append(f"t={_now():.2f} gc{during}: {report.chunks} chunks, "
                   f"{report.deleted_keys} deleted keys, {len(report.skipped)} skipped")


async def _nemesis(world: World, rng: Random, until: asyncio.Event, log: list[str]) -> None:
    while not until.is_set():
        await asyncio.sleep(rng.uniform(0.5, 2.0))
        nodes = sorted(world.stores)
        event = rng.choice(["cut", "crash", "loss", "calm", "slow", "dup", "power", "wipe"]
                           if rng.random() < 0.05 else
                           ["cut", "crash", "loss", "calm", "slow", "dup", "power"])
        faults = world.faults
        if event == "cut":
            group = set(rng.sample(nodes, rng.randint(1, max(1, len(nodes) // 2))))
            faults.cut = {frozenset((a, b)) for a in group for b in nodes if b not in group}
        elif event == "crash":
            world.crash_for(rng.choice(nodes), rng.uniform(0.3, 3.0))
        elif event == "power":
            world.power_loss(rng.choice(nodes), rng.uniform(0.3, 3.0))
        elif event == "loss":
            faults.loss = rng.uniform(0.0, 0.15)
            faults.max_delay = rng.uniform(0.001, 0.2)
        elif event == "slow":
            faults.slow[rng.choice(nodes)] = rng.uniform(0.5, 4.0)
        elif event == "dup":
            faults.duplicate = rng.uniform(0.0, 0.3)
            faults.crash_before_reply = rng.uniform(0.0, 0.05)
        elif event == "wipe":
            world.lose_disk(rng.choice(nodes))
        else:
            world.faults = Faults()
        log.append(f"t={_now():.2f} {event}")


def _now() -> float:
    return asyncio.get_running_loop().time()


async def _simulate(scenario: Scenario, log: list[str]) -> list[str]:
    rng = Random(scenario.seed)
    world = World(scenario.seed, scenario.nodes, 2)
    history = History(world.lost, world.reaped)
    watch = Watch(world, history)
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualLoop)
    loop.on_step = watch.step
    done = asyncio.Event()
    clients = [Client(f"c{i}", Random(rng.random())) for i in range(scenario.clients)]
    nemesis = asyncio.ensure_future(_nemesis(world, Random(rng.random()), done, log)
                                    if scenario.faults else asyncio.sleep(0))
    settled = asyncio.Event()
    collector = asyncio.ensure_future(_collector(world, Random(rng.random()), settled, log))
    await asyncio.gather(_changes(world, scenario, Random(rng.random()), log),
                         *(_client(world, history, c, scenario.ops, log) for c in clients))
    done.set()
    await nemesis
    world.heal()
    log.append(f"t={_now():.2f} healed")
    for _ in range(10):
        try:
            view = await world.membership.recover()
            log.append(f"t={_now():.2f} recovered: epoch {view.epoch} ({view.change})")
            break
        except DwpError as exc:
            log.append(f"t={_now():.2f} recover: {exc}")
            await asyncio.sleep(1.0)
    await asyncio.sleep(SETTLE_SECONDS)
    settled.set()
    await collector
    for node_id, node in sorted(world.nodes.items()):
        r = node.replica
        log.append(f"{node_id}: epoch {r.view.epoch} ({r.view.change}) shard {r.shard} "
                   f"pending {r.pending.change if r.pending else None} held "
                   f"{r.held_unowned()}")
    log.append(f"{watch.steps} steps checked")
    return watch.violations + await check(world, history, clients)


def simulate(seed: int, verbose: bool = False) -> tuple[list[str], list[str]]:
    """Run one seed; answers (violations, event log)."""
    logging.getLogger("dwp").setLevel(logging.CRITICAL)
    scenario = Scenario.of(seed)
    log: list[str] = [f"scenario: {scenario}"]
    violations = run_virtual(lambda: _simulate(scenario, log))
    return violations, log


def replay_command(seed: int) -> str:
    return f"python -m tests.simulation --seed {seed} -v"
