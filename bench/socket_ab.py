"""The data socket against Ray, side by side in one run, through the whole product path.

``python -m bench.socket_ab`` starts one network (3 nodes, R=3) in a private Ray, and two
member gateways on it (``dwp up --address --network``): one as shipped (writes and
reads over each node's data socket), one with ``DWP_DATA_SOCKET=0`` (everything over
Ray). Rounds alternate the two: one client's sequential 10 KB PUTs of new keys over one
keep-alive connection, then GETs of keys the other gateway wrote (cold for this one's
caches). Prints a table and the machine's load average.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import ray

from bench import procs
from dwp.local import init_ray, namespace_of, start_network
from dwp.node.actor import actor_name

ROUNDS = 4
PUTS = 150  # per gateway and round
GETS = 100
PAYLOAD = 10_000
PHASE_SECONDS = 10.0  # no phase runs longer than this
SIDES = {"socket": {}, "ray": {"DWP_DATA_SOCKET": "0"}}


def gateway(workdir: Path, name: str, env: dict[str, str], gcs: str, network: str,
            token_file: Path) -> tuple[procs.Started, str]:
    port = procs.free_port()
    argv = [sys.executable, "-m", "browser_cli.main", "up", "--address", gcs, "--network",
            network, "--token-file", str(token_file), "--port", str(port)]
    env = {**env, "XDG_CONFIG_HOME": str(workdir / f"config-{name}"),
           "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
    p = procs.start(f"gateway-{name}", argv, workdir / f"gateway-{name}.log", env=env)
    url = f"http://127.0.0.1:{port}"
    procs.wait_http(f"{url}/healthz", 180, p)
    return p, url


def served(network: str, node: str) -> int:
    actor = ray.get_actor(actor_name(node), namespace=namespace_of(network))
    address: Any = ray.get(actor.data_socket.remote(), timeout=60)
    return int(address.served)


def timed(h: httpx.Client, method: str, path: str, body: bytes | None = None) -> float:
    t = time.perf_counter()
    r = h.request(method, path, content=body)
    elapsed = time.perf_counter() - t
    r.raise_for_status()
    return elapsed * 1000


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="dwp-socket-ab-"))
    init_ray()
    name = f"ab{os.getpid()}"
    client, _ = start_network(workdir / "net", name=name, nodes=3, replicas=3)
    view = client.view
    gcs = ray.get_runtime_context().gcs_address
    token_file = workdir / "net" / "token"
    token = token_file.read_text().strip()
    started, urls = [], {}
    try:
        for side, env in SIDES.items():
            p, urls[side] = gateway(workdir, side, env, gcs, name, token_file)
            started.append(p)
        clients = {s: httpx.Client(base_url=u, timeout=30,
                                   headers={"Authorization": f"Bearer {token}"})
                   for s, u in urls.items()}
        puts: dict[str, list[float]] = {s: [] for s in SIDES}
        gets: dict[str, list[float]] = {s: [] for s in SIDES}
        body = os.urandom(PAYLOAD)
        for side, h in clients.items():  # warm: connections, routes, the socket's
            for i in range(20):
                timed(h, "PUT", f"/api/v1/objects/warm/{side}/{i}", body)
        loads = [os.getloadavg()[0]]
        for r in range(ROUNDS):
            order = list(SIDES) if r % 2 == 0 else list(reversed(SIDES))
            for side in order:
                deadline = time.monotonic() + PHASE_SECONDS
                for i in range(PUTS):
                    if time.monotonic() > deadline:
                        break
                    puts[side].append(timed(clients[side], "PUT",
                                            f"/api/v1/objects/ab/{side}/{r}/{i}", body))
            for side in order:
                other = next(s for s in SIDES if s != side)
                deadline = time.monotonic() + PHASE_SECONDS
                for i in range(GETS):
                    if time.monotonic() > deadline:
                        break
                    gets[side].append(timed(clients[side], "GET",
                                            f"/api/v1/objects/ab/{other}/{r}/{i}"))
            loads.append(os.getloadavg()[0])
        report(puts, gets, loads)
        print("requests the nodes answered on their data sockets: "
              f"{ {n.id: served(name, n.id) for n in view.nodes} }")
    finally:
        for p in reversed(started):
            procs.stop(p)
        ray.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)


def report(puts: dict[str, list[float]], gets: dict[str, list[float]],
           loads: list[float]) -> None:
    def q(xs: list[float], p: int) -> float:
        return statistics.quantiles(xs, n=100)[p - 1]
    print(f"load average (1 min) during the run: {min(loads):.1f}-{max(loads):.1f}")
    print("| path | 10 KB PUT p50 ms | PUT p90 ms | cold GET p50 ms | GET p90 ms | n |")
    print("|---|---|---|---|---|---|")
    for side in SIDES:
        print(f"| {side} | {q(puts[side], 50):.2f} | {q(puts[side], 90):.2f} | "
              f"{q(gets[side], 50):.2f} | {q(gets[side], 90):.2f} | "
              f"{len(puts[side])}/{len(gets[side])} |")
    print(f"socket / ray: PUT p50 {q(puts['socket'], 50) / q(puts['ray'], 50):.2f}x, "
          f"GET p50 {q(gets['socket'], 50) / q(gets['ray'], 50):.2f}x")


if __name__ == "__main__":
    main()
