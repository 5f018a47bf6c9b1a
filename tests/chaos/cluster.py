"""The system under test: a network on the labelled Ray hosts behind a gateway that can
be stopped and started again on the same port while clients keep their tokens."""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import ray
import uvicorn
from ray.cluster_utils import Cluster

from dwp.client.membership import Membership
from dwp.client.network import NetworkClient
from dwp.local import HOST_LABEL, LOCAL_HOST, NodeHomes, bind_loopback, start_network, start_node
from dwp.node.actor import RayTransport, actor_name
from dwp.node.loop import NodeSettings
from gateway import GatewaySettings, Network, create_app
from tests.conftest import (
    HOSTS,
    TEST_MAX_UPLOAD,
    RayCluster,
    eventually,
    free_port,
    host_args,
    stop_nodes,
)

NODE_HOSTS = ["h1", "h2", "h3", "h1"]


@contextlib.contextmanager
def ray_cluster() -> Iterator[RayCluster]:
    """The conftest session's cluster, for a run outside pytest."""
    bind_loopback()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "labels": {HOST_LABEL: LOCAL_HOST},
        "object_store_memory": 200 * 2**20, "include_dashboard": False})
    try:
        hosts = {h: cluster.add_node(**host_args(h)) for h in HOSTS}
        ray.init(address=cluster.address, logging_level="WARNING", log_to_driver=False,
                 configure_logging=False)
        yield RayCluster(cluster, hosts)
    finally:
        ray.shutdown()
        cluster.shutdown()


@dataclass
class Gateway:
    """A real gateway in this process; ``restart`` builds a fresh client from the view
    the last one had, as a restarted ``dwp up`` would."""

    network: Network
    port: int = field(default_factory=free_port)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        app = create_app([self.network], GatewaySettings(TEST_MAX_UPLOAD, fault_injection=True))
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                               log_level="critical",
                                               timeout_graceful_shutdown=2))
        self._server = server
        self._thread = threading.Thread(target=server.run, daemon=True)
        self._thread.start()
        eventually(lambda: server.started or not self._thread.is_alive(), 30)  # type: ignore[union-attr]
        if not server.started:
            raise RuntimeError(f"the gateway did not start on port {self.port}")

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(20)
        self._server = self._thread = None

    def restart(self, pause: float) -> None:
        self.stop()
        time.sleep(pause)
        old = self.network
        transport = RayTransport(old.client.transport.namespace)
        client = NetworkClient(old.client.view, transport, old.secret)
        launcher = old.membership.launcher if old.membership else None
        self.network = Network(client, old.secret,
                               Membership(client, launcher) if launcher else None)
        self.start()

    @property
    def running(self) -> bool:
        return self._server is not None


@dataclass
class ChaosNet:
    """One network with R=2 on hosts h1..h3, its gateway, and the handles nemeses need."""

    ray: RayCluster
    data_dir: Path
    settings: NodeSettings
    gateway: Gateway
    secret: str

    @property
    def url(self) -> str:
        return self.gateway.url

    @property
    def client(self) -> NetworkClient:
        return self.gateway.network.client

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def status(self) -> dict[str, Any]:
        with self.http() as h:
            return h.get("/api/v1/network").json()

    def homes(self) -> NodeHomes:
        return NodeHomes(self.data_dir)

    def handle(self, node: str) -> Any:
        return ray.get_actor(actor_name(node), namespace=self.settings.namespace)

    def start_node(self, node: str) -> None:
        start_node(self.client.view, node, self.homes(), self.settings)

    def converged(self) -> bool:
        """Every node up and every shard's replicas holding identical data."""
        try:
            status = self.status()
        except (httpx.HTTPError, ValueError):
            return False
        nodes = {n["id"]: n for n in status["nodes"]}
        if any(n["status"] != "up" for n in nodes.values()):
            return False
        return all(len({nodes[m]["digest"] for m in shard["replicas"]}) == 1
                   for shard in status["shards"])


@contextlib.contextmanager
def chaos_net(runtime: RayCluster, data_dir: Path, name: str) -> Iterator[ChaosNet]:
    """Start the network and its gateway; stop both and remove the data afterwards."""
    client, membership = start_network(data_dir, name=name, hosts=NODE_HOSTS, replicas=2,
                                       anti_entropy_interval=1.0, node_root=str(data_dir))
    secret = (data_dir / "token").read_text().strip()
    network = Network(client, secret, membership)
    gateway = Gateway(network)
    gateway.start()
    settings = NodeSettings(client.transport.namespace, 1.0)
    net = ChaosNet(runtime, data_dir, settings, gateway, secret)
    try:
        eventually(net.converged, 120)
        yield net
    finally:
        gateway.stop()
        stop_nodes(net.client)
        shutil.rmtree(data_dir, ignore_errors=True)
