"""LAN mode on the session's Ray cluster: `dwp network create --address` places nodes on
labelled hosts, `dwp up --address` serves them, and the network outlives its gateway."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dwp.actor import RayTransport
from dwp.client import NetworkClient
from dwp.local import namespace_of
from dwp.view import View
from tests.conftest import RayCluster, eventually, free_port, stop_nodes

DWP = [sys.executable, "-m", "browser_cli.main"]


def dwp(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DWP, *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}


@pytest.fixture
def created(ray_runtime: RayCluster, tmp_path: Path, env: dict[str, str]) -> Iterator[Path]:
    data_dir = tmp_path / "club"
    done = dwp("network", "create", "club", "--hosts", "h2,h3", "--replicas", "2",
               "--data-dir", str(data_dir), "--address", ray_runtime.cluster.address,
               "--node-root", str(tmp_path / "hosts"), env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["nodes"] == ["n1", "n2"] and "dwp up" in done.stderr
    yield data_dir
    view = View.from_json((data_dir / "view.json").read_text())
    stop_nodes(NetworkClient(view, RayTransport(namespace_of(view.name)), ""))


def serve(address: str, data_dir: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([*DWP, "up", "--address", address, "--data-dir", str(data_dir),
                             "--port", str(port)], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert proc.poll() is None, "dwp up exited"
        try:
            return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    eventually(ready, 120, 0.5)
    return proc, url


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(60)


def test_a_created_network_is_served_and_outlives_its_gateway(
        ray_runtime: RayCluster, created: Path, env: dict[str, str]) -> None:
    token = {"Authorization": f"Bearer {(created / 'token').read_text().strip()}"}
    proc, url = serve(ray_runtime.cluster.address, created, env)
    try:
        status = httpx.get(f"{url}/api/v1/network").json()
        assert {n["host"] for n in status["nodes"]} == {"h2", "h3"}
        assert all(n["status"] == "up" for n in status["nodes"])
        r = httpx.put(f"{url}/api/v1/objects/club/index.html", content=b"<h1>club</h1>",
                      headers=token)
        assert r.status_code == 200
        pids = {n["id"]: n["pid"] for n in status["nodes"]}
    finally:
        stop(proc)
    proc, url = serve(ray_runtime.cluster.address, created, env)
    try:
        assert httpx.get(f"{url}/api/v1/objects/club/index.html").content == b"<h1>club</h1>"
        again = httpx.get(f"{url}/api/v1/network").json()
        assert {n["id"]: n["pid"] for n in again["nodes"]} == pids  # the same actors
    finally:
        stop(proc)
