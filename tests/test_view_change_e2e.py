"""View changes on real Ray under load; a whole ``dwp up`` killed during a join; and in
LAN mode, a gateway killed during a join whose change a new gateway finishes or undoes:
every acknowledged write reads back with its bytes, and a client carrying its token reads
everything it wrote. (The protocol's corner cases run in the simulator, tests/simulation.)"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from ray.exceptions import RayError

from dwp.client.network import NetworkClient
from dwp.core.messages import GetView, ViewState
from dwp.core.view import View
from dwp.local import start_network
from tests.conftest import (
    Net,
    RayCluster,
    eventually,
    free_port,
    running_nodes,
    serve,
    stop_nodes,
)
from tests.test_durability import Up, ups  # noqa: F401  (the fixture)
from tests.test_membership import change


@pytest.fixture
def small(ray_runtime: RayCluster, tmp_path: Path) -> Iterator[Net]:
    """A fresh 4-node network with R=2 on this machine's host."""
    client, membership = start_network(tmp_path / "net", name=f"e2e{uuid.uuid4().hex[:4]}",
                                       nodes=4, replicas=2, anti_entropy_interval=1.0)
    yield from serve(client, membership, tmp_path / "net")


class Writers:
    """Two clients writing fresh keys (some chunked) and, with ``rewrite``, one rewriting
    a key with its context, each carrying its own token, until stopped. (A write cut off
    by a killed gateway may land unacknowledged, so a rewritten key reads back only
    where nothing is killed.)"""

    REWRITER = 2

    def __init__(self, net: Net, rewrite: bool = True) -> None:
        self.net = net
        self.acked: dict[str, bytes] = {}
        self.tokens: dict[int, str] = {}
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._fresh, args=(i,), daemon=True)
                        for i in range(2)]
        if rewrite:
            self.threads.append(threading.Thread(target=self._rewrite, daemon=True))

    def _put(self, h: httpx.Client, who: int, key: str, body: bytes) -> bool:
        headers = {**self.net.auth, "X-DWP-Context": self.tokens.get(who, "")}
        try:
            r = h.put(f"/api/v1/objects/{key}", content=body, headers=headers)
        except httpx.HTTPError:
            return False
        if r.status_code != 200:
            return False
        self.acked[key] = body
        self.tokens[who] = r.headers["x-dwp-context"]
        return True

    def _fresh(self, who: int) -> None:
        with self.net.http() as h:
            for i in range(100_000):
                if self.stop.is_set():
                    return
                size = 150_000 if i % 7 == 0 else 50 + i % 300
                self._put(h, who, f"e2e/w{who}/{uuid.uuid4().hex[:6]}-{i}", os.urandom(size))

    def _rewrite(self) -> None:
        with self.net.http() as h:
            for i in range(100_000):
                if self.stop.is_set():
                    return
                self._put(h, self.REWRITER, "e2e/counter", str(i).encode())

    def written_by(self, who: int) -> list[str]:
        """The keys ``who`` was acknowledged for, in the order it wrote them."""
        if who == self.REWRITER:
            return ["e2e/counter"]
        return [k for k in self.acked if k.startswith(f"e2e/w{who}/")]

    def __enter__(self) -> Writers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)


def assert_read_back(h: httpx.Client, writers: Writers) -> None:
    """Every acknowledged write reads back with its bytes, and each client's last token
    reads everything it wrote: never a 404, a 503 or an older value. The plain reads go
    16 at a time, and each client's chain of token reads beside the others'."""
    def plain(key: str) -> None:
        r = h.get(f"/api/v1/objects/{key}")
        assert r.status_code == 200 and r.content == writers.acked[key], (key, r.status_code)

    def chain(who: int) -> None:
        token = writers.tokens[who]
        for key in writers.written_by(who):
            r = h.get(f"/api/v1/objects/{key}", headers={"X-DWP-Context": token})
            assert r.status_code == 200 and r.content == writers.acked[key], (
                key, r.status_code)
            token = r.headers["x-dwp-context"]

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(plain, list(writers.acked)))
    assert len(writers.tokens) == len(writers.threads)  # every client was acknowledged
    with ThreadPoolExecutor(len(writers.tokens)) as pool:
        list(pool.map(chain, list(writers.tokens)))


@pytest.mark.timeout(900)  # four changes of 1,024 partitions under writers: 4-6 minutes
def test_writers_lose_nothing_while_the_network_goes_4_6_5_6(small: Net) -> None:
    with Writers(small) as writers:
        change(small, "POST", "/api/v1/network/nodes", json={})
        epoch3 = change(small, "POST", "/api/v1/network/nodes", json={})
        leaver = epoch3["nodes"][0]["id"]
        change(small, "DELETE", f"/api/v1/network/nodes/{leaver}")
        final = change(small, "POST", "/api/v1/network/nodes", json={})
    assert len(final["shards"]) == 3 and final["epoch"] == 5
    members = sorted(n["id"] for n in final["nodes"])  # the leaver ends once handed off,
    eventually(lambda: running_nodes(small.client.transport.namespace) == members, 120)
    assert not (small.data_dir / "nodes" / leaver).exists()  # and its data dir goes
    assert len(writers.acked) > 50
    eventually(small.digests_equal, 120)
    with small.http() as h:
        assert_read_back(h, writers)


def test_a_dwp_up_killed_during_a_join_restarts_on_one_committed_view(
        tmp_path: Path, ups: list[Up]) -> None:  # noqa: F811
    data_dir, port = tmp_path / "net", free_port()
    ups.append(first := Up(data_dir, port))
    first.wait_ready()
    auth = {"Authorization": f"Bearer {(data_dir / 'token').read_text().strip()}"}
    acked: dict[str, bytes] = {}
    with httpx.Client(base_url=first.url, timeout=60) as h:
        for i in range(40):
            key, body = f"killed/{i}", os.urandom(100_000 if i % 8 == 0 else 200)
            if h.put(f"/api/v1/objects/{key}", content=body, headers=auth).status_code == 200:
                acked[key] = body
    def join() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the gateway is killed mid-answer
            httpx.post(f"{first.url}/api/v1/network/nodes", json={}, headers=auth, timeout=120)
    joining = threading.Thread(target=join, daemon=True)
    joining.start()
    eventually(lambda: (data_dir / "nodes" / "n5").exists(), 60, 0.05)
    os.kill(first.proc.pid, signal.SIGKILL)
    first.proc.wait(30)
    first.kill_group()
    ups.append(second := Up(data_dir, port))
    second.wait_ready()
    with httpx.Client(base_url=second.url, timeout=60) as h:
        status = h.get("/api/v1/network").json()
        assert status["epoch"] in (1, 2)
        for key, body in acked.items():
            r = h.get(f"/api/v1/objects/{key}")
            assert r.status_code == 200 and r.content == body, key
        joined = h.post("/api/v1/network/nodes", json={}, headers=auth, timeout=300)
        assert joined.status_code == 200, joined.text
        assert joined.json()["epoch"] == status["epoch"] + 1
        for key, body in acked.items():
            assert h.get(f"/api/v1/objects/{key}").content == body, key


@pytest.fixture
def lan(ray_runtime: RayCluster, tmp_path: Path) -> Iterator[tuple[Path, NetworkClient]]:
    """A network with one node on each LAN host h1-h3 (R=2), created in the session's
    Ray cluster and served by no gateway yet; every node actor of it ends afterwards."""
    name = f"lan{uuid.uuid4().hex[:4]}"
    client, _ = start_network(tmp_path / "lan", name=name, replicas=2,
                              hosts=["h1", "h2", "h3"], anti_entropy_interval=1.0,
                              node_root=str(tmp_path / "hosts"))
    yield tmp_path / "lan", client
    stop_nodes(client)


def lan_gateway(data_dir: Path, address: str, member: bool = False) -> Up:
    """``dwp up --address``, a driver of the cluster: the creator's gateway on its data
    dir, or (``member``) another member's, which reads the view from the nodes."""
    options = ["--address", address, "--anti-entropy-interval", "1"]
    if member:
        name = View.from_json((data_dir / "view.json").read_text()).name
        options += ["--network", name, "--host-label", "h1",
                    "--token-file", str(data_dir / "token")]
    up = Up(data_dir, free_port(), *options, serve_dir=not member)
    up.wait_ready()
    return up


def view_state(net: Net, node: str) -> ViewState | None:
    """A node's committed view and prepared proposal, asked of its actor (None: it does
    not run)."""
    try:
        state: ViewState = net.ask(node, GetView())
    except (ValueError, RayError):
        return None
    return state


def prepared(net: Net, node: str) -> bool:
    """The node runs and holds a proposal: for a joiner, every node before it prepared."""
    state = view_state(net, node)
    return state is not None and state.pending is not None


def join_cut_off(net: Net, host: str) -> None:
    """Ask the gateway to add a node on ``host``; it is killed before it answers."""
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(f"{net.url}/api/v1/network/nodes", json={"host": host},
                   headers=net.auth, timeout=120)


def kill_during_a_join(net: Net, gateway: Up, writers: Writers) -> dict[str, ViewState | None]:
    """Start a join through the gateway and SIGKILL it once the joiner has prepared (every
    node has, and the copy runs); answer what each node then holds."""
    joiner = net.client.view.new_node_id()
    eventually(lambda: len(writers.tokens) == len(writers.threads)
               and len(writers.acked) >= 40, 60)
    joining = threading.Thread(target=join_cut_off, args=(net, "h1"), daemon=True)
    joining.start()
    eventually(lambda: prepared(net, joiner), 60, 0.02)
    os.kill(gateway.proc.pid, signal.SIGKILL)
    gateway.proc.wait(30)
    joining.join(60)
    return {n: view_state(net, n) for n in [*net.client.view.members, joiner]}


@pytest.mark.parametrize("member", [False, True], ids=["restarted", "member"])
def test_a_lan_gateway_killed_during_a_join_leaves_a_new_one_to_finish_or_undo_it(
        ray_runtime: RayCluster, lan: tuple[Path, NetworkClient], member: bool,
        ups: list[Up]) -> None:  # noqa: F811
    """The new gateway is the same one restarted on its data dir, or a member's."""
    data_dir, client = lan
    address = ray_runtime.cluster.address
    ups.append(first := lan_gateway(data_dir, address))
    net = Net(first.url, (data_dir / "token").read_text().strip(), data_dir, client)
    with Writers(net, rewrite=False) as writers:
        left = kill_during_a_join(net, first, writers)
    assert any(s is not None and s.pending for s in left.values()), left  # mid-change
    decided = max(View.from_json(s.view).epoch for s in left.values() if s is not None)
    assert any(len(body) > 64 * 1024 for body in writers.acked.values())  # chunked

    ups.append(second := lan_gateway(data_dir, address, member))  # it recovers, then serves
    after = {n: view_state(net, n) for n in left}
    running = {n: s for n, s in after.items() if s is not None}
    final = View.from_json(next(iter(running.values())).view)
    assert final.epoch == decided and set(running) == set(final.members)
    assert all(View.from_json(s.view) == final and s.pending is None  # only recover()
               for s in running.values()), after  # undoes a proposal; nothing else does
    net = Net(second.url, net.token, data_dir, client)
    assert net.status()["epoch"] == final.epoch
    with net.http() as h:
        assert_read_back(h, writers)
    again = change(net, "POST", "/api/v1/network/nodes", json={"host": "h1"})
    assert again["epoch"] == final.epoch + 1
    with net.http() as h:
        assert_read_back(h, writers)
