"""Starting and stopping what we measure: nginx, a 3-member etcd cluster and ``dwp up``,
all bound to 127.0.0.1, each in a process group the harness owns."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import procs

VENV_BIN = Path(sys.executable).parent


@dataclass
class Nginx:
    root: Path
    port: int
    proc: procs.Started

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_nginx(workdir: Path, root: Path) -> Nginx:
    """nginx serving ``root`` from disk: 2 workers (one per core), sendfile, no logs."""
    port = procs.free_port()
    prefix = workdir / "nginx"
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = prefix / "nginx.conf"
    conf.write_text(f"""{user}daemon off;
worker_processes 2;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {prefix}/tmp;
    types {{ text/html html; }}
    default_type application/octet-stream;
    server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
""")
    p = procs.start("nginx", ["nginx", "-p", str(prefix), "-e", str(prefix / "error.log"),
                              "-c", str(conf)], workdir / "logs" / "nginx.log")
    procs.wait_http(f"http://127.0.0.1:{port}/", 20, p, ok=(200, 403, 404))
    return Nginx(root, port, p)


@dataclass
class Etcd:
    client_ports: list[int]
    members: list[procs.Started]
    leader: int  # index of the member that leads

    @property
    def url(self) -> str:
        """The leader's client URL: writes go there without a forwarding hop."""
        return f"http://127.0.0.1:{self.client_ports[self.leader]}"


def start_etcd(workdir: Path, size: int = 3) -> Etcd:
    """A ``size``-member etcd cluster on loopback, each member with its own data dir."""
    names = [f"m{i}" for i in range(1, size + 1)]
    client = [procs.free_port() for _ in names]
    peer = [procs.free_port() for _ in names]
    initial = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in zip(names, peer, strict=True))
    members = []
    for n, c, p in zip(names, client, peer, strict=True):
        argv = ["etcd", "--name", n, "--data-dir", str(workdir / "etcd" / n),
                "--listen-client-urls", f"http://127.0.0.1:{c}",
                "--advertise-client-urls", f"http://127.0.0.1:{c}",
                "--listen-peer-urls", f"http://127.0.0.1:{p}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{p}",
                "--initial-cluster", initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", "dwp-bench", "--logger", "zap",
                "--log-level", "warn"]
        members.append(procs.start(f"etcd-{n}", argv, workdir / "logs" / f"etcd-{n}.log"))
    for m, c in zip(members, client, strict=True):
        procs.wait_http(f"http://127.0.0.1:{c}/health", 30, m)
    return Etcd(client, members, _etcd_leader(client))


def _etcd_leader(ports: list[int]) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for i, port in enumerate(ports):
            try:
                s = httpx.post(f"http://127.0.0.1:{port}/v3/maintenance/status", json={},
                               timeout=2).json()
            except (httpx.HTTPError, ValueError):
                continue
            if s.get("leader") and s.get("leader") == s.get("header", {}).get("member_id"):
                return i
        time.sleep(0.3)
    raise TimeoutError("etcd elected no leader")


def etcd_put(url: str, key: str, value: bytes) -> None:
    r = httpx.post(f"{url}/v3/kv/put", timeout=10, json={
        "key": base64.b64encode(key.encode()).decode(),
        "value": base64.b64encode(value).decode()})
    r.raise_for_status()


def stop_etcd(e: Etcd) -> None:
    for m in e.members:
        procs.stop(m)


@dataclass
class Dwp:
    data_dir: Path
    port: int
    token: str
    proc: procs.Started
    launcher: str  # how it was started: "dwp up" or the fallback

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def network(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/api/v1/network", timeout=30).json()


def cli_works() -> bool:
    """Whether the ``dwp`` command starts at all (another engineer may be mid-change)."""
    try:
        r = subprocess.run([str(VENV_BIN / "dwp"), "--help"], capture_output=True,
                           timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def command(name: str, module: str) -> tuple[list[str], str]:
    """``dwp NAME`` when the CLI loads, else the same typer function run on its own."""
    if cli_works():
        return [str(VENV_BIN / "dwp"), name], f"dwp {name}"
    shim = f"import typer; from {module} import {name}; typer.run({name})"
    return [sys.executable, "-c", shim], f"{module}.{name} via typer.run (dwp CLI broken)"


def dwp_env(workdir: Path) -> dict[str, str]:
    """Keep ``dwp up``'s token record out of the user's real config dir."""
    return {"XDG_CONFIG_HOME": str(workdir / "config"), "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}


def start_dwp(workdir: Path, name: str, nodes: int, replicas: int,
              timeout: float = 180.0, workers: int = 1) -> Dwp:
    """``dwp up`` in its own process group, ready once /healthz answers 200 and (with
    ``workers`` > 1) every worker process listens on the port."""
    data_dir = workdir / name
    port = procs.free_port()
    argv, launcher = command("up", "browser_cli.up")
    argv += ["--data-dir", str(data_dir), "--port", str(port), "--host", "127.0.0.1",
             "--nodes", str(nodes), "--replicas", str(replicas)]
    if workers > 1:
        argv += ["--workers", str(workers)]
    p = procs.start(f"dwp-{name}", argv, workdir / "logs" / f"dwp-{name}.log",
                    env=dwp_env(workdir), cwd=workdir)
    procs.wait_http(f"http://127.0.0.1:{port}/healthz", timeout, p)
    _wait_listeners(port, workers, timeout)
    procs.remember_descendants(p)
    token = (data_dir / "token").read_text().strip()
    return Dwp(data_dir, port, token, p, " ".join(argv[:2]) if launcher.startswith(
        "dwp") else launcher)


def _wait_listeners(port: int, count: int, timeout: float) -> None:
    """Until ``count`` sockets listen on ``port`` (a worker joins once it is in Ray)."""
    deadline = time.monotonic() + timeout
    while count > 1 and time.monotonic() < deadline:
        out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True,
                             text=True, timeout=10).stdout
        if len(out.strip().splitlines()) >= count:
            return
        time.sleep(0.5)


def wait_in_sync(d: Dwp, timeout: float) -> bool:
    """Until every outbox is empty and each shard's replicas report one digest."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        net = d.network()
        nodes = net["nodes"]
        digests: dict[int, set[str]] = {}
        for n in nodes:
            digests.setdefault(n["shard"], set()).add(n.get("digest") or "")
        if all(n.get("outbox", 0) == 0 for n in nodes) and all(
                len(v) == 1 for v in digests.values()):
            return True
        time.sleep(1.0)
    return False


def stop_dwp(d: Dwp) -> None:
    procs.remember_descendants(d.proc)
    procs.stop(d.proc, grace=30.0)


def which(tool: str) -> str | None:
    return shutil.which(tool)
