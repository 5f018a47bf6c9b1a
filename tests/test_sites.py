"""Site serving over real HTTP: redirects, indexes, listings, types, conditional GET,
ranges, HEAD, downloads, 404 pages, conflicts and the sandboxing CSP."""

from __future__ import annotations

import tracemalloc
import uuid

import httpx
import pytest

from tests.conftest import Net


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def put(h: httpx.Client, net: Net, key: str, body: bytes, ctype: str | None = None,
        context: str | None = None) -> httpx.Response:
    headers = dict(net.auth)
    if ctype:
        headers["Content-Type"] = ctype
    if context:
        headers["X-DWP-Context"] = context
    r = h.put(f"/api/v1/objects/{key}", content=body, headers=headers)
    assert r.status_code == 200, r.text
    return r


@pytest.fixture(scope="module")
def site(net: Net) -> str:
    name = unique("site")
    with net.http() as h:
        put(h, net, f"{name}/index.html", b"<h1>home</h1>")
        put(h, net, f"{name}/style.css", b"body{color:red}")
        put(h, net, f"{name}/app.js", b"console.log(1)")
        put(h, net, f"{name}/data.json", b"{}")
        put(h, net, f"{name}/docs/index.html", b"<p>docs</p>")
        put(h, net, f"{name}/files/a.txt", b"a")
        put(h, net, f"{name}/files/deep/b.txt", b"bb")
    return name


def test_root_without_slash_redirects(net: Net, site: str) -> None:
    with net.http() as h:
        r = h.get(f"/sites/{site}")
        assert r.status_code == 301
        assert r.headers["location"] == f"/sites/{site}/"
        r = h.get(f"/sites/{site}/docs?x=1")
        assert r.status_code == 301
        assert r.headers["location"] == f"/sites/{site}/docs/?x=1"


def test_directory_serves_index(net: Net, site: str) -> None:
    with net.http() as h:
        r = h.get(f"/sites/{site}/")
        assert r.status_code == 200
        assert r.text == "<h1>home</h1>"
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["x-dwp-shard"].isdigit() and r.headers["x-dwp-node"]
        assert h.get(f"/sites/{site}/docs/").text == "<p>docs</p>"


def test_directory_without_index_lists(net: Net, site: str) -> None:
    with net.http() as h:
        r = h.get(f"/sites/{site}/files/")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert 'href="a.txt"' in r.text and 'href="deep/"' in r.text
        assert "sandbox" in r.headers["content-security-policy"]


@pytest.mark.parametrize(("name", "ctype"), [
    ("style.css", "text/css"), ("app.js", "javascript"), ("data.json", "application/json"),
    ("index.html", "text/html")])
def test_content_types(net: Net, site: str, name: str, ctype: str) -> None:
    with net.http() as h:
        r = h.get(f"/sites/{site}/{name}")
        assert r.status_code == 200
        assert ctype in r.headers["content-type"]
        assert r.headers["x-content-type-options"] == "nosniff"


def test_etag_and_304(net: Net, site: str) -> None:
    with net.http() as h:
        r = h.get(f"/sites/{site}/style.css")
        etag = r.headers["etag"]
        assert etag.startswith('"') and len(etag) == 66
        r = h.get(f"/sites/{site}/style.css", headers={"If-None-Match": etag})
        assert r.status_code == 304 and r.content == b""
        assert r.headers["etag"] == etag
        r = h.get(f"/sites/{site}/style.css", headers={"If-None-Match": f'"x", W/{etag}'})
        assert r.status_code == 304
        r = h.get(f"/sites/{site}/style.css", headers={"If-None-Match": '"other"'})
        assert r.status_code == 200


def test_head(net: Net, site: str) -> None:
    with net.http() as h:
        r = h.head(f"/sites/{site}/style.css")
        assert r.status_code == 200 and r.content == b""
        assert r.headers["content-length"] == "15"
        assert r.headers["content-type"].startswith("text/css")
        assert h.head(f"/sites/{site}/nope.html").status_code == 404


def test_range_inline(net: Net, site: str) -> None:
    with net.http() as h:
        r = h.get(f"/sites/{site}/style.css", headers={"Range": "bytes=0-3"})
        assert r.status_code == 206 and r.content == b"body"
        assert r.headers["content-range"] == "bytes 0-3/15"
        r = h.get(f"/sites/{site}/style.css", headers={"Range": "bytes=-4"})
        assert r.content == b"red}"
        r = h.get(f"/sites/{site}/style.css", headers={"Range": "bytes=99-"})
        assert r.status_code == 416
        assert r.headers["content-range"] == "bytes */15"
        r = h.get(f"/sites/{site}/style.css", headers={"Range": "bytes=0-1,4-5"})
        assert r.status_code == 200 and len(r.content) == 15
        r = h.get(f"/sites/{site}/style.css",
                  headers={"Range": "bytes=0-3", "If-Range": '"stale"'})
        assert r.status_code == 200


def test_large_file_streams_ranges_and_memory(net: Net) -> None:
    name = unique("big")
    data = bytes(range(256)) * (12 * 4096)  # 12 MiB, 192 chunks
    with net.http() as h:
        put(h, net, f"{name}/blob.bin", data)
        start, end = 65536 * 3 - 10, 65536 * 5 + 10
        r = h.get(f"/sites/{name}/blob.bin", headers={"Range": f"bytes={start}-{end}"})
        assert r.status_code == 206 and r.content == data[start:end + 1]
        r = h.get(f"/api/v1/objects/{name}/blob.bin", headers={"Range": "bytes=-100"})
        assert r.status_code == 206 and r.content == data[-100:]
        tracemalloc.start()
        try:
            received = 0
            with h.stream("GET", f"/sites/{name}/blob.bin") as s:
                assert s.headers["content-length"] == str(len(data))
                for piece in s.iter_bytes():
                    received += len(piece)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert received == len(data)
        assert peak < len(data) // 3, f"peak {peak} bytes while streaming {len(data)}"


def test_download(net: Net, site: str) -> None:
    with net.http() as h:
        r = h.get(f"/sites/{site}/data.json?download=1")
        assert r.status_code == 200
        assert r.headers["content-disposition"].startswith('attachment; filename="data.json"')


def test_not_found_page(net: Net, site: str) -> None:
    with net.http() as h:
        r = h.get(f"/sites/{site}/docs/missing.html", headers={"Accept": "text/html"})
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("text/html")
        assert f"/{site}/docs/" in r.text and "Search the network" in r.text
        r = h.get(f"/sites/{unique('nosite')}/")
        assert r.status_code == 404


def test_bad_names_answer_400(net: Net) -> None:
    with net.http() as h:
        r = h.get("/sites/x/a//b")
        assert r.status_code == 400
        assert r.json()["error"] == "invalid key"
        r = h.get("/sites/x/a%01b", headers={"Accept": "text/html"})
        assert r.status_code == 400 and "control character" in r.text


def test_csp_sandboxes_pages_and_raw_objects(net: Net, site: str) -> None:
    with net.http() as h:
        csp = h.get(f"/sites/{site}/").headers["content-security-policy"]
        assert csp.startswith("sandbox ") and "allow-scripts" in csp
        assert "allow-same-origin" not in csp
        raw = h.get(f"/api/v1/objects/{site}/index.html").headers["content-security-policy"]
        assert raw == "sandbox"


def test_siblings_header(net: Net) -> None:
    key = f"{unique('conflict')}/page.html"
    with net.http() as h:
        put(h, net, key, b"one")
        context = h.get(f"/api/v1/objects/{key}").headers["x-dwp-context"]
        put(h, net, key, b"two", context=context)
        put(h, net, key, b"three", context=context)
        r = h.get(f"/sites/{key}")
        assert r.headers["x-dwp-siblings"] == "2"
        assert r.content in (b"two", b"three")
