"""Page history and garbage collection through the API, on an in-process network whose
keys keep 3 versions, whose deletes may be reaped at once and whose chunks have no
grace period (so a test sees a round collect what it may)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway import GatewaySettings, create_app
from gateway.context import Network
from tests.conftest import TEST_MAX_UPLOAD, Net
from tests.helpers import put
from tests.inprocess import URL, PortalTransport, in_process_network

VERSIONS = 3
BIG = 100 * 1024  # two chunks


@pytest.fixture(scope="module")
def hnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    data_dir = tmp_path_factory.mktemp("history")
    with in_process_network(data_dir, versions=VERSIONS, keep_deleted_days=0) as network:
        app = create_app([Network(network.client, network.secret, network.membership)],
                         GatewaySettings(TEST_MAX_UPLOAD, gc_interval=0, gc_grace=0))
        yield Net(URL, network.secret, data_dir, network.client,
                  PortalTransport(app, network.portal))


def history(h: httpx.Client, key: str) -> dict[str, Any]:
    r = h.get(f"/api/v1/objects/{key}", params={"history": "true"})
    assert r.status_code == 200, r.text
    return r.json()


def collect(h: httpx.Client, net: Net, dry_run: bool = False) -> dict[str, Any]:
    r = h.post("/api/v1/gc", params={"dry_run": str(dry_run).lower()}, headers=net.auth)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_key_keeps_its_last_versions_and_each_reads_back(hnet: Net) -> None:
    bodies = [os.urandom(BIG if i % 2 else 500) for i in range(5)]
    with hnet.http() as h:
        context = None
        for body in bodies:
            context = put(h, hnet, "hist/page.html", body, context=context).headers["x-dwp-context"]
        listed = history(h, "hist/page.html")
        assert listed["limit"] == VERSIONS
        assert [v["current"] for v in listed["versions"]] == [True, False, False]
        assert [v["size"] for v in listed["versions"]] == [len(b) for b in bodies[:1:-1]]
        for entry, body in zip(listed["versions"], bodies[:1:-1], strict=True):
            got = h.get(entry["url"])
            assert got.status_code == 200 and got.content == body
            assert got.headers["x-dwp-version"] == entry["version"]
            assert got.headers["etag"] == f'"{entry["hash"]}"'
        oldest = listed["versions"][-1]["version"]
        replica, counter = oldest.rsplit(":", 1)
        gone = h.get("/api/v1/objects/hist/page.html",
                     params={"version": f"{replica}:{int(counter) - 1}"})
        assert gone.status_code == 404 and "keeps no version" in gone.json()["detail"]
        bad = h.get("/api/v1/objects/hist/page.html", params={"version": "nonsense"})
        assert bad.status_code == 400 and "version id" in bad.json()["detail"]


def test_a_deleted_page_is_restored_from_its_history(hnet: Net) -> None:
    with hnet.http() as h:
        first = put(h, hnet, "hist/deleted.txt", b"the first words")
        put(h, hnet, "hist/deleted.txt", b"the second words",
            context=first.headers["x-dwp-context"])
        gone = h.delete("/api/v1/objects/hist/deleted.txt", headers=hnet.auth)
        assert gone.status_code == 204
        assert h.get("/api/v1/objects/hist/deleted.txt").status_code == 404
        listed = history(h, "hist/deleted.txt")
        assert [(v["current"], v["deleted"]) for v in listed["versions"]] == [
            (True, True), (False, False), (False, False)]
        assert listed["versions"][0]["url"] is None
        old = h.get(listed["versions"][2]["url"])
        assert old.content == b"the first words"
        read = h.get("/api/v1/objects/hist/deleted.txt", params={"history": "true"})
        put(h, hnet, "hist/deleted.txt", old.content, old.headers["content-type"],
            read.headers["x-dwp-context"])
        back = h.get("/api/v1/objects/hist/deleted.txt")
        assert back.status_code == 200 and back.content == b"the first words"
        assert "x-dwp-siblings" not in back.headers
        tombstone = h.get("/api/v1/objects/hist/deleted.txt",
                          params={"version": listed["versions"][0]["version"]})
        assert tombstone.status_code == 404 and "is a delete" in tombstone.json()["detail"]


def test_a_restore_racing_a_write_makes_siblings(hnet: Net) -> None:
    with hnet.http() as h:
        first = put(h, hnet, "hist/race.txt", b"one")
        second = put(h, hnet, "hist/race.txt", b"two", context=first.headers["x-dwp-context"])
        read = history(h, "hist/race.txt")
        context = h.get("/api/v1/objects/hist/race.txt").headers["x-dwp-context"]
        assert second.status_code == 200
        put(h, hnet, "hist/race.txt", h.get(read["versions"][1]["url"]).content,
            context=context)
        put(h, hnet, "hist/race.txt", b"three", context=context)
        got = h.get("/api/v1/objects/hist/race.txt", params={"siblings": "true"})
        assert sorted(s["size"] for s in got.json()["siblings"]) == [3, 5]


def test_a_dry_run_says_what_the_round_then_removes(hnet: Net) -> None:
    with hnet.http() as h:
        context = None
        for _ in range(VERSIONS + 2):
            context = put(h, hnet, "gc/big.bin", os.urandom(BIG),
                          context=context).headers["x-dwp-context"]
        settle(hnet)
        would = collect(h, hnet, dry_run=True)
        assert would["dry_run"] and would["skipped"] == []
        assert would["chunks"] >= 2 * 2 * 2  # two versions aged out, 2 chunks, 2 replicas
        done = collect(h, hnet)
        assert (done["chunks"], done["bytes"]) == (would["chunks"], would["bytes"])
        assert collect(h, hnet, dry_run=True)["chunks"] == 0
        for entry in history(h, "gc/big.bin")["versions"]:
            assert len(h.get(entry["url"]).content) == BIG


def test_a_deleted_key_is_reaped_once_every_replica_has_seen_the_delete(hnet: Net) -> None:
    with hnet.http() as h:
        put(h, hnet, "gc/reaped.txt", b"soon gone")
        assert h.delete("/api/v1/objects/gc/reaped.txt", headers=hnet.auth).status_code == 204
        shard = hnet.client.shard_of_key("gc/reaped.txt")
        settle(hnet)
        assert collect(h, hnet, dry_run=True)["deleted_keys"] >= 1
        assert all(history_at(h, "gc/reaped.txt", node) == 200
                   for node in hnet.shard_members(shard))
        assert collect(h, hnet)["deleted_keys"] >= 1
        assert all(history_at(h, "gc/reaped.txt", node) == 404
                   for node in hnet.shard_members(shard))
        settle(hnet)
        assert all(history_at(h, "gc/reaped.txt", node) == 404
                   for node in hnet.shard_members(shard)), "anti-entropy brought it back"
        digests = {n["digest"] for n in hnet.status()["nodes"]
                   if n["id"] in hnet.shard_members(shard)}
        assert len(digests) == 1


def history_at(h: httpx.Client, key: str, node: str) -> int:
    return h.get(f"/api/v1/objects/{key}", params={"history": "true"},
                 headers={"X-DWP-Replica": node}).status_code


def settle(net: Net) -> None:
    """An anti-entropy round on every node, twice, so each replica has heard what every
    shard-mate applied after that shard-mate had itself caught up."""
    assert isinstance(net.transport, PortalTransport)
    for _ in range(2):
        net.transport.portal.call(net.client.sync_now)


def stored_bytes(net: Net) -> int:
    return sum(n["bytes"]["live"] + n["bytes"]["history"] for n in net.status()["nodes"])


def database_bytes(net: Net) -> int:
    """The replicas' database files, without their WALs: a WAL's size on disk is the
    checkpointer's timing (bounded apart), while the database shows whether freed pages
    are used again."""
    return sum(f.stat().st_size for f in net.data_dir.rglob("replica.db"))


def test_republishing_a_site_keeps_disk_bounded(hnet: Net) -> None:
    """200 files, 50 of them changed and re-published 10 times: after each round's
    collection the network stores the live and kept versions and no garbage; every kept
    version reads back byte-exact, and one older than that is gone."""
    small = {f"site/page{i}.html": os.urandom(2048) for i in range(150)}
    published: dict[str, list[bytes]] = {f"site/img{i}.bin": [] for i in range(50)}
    contexts: dict[str, str] = {}
    totals, disks = [], []
    with hnet.http() as h:
        settle(hnet)
        collect(h, hnet)
        before = stored_bytes(hnet)  # what the module's other tests left
        for key, body in small.items():
            put(h, hnet, key, body)
        for round_ in range(11):
            for key, bodies in published.items():
                bodies.append(os.urandom(BIG))
                contexts[key] = put(h, hnet, key, bodies[-1],
                                    context=contexts.get(key)).headers["x-dwp-context"]
            settle(hnet)
            report = collect(h, hnet)
            assert report["skipped"] == [], report
            nodes = hnet.status()["nodes"]
            assert all(n["bytes"]["garbage"] == 0 for n in nodes), nodes
            stored = stored_bytes(hnet) - before
            kept = min(round_ + 1, VERSIONS)
            expected = 2 * (len(small) * 2048 + len(published) * kept * BIG)
            assert expected <= stored <= expected * 1.05 + 300_000, (round_, stored, expected)
            totals.append(stored)
            disks.append(database_bytes(hnet))
            assert sum(n["bytes"]["disk"] for n in nodes) >= disks[-1]
        assert max(totals[VERSIONS:]) <= min(totals[VERSIONS:]) * 1.02
        assert disks[-1] <= disks[VERSIONS] * 1.5, disks  # freed pages are used again
        for key, bodies in published.items():
            versions = history(h, key)["versions"]
            assert len(versions) == VERSIONS
            for entry, body in zip(versions, bodies[::-1], strict=False):
                assert h.get(entry["url"]).content == body
            replica, counter = versions[-1]["version"].rsplit(":", 1)
            older = [f"{replica}:{c}" for c in range(1, int(counter))]
            assert all(h.get(f"/api/v1/objects/{key}", params={"version": v}).status_code
                       == 404 for v in older[-3:])
