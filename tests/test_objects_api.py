"""The object API over real HTTP: round trips, listing, and bad input refused cleanly."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gateway import GatewaySettings, create_app
from tests.conftest import TEST_MAX_UPLOAD, Net


def site() -> str:
    return f"api-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("size", [0, 1, 16 * 1024, 16 * 1024 + 1, 5 * 1024 * 1024])
def test_byte_exact_round_trip(net: Net, size: int) -> None:
    body = os.urandom(size)
    key = f"{site()}/file.bin"
    with net.http() as h:
        put = h.put(f"/api/v1/objects/{key}", content=body, headers={
            **net.auth, "Content-Type": "application/x-test"})
        assert put.status_code == 200, put.text
        assert put.json()["size"] == size
        got = h.get(f"/api/v1/objects/{key}")
        assert got.status_code == 200
        assert got.content == body
        assert got.headers["content-type"] == "application/x-test"
        assert got.headers["etag"] == put.headers["etag"] == f'"{put.json()["hash"]}"'
        assert got.headers["x-dwp-shard"] and got.headers["x-dwp-node"]
        head = h.head(f"/api/v1/objects/{key}")
        assert head.headers["content-length"] == str(size) and head.content == b""


def test_content_type_is_guessed_when_not_given(net: Net) -> None:
    key = f"{site()}/page.html"
    with net.http() as h:
        h.put(f"/api/v1/objects/{key}", content=b"<p>hi</p>",
              headers={**net.auth, "Content-Type": ""})
        assert h.get(f"/api/v1/objects/{key}").headers["content-type"].startswith("text/html")


def test_delete_then_read_is_404_and_deleting_again_is_404(net: Net) -> None:
    key = f"{site()}/gone.txt"
    with net.http() as h:
        h.put(f"/api/v1/objects/{key}", content=b"x", headers=net.auth)
        assert h.delete(f"/api/v1/objects/{key}", headers=net.auth).status_code == 204
        r = h.get(f"/api/v1/objects/{key}")
        assert r.status_code == 404 and r.json()["error"] == "not found"
        assert h.delete(f"/api/v1/objects/{key}", headers=net.auth).status_code == 404


def test_listing_is_ordered_paged_and_scoped_by_prefix(net: Net) -> None:
    s = site()
    keys = sorted(f"{s}/d{i % 3}/f{i:03}.txt" for i in range(25))
    with net.http() as h:
        token = ""
        for k in keys:
            r = h.put(f"/api/v1/objects/{k}", content=k.encode(),
                      headers={**net.auth, "X-DWP-Context": token})
            assert r.status_code == 200
            token = r.headers["x-dwp-context"]  # a client carries its past along
        seen, cursor = [], ""
        while True:
            page = h.get("/api/v1/objects", params={"prefix": f"{s}/", "limit": 7,
                                                     "cursor": cursor},
                         headers={"X-DWP-Context": token}).json()
            seen += [o["key"] for o in page["objects"]]
            if not page["next_cursor"]:
                break
            cursor = page["next_cursor"]
        assert seen == keys
        d1 = h.get("/api/v1/objects", params={"prefix": f"{s}/d1/"},
                   headers={"X-DWP-Context": token}).json()["objects"]
        assert [o["key"] for o in d1] == [k for k in keys if "/d1/" in k]


BAD_KEYS = ["{s}//b", "{s}/%2E/b", "{s}/%2E%2E/b", "{s}/b%00c", "{s}/b%01", "{s}/b%7F",
            "{s}/" + "x" * 1100, "{s}/b/"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_invalid_keys_are_refused_and_nothing_is_stored(net: Net, key: str) -> None:
    s = site()
    with net.http() as h:
        r = h.put(f"/api/v1/objects/{key.format(s=s)}", content=b"x", headers=net.auth)
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "invalid key" and r.json()["detail"]
        assert h.get("/api/v1/objects", params={"prefix": s}).json()["objects"] == []


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": "Basic abc"}])
def test_writes_without_the_token_are_refused(net: Net, headers: dict[str, str]) -> None:
    key = f"{site()}/x.txt"
    with net.http() as h:
        for r in (h.put(f"/api/v1/objects/{key}", content=b"x", headers=headers),
                  h.delete(f"/api/v1/objects/{key}", headers=headers)):
            assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        assert h.get(f"/api/v1/objects/{key}").status_code == 404


@pytest.mark.parametrize("token", ["garbage", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "é".encode()])
def test_invalid_context_tokens_are_refused(net: Net, token: str | bytes) -> None:
    key = f"{site()}/x.txt"
    with net.http() as h:
        r = h.put(f"/api/v1/objects/{key}", content=b"x",
                  headers={**net.auth, "X-DWP-Context": token})
        assert r.status_code == 400 and r.json()["error"] == "invalid context token"
        assert h.get(f"/api/v1/objects/{key}",
                     headers={"X-DWP-Context": token}).status_code == 400
        assert h.get(f"/api/v1/objects/{key}").status_code == 404


def test_an_oversize_upload_is_413_and_leaves_the_old_value(net: Net) -> None:
    key = f"{site()}/big.bin"

    def stream() -> Iterator[bytes]:
        for _ in range(TEST_MAX_UPLOAD // 65536 + 2):
            yield os.urandom(65536)

    with net.http() as h:
        h.put(f"/api/v1/objects/{key}", content=b"old", headers=net.auth)
        r = h.put(f"/api/v1/objects/{key}", content=stream(), headers=net.auth)
        assert r.status_code == 413 and r.json()["error"] == "too large"
        assert raw_status(net, f"PUT /api/v1/objects/{key} HTTP/1.1\r\nHost: t\r\n"
                          f"Authorization: Bearer {net.token}\r\n"
                          f"Content-Length: {TEST_MAX_UPLOAD + 1}\r\n\r\n") == 413
        assert h.get(f"/api/v1/objects/{key}").content == b"old"


def raw_status(net: Net, request: str) -> int:
    """Send a request head the way a misbehaving client would; answer its status."""
    host, port = net.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request.encode())
        return int(sock.recv(4096).split(b" ", 2)[1])


def test_a_request_pinned_to_a_node_without_the_shard_is_421(net: Net) -> None:
    key = f"{site()}/x.txt"
    shard = net.client.shard_of_key(key)
    other = next(n for s, m in net.client.view.shards.items() if s != shard for n in m)
    with net.http() as h:
        r = h.put(f"/api/v1/objects/{key}", content=b"x",
                  headers={**net.auth, "X-DWP-Replica": other})
        assert r.status_code == 421 and r.json()["error"] == "wrong replica"
        for node in net.shard_members(shard):
            r = h.put(f"/api/v1/objects/{key}", content=node.encode(),
                      headers={**net.auth, "X-DWP-Replica": node})
            assert r.headers["x-dwp-node"] == node


def test_fault_injection_exists_only_when_enabled() -> None:
    app = create_app([], GatewaySettings())
    with TestClient(app) as h:
        r = h.put("/api/v1/faults", json={"partitions": []},
                  headers={"Authorization": "Bearer s"})
        assert r.status_code == 404 and r.json()["error"] == "not found"


def test_a_slow_client_does_not_hold_up_others_and_writes_nothing(net: Net) -> None:
    """A client that stalls mid-body ties up only its own request."""
    key = f"{site()}/slow.bin"
    host, port = net.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as slow:
        slow.sendall(f"PUT /api/v1/objects/{key} HTTP/1.1\r\nHost: t\r\n"
                     f"Authorization: Bearer {net.token}\r\nContent-Length: 100000\r\n\r\n"
                     "only part of it".encode())
        with net.http() as h:
            for _ in range(5):
                assert h.get("/healthz").status_code == 200
            assert h.put(f"/api/v1/objects/{key}.other", content=b"x",
                         headers=net.auth).status_code == 200
    with net.http() as h:
        assert h.get(f"/api/v1/objects/{key}").status_code == 404
