"""The data socket (``dwp.node.data_socket``), end to end on real Ray actors and files:
the gateway's writes and reads go through each node's own unix socket, are durable,
keep working after the actor is killed and restarts, still meet fault injection, and a
process that may not enter the node's data dir cannot connect."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
import ray
from ray.exceptions import RayError

from dwp.core.frames import HEADER, MAX_REQUEST_BYTES, frame
from dwp.core.messages import Put, PutChunks, Written
from dwp.core.version import Version, content_hash
from dwp.core.view import NodeSpec, View
from dwp.local import start_network
from dwp.node.actor import StorageNode
from dwp.node.data_socket import SOCKET_NAME, SocketAddress
from dwp.node.local_transport import LocalTransport
from dwp.node.loop import NodeSettings
from dwp.node.socket_transport import SocketTransport
from tests.conftest import Net, RayCluster, eventually, serve
from tests.helpers import unique
from tests.test_replication import cut, heal, pinned

NOBODY = 65534


@pytest.fixture(scope="module")
def net2(ray_runtime: RayCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    """A network of its own (its actors are killed here): two nodes, one shard."""
    data_dir = tmp_path_factory.mktemp("socket")
    client, membership = start_network(data_dir, name=unique("socket"), nodes=2, replicas=2,
                                       anti_entropy_interval=1.0)
    yield from serve(client, membership, data_dir)


def address(net: Net, node: str) -> SocketAddress:
    found = ray.get(net.node(node).data_socket.remote(), timeout=60)
    assert isinstance(found, SocketAddress)
    return found


def restarted_since(net: Net, node: str, first: SocketAddress) -> bool:
    """The node answers again, from a start other than ``first``'s."""
    try:
        return address(net, node).nonce != first.nonce
    except RayError:  # still restarting
        return False


def served(net: Net, node: str) -> int:
    return address(net, node).served


def test_a_write_through_the_gateway_lands_through_the_socket(net2: Net) -> None:
    net = net2
    assert isinstance(net.client.transport, SocketTransport)
    node = net.shard_members(0)[0]
    where = address(net, node)
    assert where.path == str(net.data_dir / "nodes" / node / SOCKET_NAME)
    assert stat.S_IMODE(os.stat(Path(where.path).parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(where.path).st_mode) == 0o600
    small, big = os.urandom(10_000), os.urandom(300_000)  # inline; chunked
    before = served(net, node)
    with net.http() as h:
        for key, body in (("s/small", small), ("s/big", big)):
            r = h.put(f"/api/v1/objects/{key}", content=body, headers={**net.auth,
                                                                      **pinned(node)})
            assert r.status_code == 200, r.text
            got = h.get(f"/api/v1/objects/{key}", headers=pinned(node, r.headers[
                "x-dwp-context"]))
            assert got.content == body
        # a Put, the big one's chunks and its manifest Put, and the reads: all on the socket
        assert served(net, node) >= before + 4
        before = served(net, node)
        gone = h.delete("/api/v1/objects/s/small", headers={**net.auth, **pinned(node)})
        assert gone.is_success, gone.text
        assert h.get("/api/v1/objects/s/small", headers=pinned(node, gone.headers[
            "x-dwp-context"])).status_code == 404
        assert served(net, node) >= before + 2  # the Delete and the read after it


def test_writes_keep_working_after_the_actor_is_killed_and_restarts(net2: Net) -> None:
    net = net2
    node = net.shard_members(0)[0]
    first = address(net, node)
    with net.http() as h:
        acked = h.put("/api/v1/objects/s/before-kill", content=b"acked",
                      headers={**net.auth, **pinned(node)})
        assert acked.status_code == 200
        ray.kill(net.node(node), no_restart=False)  # detached, so Ray starts it again
        eventually(lambda: restarted_since(net, node, first), 60)
        restarted = address(net, node)
        assert restarted.path == first.path and restarted.served == 0

        def write() -> bool:
            r = h.put("/api/v1/objects/s/after-kill", content=b"again",
                      headers={**net.auth, **pinned(node)})
            return r.status_code == 200
        eventually(write, 60)
        assert served(net, node) >= 1  # the new start's socket took it
        # durable: the restarted node reopened its data dir and serves what it acked
        back = h.get("/api/v1/objects/s/before-kill",
                     headers=pinned(node, acked.headers["x-dwp-context"]))
        assert back.content == b"acked"


def test_fault_injection_cuts_a_socket_write_from_its_peers_as_it_does_over_ray(
        net2: Net) -> None:
    net = net2
    writer, peer = net.shard_members(0)[:2]
    before = served(net, writer)
    cut(net, [writer], [peer])
    try:
        with net.http() as h:
            r = h.put("/api/v1/objects/s/cut", content=b"only here",
                      headers={**net.auth, **pinned(writer)})
            assert r.status_code == 200
            assert served(net, writer) > before
            # the replication it queued is cut as for a write that came over Ray
            assert h.get("/api/v1/objects/s/cut", headers=pinned(peer)).status_code == 404
    finally:
        heal(net)
    with net.http() as h:
        eventually(lambda: h.get("/api/v1/objects/s/cut", headers=pinned(peer)).content
                   == b"only here", 60)


def test_a_node_on_another_machine_is_reached_over_ray(net2: Net) -> None:
    """The socket is used only where its file is this machine's; elsewhere, Ray."""
    net = net2
    node = net.shard_members(0)[0]
    data = b"lan" * 1000
    put = Put("s/lan", Version("text/plain", len(data), content_hash(data), 1.0, data), None)
    assert isinstance(net.client.transport, SocketTransport)
    here = SocketTransport(net.client.transport.namespace)
    there = SocketTransport(here.namespace)
    there.machine = "another-host/another-boot"

    async def put_through(transport: SocketTransport) -> object:
        try:
            return await transport.call(node, put, 30)
        finally:
            transport.forget(node)  # closes its connection, on this loop

    before = served(net, node)
    assert isinstance(asyncio.run(put_through(there)), Written)
    assert served(net, node) == before
    assert isinstance(asyncio.run(put_through(here)), Written)
    assert served(net, node) == before + 1


def connect_as_nobody(path: Path) -> str:
    """Connect to ``path`` from a child process running as another user."""
    pid = os.fork()
    if pid == 0:
        code = 2
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            try:
                socket.socket(socket.AF_UNIX).connect(str(path))
                code = 0
            except PermissionError:
                code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return {0: "connected", 1: "refused"}.get(os.waitstatus_to_exitcode(status), "failed")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a process as another user")
def test_a_process_that_may_not_enter_the_data_dir_cannot_connect() -> None:
    """Only the dir's and the file's modes stand between another user and the socket:
    with them as the node sets them the connection is refused; opened up, it is not."""
    view = View.create("t", [NodeSpec("n1", "local")], 1)

    async def run(home: Path) -> tuple[str, str]:
        node = StorageNode("n1", str(home), view.to_json(), NodeSettings("t"),
                           LocalTransport("n1", {}))
        path = home / SOCKET_NAME
        try:
            await asyncio.sleep(0.1)  # the server starts on the loop
            assert stat.S_IMODE(home.stat().st_mode) == 0o700
            private = await asyncio.to_thread(connect_as_nobody, path)
            os.chmod(home, 0o711)
            os.chmod(path, 0o666)
            opened = await asyncio.to_thread(connect_as_nobody, path)
        finally:
            node.close()
        return private, opened

    with tempfile.TemporaryDirectory() as top:  # short, and not under pytest's 0700 dir
        os.chmod(top, 0o711)  # the parents let anyone pass, as a home dir may
        assert asyncio.run(run(Path(top) / "n1")) == ("refused", "connected")


def test_a_restarted_node_in_process_binds_again_and_the_transport_finds_it(
        tmp_path: Path) -> None:
    """Without Ray: the socket a node serves answers the node's own replies, and a
    node reopened on the same dir serves a new socket at the same path."""
    view = View.create("t", [NodeSpec("n1", "local")], 1)
    data = b"x" * 10_000
    put = Put("s/k", Version("text/plain", len(data), content_hash(data), 1.0, data), None)

    async def run() -> None:
        from dwp.node.socket_transport import _Connection
        for _ in range(2):
            node = StorageNode("n1", str(tmp_path / "n1"), view.to_json(), NodeSettings("t"),
                               LocalTransport("n1", {}))
            try:
                where = node.data_socket()
                assert where is not None
                conn = await _Connection.connect(where, 5)
                reply = await conn.request(1, _request(1, put), 5)
                assert isinstance(reply, Written) and reply.state
                assert await conn.request(2, _request(2, PutChunks([])), 5) is None
                assert node.data_socket().served == 2  # type: ignore[union-attr]
                conn.close()
            finally:
                node.close()

    asyncio.run(run())


def test_a_hostile_client_is_dropped_and_the_node_serves_on(tmp_path: Path) -> None:
    """Frames over the limit, not msgpack, or a message the socket does not carry end
    that client's connection, before anything is handled; others are served as before."""
    view = View.create("t", [NodeSpec("n1", "local")], 1)
    hostile = [HEADER.pack(MAX_REQUEST_BYTES + 1), frame(b"\xc1"),
               frame(msgpack.packb([1, "gw", ["info"]])),
               frame(msgpack.packb([1, "gw", ["put", "k", "not a version", None, {}, ""]]))]

    async def run() -> None:
        from dwp.node.socket_transport import _Connection
        node = StorageNode("n1", str(tmp_path / "n1"), view.to_json(), NodeSettings("t"),
                           LocalTransport("n1", {}))
        try:
            where = node.data_socket()
            assert where is not None
            for garbage in hostile:
                reader, writer = await asyncio.open_unix_connection(where.path)
                (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
                await reader.readexactly(size)  # the hello
                writer.write(garbage)
                assert await asyncio.wait_for(reader.read(), 10) == b""  # closed, unanswered
                writer.close()
            conn = await _Connection.connect(where, 5)
            assert await conn.request(1, _request(1, PutChunks([])), 5) is None
            assert node.data_socket().served == 1  # type: ignore[union-attr]
            conn.close()
        finally:
            node.close()

    asyncio.run(run())


def _request(request_id: int, message: Put | PutChunks) -> bytes:
    from dwp.core.frames import encode_request
    return encode_request(request_id, "gw", message)
