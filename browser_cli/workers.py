"""More gateway processes for ``dwp up --workers N``, all accepting on one port.

One Python process serves a few thousand requests a second on one core; the gateway's
per-request work (HTTP parsing, routing, tokens) grows with more processes, not with a
faster one. ``dwp up`` starts the network and serves as before; each extra worker is a
process of its own that joins the same Ray cluster as a driver, reads the view from the
nodes (``dwp.local.connect_network``, as a member's own gateway does) and serves the
same app on a socket of the same address, with ``SO_REUSEPORT`` so the kernel spreads
connections over them. They share nothing but the network, as several gateways of one
network do (DESIGN.md section 6): each has its own caches, its own ``/metrics``, and its
own store of the UI's context ids (a UI user whose next connection lands on another
worker reads without the context of their last UI write: keep ``--workers 1`` for a
gateway people browse with the UI, more for serving pages and the API).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

PARENT_POLL = 1.0  # seconds between checks that the `dwp up` process is still there


@dataclass(frozen=True)
class WorkerPlan:
    """What a worker needs to serve what ``dwp up`` serves (sent on its stdin: the
    network tokens never appear in a command line)."""

    ray_address: str
    host: str
    port: int
    networks: list[tuple[str, str]]  # (name, write token), the first is the default
    host_label: str
    anti_entropy_interval: float
    settings: dict[str, Any]  # gateway.GatewaySettings' fields


def spawn(plan: WorkerPlan, count: int) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` workers; each answers on the port once it has joined Ray."""
    payload = json.dumps(asdict(plan)).encode()
    workers = []
    for _ in range(count):
        proc = subprocess.Popen([sys.executable, "-m", "browser_cli.workers"],
                                stdin=subprocess.PIPE)
        assert proc.stdin is not None
        proc.stdin.write(payload)
        proc.stdin.close()
        workers.append(proc)
    return workers


def stop(workers: list[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """SIGTERM each worker (uvicorn ends cleanly on it), then SIGKILL what remains."""
    for proc in workers:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + timeout
    for proc in workers:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _end_with_parent() -> None:
    """A worker whose ``dwp up`` died (even by SIGKILL) ends too, instead of serving
    a port nobody will stop."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        os.kill(os.getpid(), signal.SIGTERM)
    threading.Thread(target=watch, name="dwp-parent-watch", daemon=True).start()


def main() -> None:
    """A worker: join Ray, connect to each network, serve the app on the shared port."""
    import ray

    from dwp.local import connect_network, init_ray
    from gateway import GatewaySettings, Network, create_app
    from gateway.server import listening_socket, serve

    plan = WorkerPlan(**json.loads(sys.stdin.read()))
    _end_with_parent()
    init_ray(plan.ray_address, plan.host_label)
    networks = []
    for name, secret in plan.networks:
        client, membership = connect_network(name, secret, plan.host_label,
                                             plan.anti_entropy_interval)
        networks.append(Network(client, secret, membership))
    # The first process runs the background garbage collection rounds; one is enough.
    app = create_app(networks, GatewaySettings(**{**plan.settings, "gc_interval": 0}))
    sock = listening_socket(plan.host, plan.port, shared=True)
    try:
        serve(app, sock)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
