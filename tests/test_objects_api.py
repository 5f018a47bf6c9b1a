"""The object API, in process (the gateway app over real nodes): round trips, listing,
and bad input refused cleanly."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gateway import GatewaySettings, create_app
from tests.conftest import TEST_MAX_UPLOAD, Net


def site() -> str:
    return f"api-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("size", [0, 1, 16 * 1024, 16 * 1024 + 1, 5 * 1024 * 1024])
def test_byte_exact_round_trip(inproc: Net, size: int) -> None:
    body = os.urandom(size)
    key = f"{site()}/file.bin"
    with inproc.http() as h:
        put = h.put(f"/api/v1/objects/{key}", content=body, headers={
            **inproc.auth, "Content-Type": "application/x-test"})
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


def test_content_type_is_guessed_when_not_given(inproc: Net) -> None:
    key = f"{site()}/page.html"
    with inproc.http() as h:
        h.put(f"/api/v1/objects/{key}", content=b"<p>hi</p>",
              headers={**inproc.auth, "Content-Type": ""})
        assert h.get(f"/api/v1/objects/{key}").headers["content-type"].startswith("text/html")


def test_delete_then_read_is_404_and_deleting_again_is_404(inproc: Net) -> None:
    key = f"{site()}/gone.txt"
    with inproc.http() as h:
        h.put(f"/api/v1/objects/{key}", content=b"x", headers=inproc.auth)
        assert h.delete(f"/api/v1/objects/{key}", headers=inproc.auth).status_code == 204
        r = h.get(f"/api/v1/objects/{key}")
        assert r.status_code == 404 and r.json()["error"] == "not found"
        assert h.delete(f"/api/v1/objects/{key}", headers=inproc.auth).status_code == 404


def test_listing_is_ordered_paged_and_scoped_by_prefix(inproc: Net) -> None:
    s = site()
    keys = sorted(f"{s}/d{i % 3}/f{i:03}.txt" for i in range(25))
    with inproc.http() as h:
        token = ""
        for k in keys:
            r = h.put(f"/api/v1/objects/{k}", content=k.encode(),
                      headers={**inproc.auth, "X-DWP-Context": token})
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
def test_invalid_keys_are_refused_and_nothing_is_stored(inproc: Net, key: str) -> None:
    s = site()
    with inproc.http() as h:
        r = h.put(f"/api/v1/objects/{key.format(s=s)}", content=b"x", headers=inproc.auth)
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "invalid key" and r.json()["detail"]
        assert h.get("/api/v1/objects", params={"prefix": s}).json()["objects"] == []


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": "Basic abc"}])
def test_writes_without_the_token_are_refused(inproc: Net, headers: dict[str, str]) -> None:
    key = f"{site()}/x.txt"
    with inproc.http() as h:
        for r in (h.put(f"/api/v1/objects/{key}", content=b"x", headers=headers),
                  h.delete(f"/api/v1/objects/{key}", headers=headers)):
            assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        assert h.get(f"/api/v1/objects/{key}").status_code == 404


@pytest.mark.parametrize("token", ["garbage", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "é".encode()])
def test_invalid_context_tokens_are_refused(inproc: Net, token: str | bytes) -> None:
    key = f"{site()}/x.txt"
    with inproc.http() as h:
        r = h.put(f"/api/v1/objects/{key}", content=b"x",
                  headers={**inproc.auth, "X-DWP-Context": token})
        assert r.status_code == 400 and r.json()["error"] == "invalid context token"
        assert h.get(f"/api/v1/objects/{key}",
                     headers={"X-DWP-Context": token}).status_code == 400
        assert h.get(f"/api/v1/objects/{key}").status_code == 404


def test_an_oversize_upload_is_413_and_leaves_the_old_value(inproc: Net) -> None:
    key = f"{site()}/big.bin"

    def stream() -> Iterator[bytes]:
        for _ in range(TEST_MAX_UPLOAD // 65536 + 2):
            yield os.urandom(65536)

    with inproc.http() as h:
        h.put(f"/api/v1/objects/{key}", content=b"old", headers=inproc.auth)
        r = h.put(f"/api/v1/objects/{key}", content=stream(), headers=inproc.auth)
        assert r.status_code == 413 and r.json()["error"] == "too large"
        assert h.get(f"/api/v1/objects/{key}").content == b"old"


def test_a_request_pinned_to_a_node_without_the_shard_is_421(inproc: Net) -> None:
    key = f"{site()}/x.txt"
    shard = inproc.client.shard_of_key(key)
    other = next(n for s, m in inproc.client.view.shards.items() if s != shard for n in m)
    with inproc.http() as h:
        r = h.put(f"/api/v1/objects/{key}", content=b"x",
                  headers={**inproc.auth, "X-DWP-Replica": other})
        assert r.status_code == 421 and r.json()["error"] == "wrong replica"
        for node in inproc.shard_members(shard):
            r = h.put(f"/api/v1/objects/{key}", content=node.encode(),
                      headers={**inproc.auth, "X-DWP-Replica": node})
            assert r.headers["x-dwp-node"] == node


def test_fault_injection_exists_only_when_enabled() -> None:
    app = create_app([], GatewaySettings())
    with TestClient(app) as h:
        r = h.put("/api/v1/faults", json={"partitions": []},
                  headers={"Authorization": "Bearer s"})
        assert r.status_code == 404 and r.json()["error"] == "not found"
