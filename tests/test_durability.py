"""Durability: acknowledged writes survive SIGKILL of a storage actor and of a whole
``dwp up``, because each was fsync'd before it was acknowledged."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Net, eventually, free_port
from tests.test_replication import cut, keys_of_shard, pinned


def node_pid(net: Net, node: str) -> int | None:
    return next(n["pid"] for n in net.status()["nodes"] if n["id"] == node)


def test_a_killed_storage_actor_restarts_and_serves_what_it_acknowledged(
        healed: Net) -> None:
    net = healed
    victim, peer = net.shard_members(0)[:2]
    key = keys_of_shard(net, 0, 1, "kill")[0]
    big = os.urandom(300_000)
    cut(net, [victim], [peer])  # so only the victim's own disk can bring it back
    with net.http() as h:
        assert h.put(f"/api/v1/objects/{key}", content=b"acked",
                     headers={**net.auth, **pinned(victim)}).status_code == 200
        pid = node_pid(net, victim)
        assert pid
        os.kill(pid, signal.SIGKILL)
        r = eventually(lambda: (r := h.get(f"/api/v1/objects/{key}", headers=pinned(victim)))
                       .status_code == 200 and r, 60)
        assert r.content == b"acked"
        assert node_pid(net, victim) not in (None, pid)
    # the restarted actor is a full replica again: it coordinates, stores chunks, replicates
    with net.http() as h:
        big_key = keys_of_shard(net, 0, 1, "big")[0]
        put = h.put(f"/api/v1/objects/{big_key}", content=big,
                    headers={**net.auth, **pinned(victim)})
        assert put.status_code == 200
        token = {"X-DWP-Context": put.headers["x-dwp-context"]}
        assert h.get(f"/api/v1/objects/{big_key}", headers=token).content == big


class Up:
    """A ``dwp up`` in its own process group, so everything it started can be ended.
    ``serve_dir`` False: a member's gateway (``--network`` in ``options``), which serves
    no data dir but keeps its config and log beside it."""

    def __init__(self, data_dir: Path, port: int, *options: str,
                 serve_dir: bool = True) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = data_dir.parent / f"up-{port}-{uuid.uuid4().hex[:4]}.log"
        where = ["--data-dir", str(data_dir), "--nodes", "4", "--replicas", "2"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "browser_cli.main", "up", "--port", str(port),
             *(where if serve_dir else []), *options],
            start_new_session=True, stdout=subprocess.DEVNULL, stderr=self.log.open("wb"),
            env={**os.environ, "XDG_CONFIG_HOME": str(data_dir / "config")})

    def wait_ready(self) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"dwp up exited: {self.log.read_text()}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False
        eventually(ready, 120, 0.1)

    def kill_group(self) -> None:
        """SIGKILL the whole group: dwp up and the Ray processes it started."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)


@pytest.fixture
def ups() -> Iterator[list[Up]]:
    started: list[Up] = []
    yield started
    for up in started:
        up.kill_group()


def test_a_whole_dwp_up_killed_with_sigkill_comes_back_with_every_acked_write(
        tmp_path: Path, ups: list[Up]) -> None:
    data_dir, port = tmp_path / "net", free_port()
    ups.append(first := Up(data_dir, port))
    first.wait_ready()
    token = (data_dir / "token").read_text().strip()
    auth = {"Authorization": f"Bearer {token}"}
    acked: dict[str, bytes] = {}
    with httpx.Client(base_url=first.url, timeout=60) as h:
        for i in range(60):
            key = f"durable-{uuid.uuid4().hex[:6]}/f{i}.bin"
            body = os.urandom(100_000 if i % 10 == 0 else 100 + i)
            if h.put(f"/api/v1/objects/{key}", content=body, headers=auth).status_code == 200:
                acked[key] = body
    os.kill(first.proc.pid, signal.SIGKILL)  # the driver alone, as a crash would
    first.proc.wait(30)
    first.kill_group()  # then what it left behind, so the restart starts from nothing
    ups.append(second := Up(data_dir, port))
    second.wait_ready()
    with httpx.Client(base_url=second.url, timeout=60) as h:
        for key, body in acked.items():
            r = h.get(f"/api/v1/objects/{key}")
            assert r.status_code == 200 and r.content == body, key
    assert len(acked) == 60
