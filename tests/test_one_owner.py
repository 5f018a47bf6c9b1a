"""One owner per data dir, end to end: a second ``dwp up`` (or ``dwp network create``) on
a data dir in use refuses before it starts anything, naming the holder, while the first
keeps serving; a second ``dwp up`` on a busy port refuses before Ray starts; a second
node actor cannot open a store in use, while a restarted one takes over its own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import httpx
import pytest
import ray
from ray.exceptions import RayActorError

from dwp.core.messages import Ping
from dwp.local import NodeHomes
from dwp.node.actor import StorageNodeActor
from dwp.node.loop import NodeSettings
from tests.conftest import Net, eventually, free_port
from tests.test_durability import Up, ups  # noqa: F401 (the fixture)

DWP = [sys.executable, "-m", "browser_cli.main"]


def dwp(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DWP, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "XDG_CONFIG_HOME": str(home / "config")})


def test_a_second_dwp_up_on_a_data_dir_in_use_refuses_and_the_first_goes_on(
        tmp_path: Path, ups: list[Up]) -> None:  # noqa: F811
    data_dir = tmp_path / "net"
    ups.append(first := Up(data_dir, free_port()))
    first.wait_ready()
    token = (data_dir / "token").read_text().strip()
    written: list[str] = []
    stop = threading.Event()

    def keep_writing() -> None:
        with httpx.Client(base_url=first.url, timeout=60,
                          headers={"Authorization": f"Bearer {token}"}) as h:
            while not stop.is_set():
                key = f"owner/k{len(written)}"
                assert h.put(f"/api/v1/objects/{key}", content=key.encode()).status_code == 200
                written.append(key)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        second = dwp("up", "--data-dir", str(data_dir), "--port", str(free_port()),
                     home=tmp_path)
        create = dwp("network", "create", "again", "--data-dir", str(data_dir), home=tmp_path)
    finally:
        stop.set()
        writer.join(60)
    for refused in (second, create):
        assert refused.returncode == 1, refused.stderr
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
        assert f"{data_dir} is in use by dwp up (pid {first.proc.pid} on host " in lines[0]
    assert "Network '" not in second.stderr  # it started nothing
    assert not (data_dir / "nodes" / "n5").exists()
    assert len(written) > 0
    with httpx.Client(base_url=first.url, timeout=60) as h:
        for key in written:
            assert h.get(f"/api/v1/objects/{key}").content == key.encode()

        def digests_equal() -> bool:
            nodes = h.get("/api/v1/network").json()["nodes"]
            by_shard: dict[int, set[str]] = {}
            for n in nodes:
                by_shard.setdefault(n["shard"], set()).add(n["digest"])
            return all(len(d) == 1 and None not in d for d in by_shard.values())
        eventually(digests_equal, 60)
        history = h.get(f"/api/v1/objects/{written[0]}", params={"history": "true"}).json()
        assert len(history["versions"]) == 1  # one writer: one version, not two


def test_a_second_dwp_up_on_a_busy_port_refuses_before_ray_starts(tmp_path: Path) -> None:
    for shared in ("1", "2"):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            data_dir = tmp_path / f"net-{shared}"
            refused = dwp("up", "--data-dir", str(data_dir), "--port", str(port),
                          "--workers", shared, home=tmp_path)
        assert refused.returncode == 1, refused.stderr
        assert refused.stderr.strip().splitlines() == [
            f"dwp: cannot serve on 127.0.0.1:{port}: Address already in use (another dwp up "
            "or another server may be using it); give another --port"]
        assert not (data_dir / "view.json").exists()  # nothing was started or made


def test_a_store_in_use_is_refused_to_a_second_actor_and_taken_by_a_restarted_one(
        net: Net) -> None:
    node = net.shard_members(0)[0]
    home = NodeHomes(net.data_dir).of(net.client.view, node)
    settings = NodeSettings(net.client.transport.namespace, anti_entropy_interval=1.0)
    intruder = StorageNodeActor.options(
        name=f"intruder-{uuid.uuid4().hex[:6]}", namespace=settings.namespace,
        max_restarts=0, num_cpus=0).remote(node, home, net.client.view.to_json(), settings)
    with pytest.raises(RayActorError) as refused:
        ray.get(intruder.handle.remote("", Ping()), timeout=120)
    assert "is in use by storage node " + node in str(refused.value)

    pid = next(n["pid"] for n in net.status()["nodes"] if n["id"] == node)
    ray.kill(net.node(node), no_restart=False)  # Ray restarts it: it takes over its lock
    eventually(lambda: next(n for n in net.status()["nodes"] if n["id"] == node)["pid"]
               not in (None, pid), 120)
    net.wait_healthy()
