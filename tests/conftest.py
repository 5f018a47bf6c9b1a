"""Shared fixtures, one per layer a test exercises:
- ``inproc``: the gateway app over in-process nodes (no Ray, no socket), for every test of
  what the gateway and the nodes do;
- ``net``: one real local Ray per session and one real network behind a real gateway on a
  loopback port, started the way ``dwp up`` starts them, for what only Ray or a real HTTP
  server shows (actors, processes, hosts, the CLI, browsers)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import ray
import uvicorn
from ray.cluster_utils import Cluster
from typer.testing import CliRunner, Result

from dwp.client.membership import Membership
from dwp.client.network import NetworkClient
from dwp.core.messages import Message
from dwp.local import HOST_LABEL, LOCAL_HOST, bind_loopback, start_network
from dwp.node.actor import actor_name
from gateway import GatewaySettings, Network, create_app
from gateway.server import config as server_config
from tests.inprocess import URL, PortalTransport, in_process_network

# Modules that bind fixed ports or addresses (the docs' 8000 and 54631, the LAN test's
# namespace hosts on 10.77.0.0/24): under pytest-xdist one worker runs them all, one after
# another (`pytest -n 2 --dist loadgroup`); every other test binds what it is given.
FIXED_PORTS = ("test_docs_commands.py", "test_lan_hosts.py")
TEST_MAX_UPLOAD = 16 * 1024 * 1024
# A LAN address of the gateway's machine, as another machine names it (TEST-NET-1: never
# dialled). Tests send it as the Host of a connection to loopback, so the gateways they
# start answer for it as for an address they listen on.
LAN_HOST = "192.0.2.10"
TEST_SETTINGS = GatewaySettings(TEST_MAX_UPLOAD, fault_injection=True,
                                allowed_hosts=(LAN_HOST,))


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in FIXED_PORTS:
            item.add_marker(pytest.mark.xdist_group("fixed-ports"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def eventually(check: Callable[[], Any], timeout: float = 30.0, every: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; fail with its last answer. The
    first polls come 10 ms apart, doubling up to ``every``: most conditions hold within
    a fraction of a second, and a wait should not outlast its condition by a whole tick."""
    deadline = time.monotonic() + timeout
    last: Any = None
    pause = min(every, 0.01)
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(pause)
        pause = min(every, pause * 2)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


def put_many(net: Net, keys: list[str]) -> None:
    """Write ``keys``, each holding its own name, 16 at a time (replicas commit them in
    groups), so a test with many keys does not wait on one fsync after another."""
    def one(h: httpx.Client, key: str) -> None:
        r = h.put(f"/api/v1/objects/{key}", content=key.encode())
        assert r.status_code == 200, r.text
    with net.http(headers=net.auth) as h, ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: one(h, key), keys))


@dataclass
class Net:
    """A running network and its gateway, as a test sees them."""

    url: str
    token: str
    data_dir: Path
    client: NetworkClient
    transport: httpx.BaseTransport | None = None  # None: real HTTP to ``url``

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def http(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, transport=self.transport,
                            **kwargs)

    def ui(self, **kwargs: Any) -> httpx.Client:
        """A client that signed in to the UI as a person does, through a one-time link
        (``POST /api/v1/sign-in``), and names the UI's origin on every request as a
        browser does on its writes."""
        with self.http() as first:
            link = first.post("/api/v1/sign-in", headers=self.auth)
            assert link.status_code == 200, link.text
            assert first.get(link.json()["url"]).status_code == 303
            cookies = first.cookies
        headers = {"Origin": self.url, **kwargs.pop("headers", {})}
        return self.http(headers=headers, cookies=cookies, **kwargs)

    def node(self, node_id: str) -> Any:
        """The node's Ray actor (``net`` only)."""
        return ray.get_actor(actor_name(node_id), namespace=self.client.transport.namespace)

    def ask(self, node_id: str, message: Message) -> Any:
        """One message straight to a node's actor, as its peers send them."""
        return ray.get(self.node(node_id).handle.remote("test", message), timeout=60)

    def status(self) -> dict[str, Any]:
        with self.http() as h:
            return h.get("/api/v1/network").json()

    def shard_members(self, shard: int) -> tuple[str, ...]:
        return self.client.view.shards[shard]

    def digests_equal(self) -> bool:
        """Every shard's replicas are up and hold identical data."""
        nodes = self.status()["nodes"]
        for members in self.client.view.shards.values():
            digests = {n["digest"] for n in nodes if n["id"] in members}
            if len(digests) != 1 or None in digests:
                return False
        return True

    def wait_healthy(self, timeout: float = 60) -> None:
        def ok() -> bool:
            try:
                with self.http() as h:
                    return h.get("/healthz").status_code == 200 and all(
                        n["status"] == "up" for n in self.status()["nodes"])
            except httpx.HTTPError:
                return False
        eventually(ok, timeout)


HOSTS = ("h1", "h2", "h3")


@dataclass
class RayCluster:
    """One Ray for the whole session: a head labelled as this machine's host plus three
    raylets labelled as LAN hosts, so tests can add and remove "hosts"."""

    cluster: Cluster
    hosts: dict[str, Any]

    def remove_host(self, host: str) -> None:
        self.cluster.remove_node(self.hosts.pop(host))

    def add_host(self, host: str) -> None:
        self.hosts[host] = self.cluster.add_node(**host_args(host))


def host_args(host: str) -> dict[str, Any]:
    return {"num_cpus": 1, "labels": {HOST_LABEL: host},
            "object_store_memory": 80 * 2**20}


@pytest.fixture(scope="session")
def ray_runtime() -> Iterator[RayCluster]:
    bind_loopback()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "labels": {HOST_LABEL: LOCAL_HOST},
        "object_store_memory": 200 * 2**20, "include_dashboard": False})
    hosts = {h: cluster.add_node(**host_args(h)) for h in HOSTS}
    ray.init(address=cluster.address, logging_level="WARNING", log_to_driver=False,
             configure_logging=False)
    yield RayCluster(cluster, hosts)
    ray.shutdown()
    cluster.shutdown()


@contextlib.contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port while the caller runs, as ``dwp up`` does
    (``gateway.server``: uvicorn with its bounds on request heads, on a socket bound
    first, so no other process, such as another pytest-xdist worker, takes the port
    between its choice and its use)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(server_config(app))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    eventually(lambda: server.started, 30)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextlib.contextmanager
def gateway(networks: list[Network]) -> Iterator[str]:
    """A real gateway for ``networks`` on a free loopback port; answers its URL."""
    app = create_app(networks, TEST_SETTINGS)
    try:
        with running(app) as url:
            yield url
    finally:
        for network in networks:
            stop_nodes(network.client)


@contextlib.contextmanager
def networks_served(tmp_path_factory: pytest.TempPathFactory, *prefixes: str
                    ) -> Iterator[tuple[str, list[Network]]]:
    """A real gateway for fresh two-node networks named ``{prefix}-{random}`` (Ray
    namespaces outlive a test), the first the default, as ``dwp up --data-dir A
    --data-dir B`` serves them; answers its URL and the networks."""
    networks = []
    for prefix in prefixes:
        data_dir = tmp_path_factory.mktemp(prefix)
        client, membership = start_network(data_dir, name=f"{prefix}-{uuid.uuid4().hex[:6]}",
                                           nodes=2, replicas=2, anti_entropy_interval=1.0)
        networks.append(Network(client, (data_dir / "token").read_text().strip(), membership))
    with gateway(networks) as url:
        yield url, networks


def stop_nodes(client: NetworkClient) -> None:
    """Every node actor of the client's network, members of its view or not."""
    namespace = client.transport.namespace
    for node in running_nodes(namespace):
        with contextlib.suppress(ValueError):
            ray.kill(ray.get_actor(actor_name(node), namespace=namespace), no_restart=True)


def running_nodes(namespace: str) -> list[str]:
    """Ids of the node actors the Ray cluster runs in a network's namespace, members of
    its view or not."""
    prefix = actor_name("")
    return sorted(a["name"][len(prefix):] for a in ray.util.list_named_actors(all_namespaces=True)
                  if a["namespace"] == namespace and a["name"].startswith(prefix))


def serve(client: NetworkClient, membership: Membership, data_dir: Path) -> Iterator[Net]:
    """Run a real gateway for one network while the caller runs."""
    secret = (data_dir / "token").read_text().strip()
    with gateway([Network(client, secret, membership)]) as url:
        network = Net(url, secret, data_dir, client)
        network.wait_healthy()
        yield network


@pytest.fixture(scope="session")
def net(ray_runtime: RayCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    """End to end: Ray actors (SQLite in their data dirs), the gateway on uvicorn on a
    loopback port, real HTTP. One per session: Ray and four actors take seconds."""
    data_dir = tmp_path_factory.mktemp("network")
    client, membership = start_network(data_dir, name="test", nodes=4, replicas=2,
                                       anti_entropy_interval=1.0)
    yield from serve(client, membership, data_dir)


@pytest.fixture(scope="module")
def inproc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    """The gateway app (``create_app``) over real nodes, SQLite stores on disk, the real
    ``NetworkClient`` and ``Membership``, in this process: no Ray, no HTTP server, no
    socket (``tests.inprocess``). One per module, so modules share no data."""
    with served_in_process(tmp_path_factory.mktemp("inproc")) as served:
        yield served


@contextlib.contextmanager
def served_in_process(data_dir: Path, **create: Any) -> Iterator[Net]:
    """What ``inproc`` serves, over a network made in ``data_dir`` with ``create``:
    more of ``open_network``'s settings, for a test of a network set otherwise."""
    with in_process_network(data_dir, **create) as network:
        app = create_app([Network(network.client, network.secret, network.membership)],
                         TEST_SETTINGS)
        transport = PortalTransport(app, network.portal)
        yield Net(URL, network.secret, data_dir, network.client, transport)


@pytest.fixture
def healed(net: Net) -> Iterator[Net]:
    """The network, with any fault-injection partition healed afterwards."""
    yield net
    with net.http() as h:
        h.delete("/api/v1/faults", headers=net.auth)


@pytest.fixture
def dwp(net: Net, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """The ``dwp`` command, in process, against the session's network, with the token
    recorded as ``dwp up`` records it and a config dir of the test's own."""
    from browser_cli import config
    from browser_cli.main import app

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("DWP_GATEWAY", net.url)
    monkeypatch.delenv("DWP_TOKEN", raising=False)
    config.record_token(net.url, net.token)

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(app, list(args), input=input)
    return invoke
