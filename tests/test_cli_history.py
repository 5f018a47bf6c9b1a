"""``dwp history``, ``dwp restore``, ``dwp gc`` and the bytes in ``dwp network status``,
run in process against a real HTTP gateway over in-process nodes (no Ray): the CLI
needs a socket, the history does not need actors.

The network keeps 3 versions per key and collects chunks with no grace period, so a
test can see versions age out and their chunks go."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import Result

from dwp.core.version import CHUNK_SIZE, content_hash
from gateway import GatewaySettings, Network, create_app
from tests.conftest import TEST_MAX_UPLOAD, Net, eventually, free_port
from tests.helpers import cli, unique
from tests.inprocess import in_process_network

VERSIONS = 3



@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    """The gateway app on a loopback port, served by uvicorn on the event loop the
    in-process nodes run on (a request on another loop would wait on theirs)."""
    data_dir = tmp_path_factory.mktemp("history")
    with in_process_network(data_dir, versions=VERSIONS) as network:
        app = create_app([Network(network.client, network.secret, network.membership)],
                         GatewaySettings(TEST_MAX_UPLOAD, gc_interval=0, gc_grace=0))
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(),
                                               log_level="warning", lifespan="off"))
        running = network.portal.start_task_soon(server.serve)
        try:
            eventually(lambda: server.started, 30)
            yield Net(f"http://127.0.0.1:{server.config.port}", network.secret, data_dir,
                      network.client)
        finally:
            server.should_exit = True
            running.result(30)


@pytest.fixture
def dwp(served: Net, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> Callable[..., Result]:
    """The ``dwp`` command against ``served``, as ``tests.conftest.dwp`` runs it."""
    from browser_cli import config

    invoke = cli(served.url, tmp_path, monkeypatch)
    config.record_token(served.url, served.token)
    return invoke


def put(dwp: Callable[..., Result], tmp_path: Path, key: str, data: bytes,
        *options: str) -> None:
    local = tmp_path / uuid.uuid4().hex
    local.write_bytes(data)
    result = dwp("put", str(local), key, *options)
    assert result.exit_code == 0, result.output


def history_of(dwp: Callable[..., Result], key: str) -> list[dict[str, object]]:
    result = dwp("history", key, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["versions"]


def test_history_lists_kept_versions_newest_first(dwp, served: Net, tmp_path: Path) -> None:
    key = f"{unique('hist')}/page.html"
    for text in (b"one", b"two", b"three", b"four"):
        put(dwp, tmp_path, key, text)
    result = dwp("history", key, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    with served.http() as h:
        api = h.get(f"/api/v1/objects/{key}", params={"history": "true"}).json()
    assert doc == api, "--json prints the API's document"
    assert doc["limit"] == VERSIONS
    versions = doc["versions"]
    assert [v["hash"] for v in versions] == [content_hash(t).hex()
                                             for t in (b"four", b"three", b"two")]
    assert [(v["current"], v["deleted"]) for v in versions] == [
        (True, False), (False, False), (False, False)]

    table = dwp("history", key)
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["VERSION", "WRITTEN", "SIZE", "TYPE", "STATE", "NODE"]
    rows = [line.split() for line in lines[1:]]
    assert [r[0] for r in rows] == [v["version"] for v in versions]
    assert [r[-2:] for r in rows] == [[state, v["node"]] for state, v in zip(
        ("current", "replaced", "replaced"), versions, strict=True)]
    assert [r[3:6] for r in rows] == [[str(n), "B", "text/html"] for n in (4, 5, 3)]


def test_restore_brings_back_an_overwritten_version_byte_exact(
        dwp, served: Net, tmp_path: Path) -> None:
    key = f"{unique('restore')}/data.bin"
    old = bytes(range(256)) * (3 * CHUNK_SIZE // 256) + b"old tail"  # several chunks
    put(dwp, tmp_path, key, old, "--content-type", "application/x-old")
    put(dwp, tmp_path, key, b"new and short", "--content-type", "text/plain")
    wanted = history_of(dwp, key)[1]
    assert wanted["hash"] == content_hash(old).hex()
    # Another client writes after this user's last command: the user's saved context
    # has not seen it, and the restore must supersede it all the same.
    with served.http() as h:
        assert h.put(f"/api/v1/objects/{key}", content=b"someone else's",
                     headers=served.auth).status_code == 200

    result = dwp("restore", key, str(wanted["version"]), "--json")
    assert result.exit_code == 0, result.output
    reply = json.loads(result.stdout)
    assert (reply["key"], reply["hash"], reply["size"], reply["restored"]) == (
        key, content_hash(old).hex(), len(old), wanted["version"])
    assert reply["content_type"] == "application/x-old"
    assert dwp("get", key).stdout_bytes == old
    listed = json.loads(dwp("ls", key.split("/")[0], "--json").stdout)
    assert [e["siblings"] for e in listed] == [1], "the restore replaced what was current"
    after = history_of(dwp, key)
    assert [v["hash"] for v in after] == [content_hash(b).hex() for b in (
        old, b"someone else's", b"new and short")]
    assert after[0]["current"] and not any(v["current"] for v in after[1:])

    short = after[2]["version"]
    said = dwp("restore", key, str(short))
    assert said.exit_code == 0, said.output
    assert said.stdout.startswith(f"restored {key} to version {short}: "
                                  f"{content_hash(b'new and short').hex()[:12]} (13 B, "
                                  "text/plain), now current")
    assert dwp("get", key).stdout_bytes == b"new and short"


def test_a_deleted_page_can_be_restored(dwp, tmp_path: Path) -> None:
    key = f"{unique('undelete')}/index.html"
    put(dwp, tmp_path, key, b"<h1>kept</h1>")
    assert dwp("rm", key).exit_code == 0
    assert dwp("get", key).exit_code == 1
    versions = history_of(dwp, key)
    assert [(v["current"], v["deleted"]) for v in versions] == [(True, True), (False, False)]
    assert versions[0]["url"] is None
    assert "deleted" in dwp("history", key).stdout

    refused = dwp("restore", key, str(versions[0]["version"]))
    assert refused.exit_code == 1 and "is a delete" in refused.stderr
    result = dwp("restore", key, str(versions[1]["version"]))
    assert result.exit_code == 0, result.output
    assert dwp("get", key).stdout_bytes == b"<h1>kept</h1>"


def test_restore_refusals_and_exit_codes(dwp, tmp_path: Path) -> None:
    key = f"{unique('refuse')}/page.html"
    put(dwp, tmp_path, key, b"1")
    first = str(history_of(dwp, key)[0]["version"])
    for text in (b"2", b"3", b"4"):
        put(dwp, tmp_path, key, text)
    assert first not in [v["version"] for v in history_of(dwp, key)]
    replica = first.rpartition(":")[0]

    aged = dwp("restore", key, first)  # the first write: past the 3 kept
    assert aged.exit_code == 1 and "keeps no version" in aged.stderr
    assert aged.stderr.count("\n") == 1
    malformed = dwp("restore", key, "not-a-version")
    assert malformed.exit_code == 2 and "is not a version id" in malformed.stderr
    dots = dwp("restore", f"{key.split('/')[0]}/../x.html", f"{replica}:1")
    assert dots.exit_code == 2 and "invalid key" in dots.stderr
    missing = dwp("history", f"{unique('never')}/x.html")
    assert missing.exit_code == 1 and missing.stderr.startswith("dwp: not found")
    assert dwp("restore", f"{unique('never')}/x.html", f"{replica}:1").exit_code == 1
    assert dwp("restore", key).exit_code == 2
    assert dwp("get", key).stdout_bytes == b"4", "no refusal wrote anything"


def test_gc_dry_run_says_what_the_round_then_removes(dwp, served: Net, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    key = f"{unique('gc')}/big.bin"
    for n in range(VERSIONS + 2):  # the first two versions age out of the history
        put(dwp, tmp_path, key, bytes([n]) * (2 * CHUNK_SIZE))
    dry = dwp("gc", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    would = json.loads(dry.stdout)
    assert set(would) == {"dry_run", "chunks", "bytes", "waiting", "deleted_keys", "skipped"}
    assert would["dry_run"] is True and would["skipped"] == []
    # each aged-out version held one distinct chunk, stored on every replica of its shard
    assert would["chunks"] >= 2 * 2 and would["bytes"] >= 2 * 2 * CHUNK_SIZE
    told = dwp("gc", "--dry-run")
    assert told.exit_code == 0
    assert told.stdout.startswith(f"Would remove {would['chunks']} chunks (")

    done = dwp("gc", "--json")
    assert done.exit_code == 0, done.output
    removed = json.loads(done.stdout)
    assert {k: removed[k] for k in ("chunks", "bytes", "deleted_keys")} == {
        k: would[k] for k in ("chunks", "bytes", "deleted_keys")}
    assert removed["dry_run"] is False
    assert json.loads(dwp("gc", "--dry-run", "--json").stdout)["chunks"] == 0
    again = dwp("gc")
    assert again.exit_code == 0 and again.stdout.startswith("Removed 0 chunks (0 B)")
    with served.http() as h:  # every kept version still reads back, byte-exact
        for v in history_of(dwp, key):
            assert content_hash(h.get(str(v["url"])).content).hex() == v["hash"]
    assert dwp("get", key).stdout_bytes == bytes([VERSIONS + 1]) * (2 * CHUNK_SIZE)

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-token"))
    refused = dwp("gc")
    assert refused.exit_code == 1 and "no network token" in refused.stderr


def test_network_status_shows_bytes_per_node(dwp, served: Net, tmp_path: Path) -> None:
    put(dwp, tmp_path, f"{unique('bytes')}/f.bin", b"x" * (3 * CHUNK_SIZE))

    result = dwp("network", "status", "--json")  # counted in the write's transaction
    assert result.exit_code == 0, result.output
    nodes: list[dict[str, Any]] = json.loads(result.stdout)["nodes"]
    assert sum(n["bytes"]["live"] for n in nodes) >= 3 * CHUNK_SIZE
    for n in nodes:
        assert set(n["bytes"]) == {"live", "history", "garbage", "disk"}
        assert all(isinstance(v, int) and v >= 0 for v in n["bytes"].values())
    table = dwp("network", "status")
    assert table.exit_code == 0, table.output
    header = next(line for line in table.stdout.splitlines() if "NODE" in line)
    assert [c in header for c in ("LIVE", "HISTORY", "GARBAGE", "DISK")] == [True] * 4
    row = next(line for line in table.stdout.splitlines() if f" {nodes[0]['id']} " in line)
    assert row.split("│")[-5].strip() == size_of(nodes[0]["bytes"]["live"])


def size_of(n: int) -> str:
    from browser_cli.terminal import size
    return size(n)


def test_gc_says_why_a_round_was_skipped(dwp, monkeypatch: pytest.MonkeyPatch) -> None:
    """A round that a node's view change held back removes nothing; the reasons go to
    stderr, one a line, and the round still counts as run (exit 0)."""
    from browser_cli import history

    async def held_back(dry_run: bool, gateway: str, network: str | None) -> dict[str, Any]:
        return {"dry_run": dry_run, "chunks": 0, "bytes": 0, "waiting": 2_000_000,
                "deleted_keys": 3, "skipped": [
                    "no chunk collected: n2 is changing views or handing off; the next "
                    "round will"]}
    monkeypatch.setattr(history, "_gc", held_back)
    result = dwp("gc")
    assert result.exit_code == 0, result.output
    assert result.stdout == ("Removed 0 chunks (0 B); reaped 3 deleted keys; 1.9 MiB of "
                             "unnamed chunks wait for a later round\n")
    assert result.stderr == ("skipped: no chunk collected: n2 is changing views or handing "
                             "off; the next round will\n")
