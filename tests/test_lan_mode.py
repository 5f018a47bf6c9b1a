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

from dwp.client.network import NetworkClient
from dwp.core.view import View
from dwp.local import namespace_of
from dwp.node.actor import RayTransport
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
               "--node-root", str(tmp_path / "hosts"), "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["nodes"] == ["n1", "n2"]
    yield data_dir
    view = View.from_json((data_dir / "view.json").read_text())
    stop_nodes(NetworkClient(view, RayTransport(namespace_of(view.name)), ""))


def serve(address: str, data_dir: Path | None, env: dict[str, str],
          *args: str) -> tuple[subprocess.Popen[bytes], str]:
    """`dwp up --address` on a free port: for ``data_dir``, or as given by ``args``."""
    port = free_port()
    where = ["--data-dir", str(data_dir)] if data_dir else []
    proc = subprocess.Popen([*DWP, "up", "--address", address, *where, *args,
                             "--port", str(port)], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert proc.poll() is None, "dwp up exited"
        try:
            return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    eventually(ready, 120, 0.1)
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


def test_network_commands_run_end_to_end(
        ray_runtime: RayCluster, created: Path, env: dict[str, str]) -> None:
    proc, url = serve(ray_runtime.cluster.address, created, env)
    try:
        at = {**env, "DWP_GATEWAY": url}
        status = dwp("network", "status", env=at)
        assert status.returncode == 0, status.stderr
        assert "2 nodes, 1 shard x 2 replicas" in status.stdout
        joined = dwp("network", "join", "--host", "h1", env=at)
        assert joined.returncode == 0, joined.stderr
        assert "epoch 2" in joined.stdout and "n3@h1 (shard 0, up)" in joined.stdout
        status = dwp("network", "status", "--json", env=at)
        doc = json.loads(status.stdout)
        assert [s["replicas"] for s in doc["shards"]] == [["n1", "n2", "n3"]]
        assert "1 shard x 3 replicas" in dwp("network", "status", env=at).stdout
        left = dwp("network", "leave", "n3", env=at)
        assert left.returncode == 0, left.stderr
        assert "epoch 3" in left.stdout and "n3@" not in left.stdout
    finally:
        stop(proc)


def test_a_member_gateway_reads_the_view_from_the_nodes(
        ray_runtime: RayCluster, created: Path, env: dict[str, str]) -> None:
    """Two gateways of one network, the second with no data dir: a write through one is
    read through the other with its context token, both ways; a change made through the
    second is what the first serves when it restarts."""
    secret = (created / "token").read_text().strip()
    first, url_a = serve(ray_runtime.cluster.address, created, env)
    member_env = {**env, "DWP_TOKEN": secret}
    second, url_b = serve(ray_runtime.cluster.address, None, member_env,
                          "--network", "club", "--host-label", "h1")
    try:
        auth = {"Authorization": f"Bearer {secret}"}
        assert httpx.get(f"{url_b}/api/v1/network").json()["epoch"] == 1
        for writer, reader, body in ((url_a, url_b, b"from a"), (url_b, url_a, b"from b")):
            put = httpx.put(f"{writer}/api/v1/objects/club/note.txt", content=body,
                            headers=auth)
            assert put.status_code == 200, put.text
            got = httpx.get(f"{reader}/api/v1/objects/club/note.txt",
                            headers={"X-DWP-Context": put.headers["X-DWP-Context"]})
            assert got.status_code == 200 and got.content == body
        joined = dwp("network", "join", "--host", "h1", env={**member_env,
                                                             "DWP_GATEWAY": url_b})
        assert joined.returncode == 0, joined.stderr
        assert httpx.get(f"{url_b}/api/v1/network").json()["epoch"] == 2
        stop(first)  # restarted on its data dir, it takes the newer view from the nodes
        first, url_a = serve(ray_runtime.cluster.address, created, env)
        assert httpx.get(f"{url_a}/api/v1/network").json()["epoch"] == 2
        assert View.from_json((created / "view.json").read_text()).epoch == 2
    finally:
        stop(second)
        stop(first)


@pytest.mark.parametrize(("args", "says"), [
    (["--network", "club"], "give --address"),
    (["--network", "club", "--address", "auto", "--data-dir", "x"], "no --data-dir"),
    (["--token-file", "t"], "--token-file goes with --network"),
    (["--network", "club", "--address", "auto", "--token-file", "missing"], "cannot read"),
])
def test_up_refuses_a_member_gateway_it_cannot_serve(
        args: list[str], says: str, env: dict[str, str], tmp_path: Path) -> None:
    """Usage errors are found before Ray starts: exit 2 and a line naming the problem."""
    done = subprocess.run([*DWP, "up", *args], capture_output=True, text=True, timeout=60,
                          env={**env, "DWP_TOKEN": "", "COLUMNS": "400"}, cwd=tmp_path)
    assert done.returncode == 2 and says in done.stderr, done.stderr
