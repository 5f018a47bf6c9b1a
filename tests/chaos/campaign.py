"""One run: clients write and read while a nemesis strikes on a seeded schedule; then
everything heals, the network converges, and the checker judges the history."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from random import Random

import httpx

from tests.chaos.checker import Verdict, check
from tests.chaos.cluster import ChaosNet
from tests.chaos.history import History, index_of, name_writers, run_clients
from tests.chaos.nemesis import heal_all, make

CLIENTS = 4
KEYS_EACH = 4
CONVERGE_TIMEOUT = 180.0


@dataclass
class Result:
    nemesis: str
    seed: int
    seconds: float
    verdict: Verdict
    convergence: float | None  # seconds from the last heal to equal digests
    faults: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verdict.clean and self.convergence is not None


def run(net: ChaosNet, kind: str, seed: int, seconds: float) -> Result:
    rng = Random(f"{kind}/{seed}")
    nemesis = make(kind, net)
    history = History()
    prefix = f"chaos/{kind}-{seed}-{uuid.uuid4().hex[:6]}"
    stop = threading.Event()
    load = threading.Thread(target=run_clients, daemon=True, args=(
        net.url, net.auth, history, prefix, CLIENTS, KEYS_EACH, seconds, seed, stop))
    faults: list[str] = []
    load.start()
    until = time.monotonic() + seconds
    try:
        while time.monotonic() < until - 1.0:
            time.sleep(rng.uniform(0.3, 1.2))
            faults.append(nemesis.inject(rng))
            history.note(faults[-1])
            time.sleep(rng.uniform(0.5, 2.0))
            nemesis.heal()
    except Exception as exc:
        faults.append(f"nemesis failed: {type(exc).__name__}: {exc}")
    finally:
        heal_all(nemesis)
        healed = time.monotonic()
        stop.set()
        load.join(90)
    convergence = _converge(net, healed)
    name_writers(history, net.client.tokens)
    verdict = check(history, final_values(net, history.keys()), nemesis.disk_losses)
    return Result(kind, seed, seconds, verdict, convergence, faults)


def _converge(net: ChaosNet, since: float) -> float | None:
    deadline = since + CONVERGE_TIMEOUT
    while time.monotonic() < deadline:
        if net.converged():
            return round(time.monotonic() - since, 2)
        time.sleep(0.25)
    return None


def final_values(net: ChaosNet, keys: set[str]) -> dict[str, int]:
    """Each key's index once converged, read with no token (0: absent)."""
    out = {}
    with net.http() as h:
        for key in sorted(keys):
            for _ in range(20):
                r = h.get(f"/api/v1/objects/{key}")
                if r.status_code in (200, 404):
                    out[key] = index_of(key, r.content) if r.status_code == 200 else 0
                    break
                time.sleep(0.5)
            else:
                raise httpx.HTTPError(f"{key} unreadable after convergence: {r.status_code}")
    return out
