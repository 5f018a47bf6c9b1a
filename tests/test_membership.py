"""Networks that change: join, leave, a host that dies and comes back, and removal of a
dead node, on a Ray cluster whose raylets are labelled as three LAN hosts. Each test
builds the network it starts from, so any one runs alone and in any order."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dwp.local import start_network
from tests.conftest import HOSTS, Net, RayCluster, eventually, put_many, serve

KEYS = 1000
TWO_HOSTS, THREE_HOSTS = ["h1", "h2"], ["h1", "h2", "h3"]


@pytest.fixture
def cluster(ray_runtime: RayCluster) -> Iterator[RayCluster]:
    """The session's Ray cluster; a LAN host a test took away is back afterwards."""
    yield ray_runtime
    for host in HOSTS:
        if host not in ray_runtime.hosts:
            ray_runtime.add_host(host)


@pytest.fixture
def lan(request: pytest.FixtureRequest, cluster: RayCluster, tmp_path: Path
        ) -> Iterator[Net]:
    """A network of its own, one node on each host the test names (indirect parameter;
    default h1 and h2), R=2; its nodes stop when the test ends."""
    hosts: list[str] = getattr(request, "param", TWO_HOSTS)
    data_dir = tmp_path / "lan"
    client, membership = start_network(data_dir, name=f"lan{uuid.uuid4().hex[:6]}",
                                       replicas=2, hosts=hosts, anti_entropy_interval=1.0,
                                       node_root=str(data_dir))
    yield from serve(client, membership, data_dir)


@pytest.fixture
def stored(lan: Net) -> dict[str, bytes]:
    """KEYS keys written to the test's network, each holding its own name."""
    values = {f"lan/{i // 100}/k{i:04}.txt": f"lan/{i // 100}/k{i:04}.txt".encode()
              for i in range(KEYS)}
    put_many(lan, list(values))
    return values


def assert_all_readable(net: Net, values: dict[str, bytes]) -> None:
    with net.http() as h:
        for key, body in values.items():
            r = h.get(f"/api/v1/objects/{key}")
            assert r.status_code == 200 and r.content == body, (key, r.status_code)


def assert_balanced_and_converged(net: Net, keys: int) -> dict[str, object]:
    eventually(net.digests_equal, 90)
    status = net.status()
    sizes = [len(s["replicas"]) for s in status["shards"]]
    parts = [s["partitions"] for s in status["shards"]]
    assert min(sizes) >= status["replicas"] and max(sizes) - min(sizes) <= 1
    assert max(parts) - min(parts) <= 1 and sum(parts) == status["partitions"]
    for shard in status["shards"]:
        counts = {n["keys"] for n in status["nodes"] if n["id"] in shard["replicas"]}
        assert len(counts) == 1
    assert sum(n["keys"] for n in status["nodes"]) >= keys * status["replicas"]
    return status


class Readers:
    """Clients reading random stored keys while a change runs; every failure is kept."""

    def __init__(self, net: Net, values: dict[str, bytes]) -> None:
        self.net, self.values = net, list(values.items())
        self.failures: list[str] = []
        self.reads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rng = random.Random(7)
        with self.net.http() as h:
            while not self._stop.is_set():
                key, body = rng.choice(self.values)
                r = h.get(f"/api/v1/objects/{key}")
                self.reads += 1
                if r.status_code != 200 or r.content != body:
                    self.failures.append(f"{key}: {r.status_code}")

    def __enter__(self) -> Readers:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def change(net: Net, method: str, path: str, **kwargs: object) -> dict[str, object]:
    with net.http() as h:
        r = h.request(method, path, headers=net.auth, timeout=600, **kwargs)  # type: ignore[arg-type]
        assert r.status_code == 200, r.text
        return r.json()


def test_join_a_third_host_streams_every_key_to_it(lan: Net, stored: dict[str, bytes]) -> None:
    with Readers(lan, stored) as readers:
        status = change(lan, "POST", "/api/v1/network/nodes", json={"host": "h3"})
    assert readers.failures == [] and readers.reads > 0
    assert status["epoch"] == 2
    assert {n["host"] for n in status["nodes"]} == {"h1", "h2", "h3"}
    assert_all_readable(lan, stored)
    status = assert_balanced_and_converged(lan, KEYS)
    assert all(n["keys"] == KEYS for n in status["nodes"])  # one shard, three replicas


@pytest.mark.parametrize("lan", [THREE_HOSTS], indirect=True, ids=["h1+h2+h3"])
def test_a_node_leaves_after_handing_off(lan: Net, stored: dict[str, bytes]) -> None:
    with Readers(lan, stored) as readers:
        status = change(lan, "DELETE", "/api/v1/network/nodes/n1")
    assert readers.failures == []
    assert [n["id"] for n in status["nodes"]] == ["n2", "n3"]
    assert_all_readable(lan, stored)
    assert_balanced_and_converged(lan, KEYS)


def test_a_view_change_while_writes_run_loses_no_acknowledged_write(lan: Net) -> None:
    acked: dict[str, bytes] = {}
    stop = threading.Event()

    def write() -> None:
        with lan.http() as h:
            for i in range(100_000):
                if stop.is_set():
                    return
                key, body = f"during/{uuid.uuid4().hex[:8]}-{i}", f"w{i}".encode()
                try:
                    r = h.put(f"/api/v1/objects/{key}", content=body, headers=lan.auth)
                except httpx.HTTPError:
                    continue
                if r.status_code == 200:
                    acked[key] = body

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    change(lan, "POST", "/api/v1/network/nodes", json={"host": "h1"})
    stop.set()
    writer.join(30)
    assert len(acked) > 0
    eventually(lan.digests_equal, 90)
    assert_all_readable(lan, acked)


def test_a_host_dies_reads_go_on_and_its_node_comes_back(
        lan: Net, stored: dict[str, bytes], cluster: RayCluster) -> None:
    before = {n["id"]: n for n in lan.status()["nodes"]}
    victim = next(n for n in before.values() if n["host"] == "h2")
    cluster.remove_host("h2")
    eventually(lambda: next(n for n in lan.status()["nodes"] if n["id"] == victim["id"])
               ["status"] == "down", 90)
    assert_all_readable(lan, stored)
    cluster.add_host("h2")
    back = eventually(lambda: (n := next(n for n in lan.status()["nodes"]
                                         if n["id"] == victim["id"]))["status"] == "up" and n,
                      120)
    assert back["replica_id"] == victim["replica_id"]  # the same data dir, reopened
    eventually(lan.digests_equal, 90)


@pytest.mark.parametrize("lan", [THREE_HOSTS], indirect=True, ids=["h1+h2+h3"])
def test_removing_a_dead_node_restores_r_copies(
        lan: Net, stored: dict[str, bytes], cluster: RayCluster) -> None:
    """A node that answers is not removed by force; a dead one is, its shard copied from
    the survivors, and collection runs again at once (it waits for no hand-off of it)."""
    victim = next(n for n in lan.status()["nodes"] if n["host"] == "h2")["id"]
    with lan.http() as h:
        alive = h.delete(f"/api/v1/network/nodes/{victim}", params={"force": "true"},
                         headers=lan.auth, timeout=120)
        assert alive.status_code == 409 and "answers" in alive.json()["detail"], alive.text
    cluster.remove_host("h2")
    eventually(lambda: next(n for n in lan.status()["nodes"] if n["id"] == victim)
               ["status"] == "down", 90)
    with lan.http() as h:
        refused = h.post("/api/v1/network/nodes", json={"host": "h3"}, headers=lan.auth,
                         timeout=120)
        assert refused.status_code == 409 and victim in refused.json()["detail"]
    status = change(lan, "DELETE", f"/api/v1/network/nodes/{victim}",
                    params={"force": "true"})
    assert victim not in [n["id"] for n in status["nodes"]]
    assert_all_readable(lan, stored)
    status = assert_balanced_and_converged(lan, KEYS)
    assert all(n["status"] == "up" for n in status["nodes"])
    with lan.http() as h:
        rounds = []

        def collected() -> bool:
            rounds.append(h.post("/api/v1/gc", params={"dry_run": "true"}, headers=lan.auth,
                                 timeout=60).json())
            return rounds[-1]["skipped"] == []
        eventually(collected, 60, every=1.0)
