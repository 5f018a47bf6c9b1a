"""Replication, repair, siblings and causal reads on a real network (Ray, SQLite, HTTP)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
import ray

from dwp.core.errors import NotOwner
from dwp.core.messages import ClearOutbox, Info, Put
from dwp.core.view import View
from dwp.local import NodeHomes, start_node
from dwp.node.loop import NodeSettings
from tests.conftest import Net, eventually
from tests.simulation.shard import version


def keys_of_shard(net: Net, shard: int, n: int, tag: str = "") -> list[str]:
    prefix = f"rep-{tag}{uuid.uuid4().hex[:6]}"
    out, i = [], 0
    while len(out) < n:
        key = f"{prefix}/k{i:04}"
        if net.client.shard_of_key(key) == shard:
            out.append(key)
        i += 1
    return out


def cut(net: Net, *groups: list[str]) -> None:
    with net.http() as h:
        r = h.put("/api/v1/faults", json={"partitions": list(groups)}, headers=net.auth)
        assert r.status_code == 204, r.text


def heal(net: Net) -> None:
    with net.http() as h:
        assert h.delete("/api/v1/faults", headers=net.auth).status_code == 204


def pinned(node: str, token: str | None = None) -> dict[str, str]:
    return {"X-DWP-Replica": node, **({"X-DWP-Context": token} if token else {})}


def test_a_write_reaches_every_replica_of_its_shard(net: Net) -> None:
    with net.http() as h:
        for shard in net.client.view.shards:
            for key in keys_of_shard(net, shard, 5):
                assert h.put(f"/api/v1/objects/{key}", content=key.encode(),
                             headers=net.auth).status_code == 200
            key = keys_of_shard(net, shard, 1)[0]
            h.put(f"/api/v1/objects/{key}", content=b"last", headers=net.auth)
            for node in net.shard_members(shard):
                eventually(lambda n=node, k=key: h.get(f"/api/v1/objects/{k}",
                                                      headers=pinned(n)).content == b"last")
    eventually(net.digests_equal)


@pytest.fixture
def down_replica(net: Net) -> Iterator[tuple[str, str, list[str]]]:
    """Shard 0's second replica, stopped; restarted by the test through ``restart``."""
    live, down = net.shard_members(0)[:2]
    yield live, down, []
    restart(net, down)
    net.wait_healthy()


def stop(net: Net, node: str) -> None:
    ray.kill(net.node(node), no_restart=True)
    eventually(lambda: next(n for n in net.status()["nodes"] if n["id"] == node)["status"]
               == "down")


def restart(net: Net, node: str) -> None:
    start_node(net.client.view, node, NodeHomes(net.data_dir),
               NodeSettings(net.client.transport.namespace, anti_entropy_interval=1.0))


def write_while_down(net: Net, live: str, down: str, tag: str) -> list[str]:
    keys = keys_of_shard(net, 0, 200, tag)
    stop(net, down)
    with net.http() as h:
        for key in keys:
            r = h.put(f"/api/v1/objects/{key}", content=key.encode(), headers=net.auth)
            assert r.status_code == 200 and r.headers["x-dwp-node"] == live
    return keys


def assert_replica_holds(net: Net, node: str, keys: list[str]) -> None:
    with net.http() as h:
        for key in keys:
            r = h.get(f"/api/v1/objects/{key}", headers=pinned(node))
            assert r.status_code == 200 and r.content == key.encode()


def test_a_replica_that_was_down_converges_through_its_peers_outbox(
        net: Net, down_replica: tuple[str, str, list[str]]) -> None:
    live, down, _ = down_replica
    keys = write_while_down(net, live, down, "outbox")
    assert net.ask(live, Info()).outbox.get(down, 0) >= 200
    restart(net, down)
    eventually(net.digests_equal, 60)
    assert net.ask(live, Info()).outbox.get(down, 0) == 0
    assert_replica_holds(net, down, keys)


def test_a_replica_that_was_down_converges_through_anti_entropy_alone(
        net: Net, down_replica: tuple[str, str, list[str]]) -> None:
    live, down, _ = down_replica
    keys = write_while_down(net, live, down, "ae")
    net.ask(live, ClearOutbox())
    assert net.ask(live, Info()).outbox == {}
    restart(net, down)
    eventually(net.digests_equal, 60)
    assert_replica_holds(net, down, keys)


def test_concurrent_writes_across_a_partition_become_siblings_then_resolve(
        healed: Net) -> None:
    net = healed
    a, b = net.shard_members(0)[:2]
    key = keys_of_shard(net, 0, 1, "sib")[0]
    with net.http() as h:
        h.put(f"/api/v1/objects/{key}", content=b"base", headers=net.auth)
        eventually(net.digests_equal)
        cut(net, [a], [b])
        for node, text in ((a, b"left"), (b, b"right")):
            r = h.put(f"/api/v1/objects/{key}", content=text,
                      headers={**net.auth, **pinned(node)})
            assert r.status_code == 200
        heal(net)
        eventually(net.digests_equal)
        for node in (a, b):
            listing = h.get(f"/api/v1/objects/{key}", params={"siblings": "true"},
                            headers=pinned(node))
            assert listing.json()["deleted"] == 0
            bodies = sorted(h.get(s["url"], headers=pinned(node)).content
                            for s in listing.json()["siblings"])
            assert bodies == [b"left", b"right"]
            assert h.get(f"/api/v1/objects/{key}",
                         headers=pinned(node)).headers["x-dwp-siblings"] == "2"
        context = listing.headers["x-dwp-context"]
        r = h.put(f"/api/v1/objects/{key}", content=b"merged",
                  headers={**net.auth, "X-DWP-Context": context})
        assert r.status_code == 200
        eventually(net.digests_equal)
        for node in (a, b):
            r = h.get(f"/api/v1/objects/{key}", headers=pinned(node))
            assert r.content == b"merged" and "x-dwp-siblings" not in r.headers


def test_causal_consistency_across_keys_shards_and_clients(healed: Net) -> None:
    """B reads x and writes y (another shard); C reads y, then x at a replica that has
    not received x: C gets x or 503, never 404; after healing, x."""
    net = healed
    a, lagging = net.shard_members(0)[:2]
    x = keys_of_shard(net, 0, 1, "x")[0]
    y = keys_of_shard(net, 1, 1, "y")[0]
    with net.http() as h:
        cut(net, [a], [lagging])
        assert h.put(f"/api/v1/objects/{x}", content=b"x1",
                     headers={**net.auth, **pinned(a)}).status_code == 200      # client A
        b_read = h.get(f"/api/v1/objects/{x}", headers=pinned(a))                # client B
        assert b_read.content == b"x1"
        b_write = h.put(f"/api/v1/objects/{y}", content=b"y1", headers={
            **net.auth, "X-DWP-Context": b_read.headers["x-dwp-context"]})
        assert b_write.status_code == 200
        c_read = h.get(f"/api/v1/objects/{y}")                                   # client C
        assert c_read.content == b"y1"
        c_token = c_read.headers["x-dwp-context"]
        stale = h.get(f"/api/v1/objects/{x}", headers=pinned(lagging, c_token))
        assert stale.status_code == 503 and stale.headers["retry-after"]
        assert h.get(f"/api/v1/objects/{x}", headers=pinned(lagging)).status_code == 404
        heal(net)
        fresh = eventually(lambda: (r := h.get(f"/api/v1/objects/{x}",
                                               headers=pinned(lagging, c_token)))
                           .status_code == 200 and r)
        assert fresh.content == b"x1"


def test_read_your_writes_and_monotonic_reads(healed: Net) -> None:
    net = healed
    a, lagging = net.shard_members(0)[:2]
    key = keys_of_shard(net, 0, 1, "ryw")[0]
    with net.http() as h:
        h.put(f"/api/v1/objects/{key}", content=b"v1", headers=net.auth)
        eventually(net.digests_equal)
        cut(net, [a], [lagging])
        w = h.put(f"/api/v1/objects/{key}", content=b"v2", headers={**net.auth, **pinned(a)})
        own = h.get(f"/api/v1/objects/{key}",
                    headers=pinned(lagging, w.headers["x-dwp-context"]))
        assert own.status_code == 503                      # never v1 after writing v2
        read = h.get(f"/api/v1/objects/{key}", headers=pinned(a))
        assert read.content == b"v2"
        again = h.get(f"/api/v1/objects/{key}",
                      headers=pinned(lagging, read.headers["x-dwp-context"]))
        assert again.status_code == 503                    # never back to v1
        unpinned = h.get(f"/api/v1/objects/{key}",
                         headers={"X-DWP-Context": read.headers["x-dwp-context"]})
        assert unpinned.content == b"v2"                   # routed to a fresh replica
        heal(net)
        eventually(lambda: h.get(f"/api/v1/objects/{key}", headers=pinned(
            lagging, read.headers["x-dwp-context"])).content == b"v2")


def test_a_nodes_refusal_reaches_the_caller_as_its_own_error_not_a_traceback(net: Net) -> None:
    """Ray wraps an actor's exception with the actor's traceback; the transport passes on
    the node's own error, whose words end up in the 409 or 503 a user reads."""
    key = keys_of_shard(net, 0, 1, "refused")[0]
    elsewhere = net.shard_members(1)[0]
    put = Put(key, version("x"), None)
    with pytest.raises(NotOwner) as refused:
        asyncio.run(net.client.transport.call(elsewhere, put, 30))
    assert type(refused.value) is NotOwner and "Traceback" not in str(refused.value)
    assert View.from_json(refused.value.view_json).epoch >= 1
