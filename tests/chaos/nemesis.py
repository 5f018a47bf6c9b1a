"""Nemeses: each breaks one thing and heals it again. Every choice comes from the
``random.Random`` it is handed, so a seed replays the same schedule of faults."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from random import Random

import httpx
import ray

from dwp.core.messages import Info, NodeInfo
from tests.chaos.checker import DiskLoss
from tests.chaos.cluster import ChaosNet
from tests.conftest import eventually


@dataclass
class Nemesis:
    """``inject`` breaks something and says what; ``heal`` undoes whatever is broken."""

    net: ChaosNet
    disk_losses: list[DiskLoss] = field(default_factory=list)
    name: str = ""

    def __post_init__(self) -> None:
        """Subclasses that hold others set them up here."""

    def inject(self, rng: Random) -> str:
        raise NotImplementedError

    def heal(self) -> None:
        """Nothing to undo by default: the fault heals itself (a restarted actor)."""


def _nodes(net: ChaosNet) -> list[dict[str, object]]:
    return sorted(net.status()["nodes"], key=lambda n: str(n["id"]))


class Kill(Nemesis):
    """SIGKILL of a storage actor's process; Ray restarts it on the same data dir."""

    name = "kill"

    def inject(self, rng: Random) -> str:
        up = [n for n in _nodes(self.net) if n["pid"]]
        if not up:
            return "kill: no node up"
        victim = rng.choice(up)
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(victim["pid"]), signal.SIGKILL)  # type: ignore[call-overload]
        return f"kill -9 {victim['id']} (pid {victim['pid']})"


class Partition(Nemesis):
    """Replica-to-replica messages cut between two random groups of nodes."""

    name = "partition"

    def inject(self, rng: Random) -> str:
        ids = [str(n["id"]) for n in _nodes(self.net)]
        rng.shuffle(ids)
        cut = rng.randint(1, len(ids) - 1)
        groups = [sorted(ids[:cut]), sorted(ids[cut:])]
        with self.net.http() as h:
            r = h.put("/api/v1/faults", json={"partitions": groups}, headers=self.net.auth)
        return f"partition {groups[0]} | {groups[1]}: {r.status_code}"

    def heal(self) -> None:
        with self.net.http() as h:
            h.delete("/api/v1/faults", headers=self.net.auth)


class HostLoss(Nemesis):
    """A whole Ray host leaves the cluster (its actors die) and comes back later."""

    name = "host"
    gone: str | None = None

    def inject(self, rng: Random) -> str:
        self.gone = rng.choice(sorted(self.net.ray.hosts))
        self.net.ray.remove_host(self.gone)
        return f"remove host {self.gone}"

    def heal(self) -> None:
        if self.gone is not None:
            self.net.ray.add_host(self.gone)
            self.gone = None


class DiskWipe(Nemesis):
    """A replica loses its whole data dir and comes back empty with a new incarnation
    (kv679): it must not make others drop what they acknowledged."""

    name = "disk"

    def inject(self, rng: Random) -> str:
        victim = str(rng.choice(_nodes(self.net))["id"])
        handle = self.net.handle(victim)

        def info(timeout: float) -> NodeInfo:
            return ray.get(handle.handle.remote("chaos", Info()), timeout=timeout)

        with contextlib.suppress(Exception):
            eventually(lambda: not info(5).outbox, 2, 0.05)
        before = info(60).replica_id  # a victim that a nemesis just restarted comes back first
        self.disk_losses.append(DiskLoss(before))
        ray.kill(handle, no_restart=True)
        eventually(lambda: not _alive(self.net, victim), 30)
        shutil.rmtree(self.net.homes().of(self.net.client.view, victim))
        self.net.start_node(victim)
        after = ray.get(self.net.handle(victim).handle.remote("chaos", Info()),
                        timeout=60).replica_id
        if after == before:
            raise AssertionError(f"{victim} came back on a blank disk as {after} again")
        return f"wipe {victim}: {before} -> {after}"


def _alive(net: ChaosNet, node: str) -> bool:
    try:
        net.handle(node)
    except ValueError:
        return False
    return True


class GatewayRestart(Nemesis):
    """The gateway stops mid-request and starts again on the same port."""

    name = "gateway"

    def inject(self, rng: Random) -> str:
        pause = rng.uniform(0.2, 1.0)
        self.net.gateway.restart(pause)
        return f"gateway restart ({pause:.1f}s down)"

    def heal(self) -> None:
        if not self.net.gateway.running:
            self.net.gateway.start()


class ViewChange(Nemesis):
    """A node joins on a random host while clients run; healing makes it leave."""

    name = "view"
    added: str | None = None

    def inject(self, rng: Random) -> str:
        host = rng.choice(sorted(self.net.ray.hosts))
        before = {str(n["id"]) for n in _nodes(self.net)}
        with self.net.http() as h:
            r = h.post("/api/v1/network/nodes", json={"host": host}, headers=self.net.auth,
                       timeout=300)
        if r.status_code != 200:
            return f"join on {host}: {r.status_code} {r.text[:200]}"
        self.added = next(iter({str(n["id"]) for n in r.json()["nodes"]} - before), None)
        return f"join {self.added} on {host}: epoch {r.json()['epoch']}"

    def heal(self) -> None:
        if self.added is None:
            return
        with self.net.http() as h:
            r = h.delete(f"/api/v1/network/nodes/{self.added}", headers=self.net.auth,
                         timeout=300)
        if r.status_code != 200:
            raise AssertionError(f"leave of {self.added}: {r.status_code} {r.text[:200]}")
        self.added = None


KINDS: dict[str, Callable[[ChaosNet], Nemesis]] = {
    "kill": Kill, "partition": Partition, "host": HostLoss, "disk": DiskWipe,
    "gateway": GatewayRestart, "view": ViewChange}


class Mixed(Nemesis):
    """Each round picks one of the others at random."""

    name = "mixed"

    def __post_init__(self) -> None:
        self.all = [kind(self.net) for kind in KINDS.values()]
        for n in self.all:
            n.disk_losses = self.disk_losses
        self.last: Nemesis | None = None

    def inject(self, rng: Random) -> str:
        self.last = rng.choice(self.all)
        return self.last.inject(rng)

    def heal(self) -> None:
        if self.last is not None:
            self.last.heal()


def make(kind: str, net: ChaosNet) -> Nemesis:
    return Mixed(net) if kind == "mixed" else KINDS[kind](net)


def heal_all(nemesis: Nemesis) -> None:
    """Undo every fault, tolerating a network that is still coming back."""
    for _ in range(10):
        try:
            nemesis.heal()
            if isinstance(nemesis, Mixed):
                for n in nemesis.all:
                    n.heal()
            return
        except (httpx.HTTPError, AssertionError):
            time.sleep(2)
