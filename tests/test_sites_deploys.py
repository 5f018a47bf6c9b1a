"""A site with a live deploy is served from it (``gateway.sources``): its pages,
listings, 404, ``_redirects``, ``_headers`` and precompressed siblings, whatever its keys
hold; each kept deploy at its preview origin; a page's subresources from the deploy its
document came from (``gateway.pinning``). In process."""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

import httpx
import pytest

from dwp.client.network import Located
from dwp.core import deploys
from dwp.core.deploys import File, Manifest
from dwp.core.token import Token
from gateway.catalog import Directory
from gateway.pinning import DEPLOY_COOKIE
from gateway.sources import Deploy
from tests.conftest import Net
from tests.deploying import deploy, go_live
from tests.sites import origin, origin_host
from tests.test_sites import put, unique

DOCUMENT = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}
STYLE = {"Sec-Fetch-Dest": "style", "Sec-Fetch-Mode": "no-cors"}


def made(net: Net, site: str, files: dict[str, bytes], live: bool = True) -> str:
    assert net.transport is not None
    return deploy(net.transport.portal.call, net.client, site, files, live)


def switch(net: Net, site: str, deploy_id: str) -> None:
    assert net.transport is not None
    go_live(net.transport.portal.call, net.client, site, deploy_id)


def keys(net: Net, site: str, files: dict[str, bytes]) -> None:
    with net.http() as h:
        for path, body in files.items():
            put(h, net, f"{site}/{path}", body)


def preview(net: Net, site: str, deploy_id: str, **kwargs: Any) -> httpx.Client:
    host = origin_host(net, site).replace(f"{site}.", f"{deploy_id}.{site}.", 1)
    return net.http(headers={"Host": host, **kwargs.pop("headers", {})}, **kwargs)


@pytest.fixture(scope="module")
def site(inproc: Net) -> str:
    """A site whose keys say one thing and whose live deploy another."""
    name = unique("deployed")
    keys(inproc, name, {"index.html": b"<h1>keys</h1>", "dir/other.txt": b"keys",
                        "404.html": b"keys 404", "_headers": b"/*\n  X-Side: keys\n",
                        "_redirects": b"/old /keys.html 301\n"})
    made(inproc, name, {
        "index.html": b"<h1>deploy</h1>", "style.css": b"h1 { color: red }",
        "dir/a.txt": b"a", "dir/sub/b.txt": b"b", "404.html": b"deploy 404",
        "_headers": b"/*\n  X-Side: deploy\n", "_redirects": b"/old /new.html 301\n",
        "data.json": b'{"a": 1}' * 100, "data.json.gz": gzip.compress(b'{"a": 1}' * 100)})
    return name


def test_pages_come_from_the_live_deploy_not_the_keys(inproc: Net, site: str) -> None:
    with origin(inproc, site) as h:
        r = h.get("/")
        assert r.status_code == 200 and r.content == b"<h1>deploy</h1>"
        shard = inproc.client.shard_of_key(deploys.live_key(site))
        assert r.headers["x-dwp-shard"] == str(shard)  # the read of .live located it
        assert h.get("/", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
        part = h.get("/", headers={"Range": "bytes=4-9"})
        assert part.status_code == 206 and part.content == b"deploy"
        assert h.get("/dir/other.txt").status_code == 404  # only a key
    with inproc.http() as h:
        r = h.get(f"/sites/{site}/")
        assert r.content == b"<h1>deploy</h1>" and "set-cookie" not in r.headers


def test_a_listing_is_the_deploys_directory(inproc: Net, site: str) -> None:
    with origin(inproc, site) as h:
        r = h.get("/dir/")
        assert r.status_code == 200
        assert "a.txt" in r.text and "sub/" in r.text and "other.txt" not in r.text
        moved = h.get("/dir/sub")
        assert moved.status_code == 301 and moved.headers["location"] == "/dir/sub/"


def test_a_deploys_listing_pages_as_the_keys_listing_does() -> None:
    paths = ["a", "b/1", "b/2", "c", "d/e/f", "e"]
    manifest = Manifest("s", "a" * 12, 0, "", tuple(
        File(p, 1, b"h", "text/plain", 0, ()) for p in paths))
    source = Deploy("s", manifest, None)  # type: ignore[arg-type]

    def page(prefix: str, after: str, limit: int = 2) -> Directory:
        return asyncio.run(source.directory(prefix, after, limit=limit))

    whole = page("s/", "", limit=10)
    assert [e.name for e in whole.entries] == ["a", "b/", "c", "d/", "e"]
    assert whole.after is None

    first = page("s/", "")
    assert [e.name for e in first.entries] == ["a", "b/"] and first.after == "s/b/"
    second = page("s/", first.after or "")
    assert [e.name for e in second.entries] == ["c", "d/"] and second.after == "s/d/"
    last = page("s/", second.after or "")
    assert [e.name for e in last.entries] == ["e"] and last.after is None
    assert [e.key for e in page("s/b/", "").entries] == ["s/b/1", "s/b/2"]
    assert page("s/x/", "").entries == []


def test_the_404_the_redirects_and_the_headers_are_the_deploys(inproc: Net, site: str) -> None:
    with origin(inproc, site) as h:
        missing = h.get("/nowhere.html")
        assert missing.status_code == 404 and missing.content == b"deploy 404"
        assert missing.headers["x-side"] == "deploy"
        old = h.get("/old")
        assert old.status_code == 301 and old.headers["location"] == "/new.html"


def test_the_gateway_404_links_the_deploys_folders(inproc: Net) -> None:
    name = unique("bare")
    keys(inproc, name, {"keyonly/x.txt": b"x"})
    made(inproc, name, {"docs/page.html": b"p"})
    with origin(inproc, name) as h:
        r = h.get("/docs/keyonly/gone.html")
        assert r.status_code == 404
        assert 'href="/docs/"' in r.text and 'href="/keyonly/"' not in r.text


def test_precompressed_siblings_come_from_the_deploy(inproc: Net, site: str) -> None:
    with origin(inproc, site) as h, h.stream("GET", "/data.json",
                                            headers={"Accept-Encoding": "gzip"}) as r:
        sent = b"".join(r.iter_raw())
    assert r.headers["content-encoding"] == "gzip" and r.headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(sent) == b'{"a": 1}' * 100


def test_a_preview_serves_its_deploy_while_the_live_one_is_unchanged(inproc: Net) -> None:
    name = unique("preview")
    live = made(inproc, name, {"index.html": b"live", "only-live.txt": b"l"})
    other = made(inproc, name, {"index.html": b"preview"}, live=False)
    with preview(inproc, name, other) as h:
        r = h.get("/", headers=DOCUMENT)
        assert r.status_code == 200 and r.content == b"preview"
        assert "set-cookie" not in r.headers
        assert "content-security-policy" not in r.headers  # its own origin
        assert h.get("/only-live.txt").status_code == 404
    with preview(inproc, name, live) as h:
        assert h.get("/").content == b"live"
    with origin(inproc, name) as h:
        assert h.get("/").content == b"live"


def test_an_unknown_preview_id_is_a_404(inproc: Net, site: str) -> None:
    with preview(inproc, site, deploys.new_id()) as h:
        r = h.get("/")
    assert r.status_code == 404 and "no kept deploy" in r.json()["detail"]


def test_a_deploy_id_and_a_network_are_told_apart() -> None:
    from gateway.origins import SiteHost, site_of_host
    hosts = ["localhost"]
    assert site_of_host("abcdefghijkl.docs.localhost", hosts, ["test"]) == SiteHost(
        "docs", None, "abcdefghijkl")
    assert site_of_host("abcdefghijkl.test.localhost", hosts, ["test"]) == SiteHost(
        "abcdefghijkl", "test", None)
    assert site_of_host("abcdefghijkl.docs.work.localhost:8000", hosts, ["test"]) == (
        SiteHost("docs", "work", "abcdefghijkl"))
    assert site_of_host("docs.work.localhost", hosts, ["test"]) == SiteHost("docs", "work")
    assert site_of_host("abcdefghijkl.docs.pages.lan", [*hosts, "pages.lan"], ["test"]) == (
        SiteHost("docs", None, "abcdefghijkl"))


def test_a_preview_origin_is_a_site_origin_to_the_host_and_ui_rules(inproc: Net,
                                                                     site: str) -> None:
    live = made(inproc, site, {"index.html": b"<h1>deploy</h1>"}, live=False)
    with preview(inproc, site, live) as h:
        ui = h.get("/ui/login")
        assert ui.status_code == 404 and "dwp_token" not in ui.headers.get("set-cookie", "")
        assert "<form" not in ui.text  # the site's 404 page, never the UI's sign-in
    with inproc.http(headers={"Host": f"{live}.{site}.example.com"}) as h:
        assert h.get("/").status_code == 421


def pin_of(response: httpx.Response) -> dict[str, str]:
    """The Cookie header a browser sends after ``response``'s pin."""
    return {"Cookie": response.headers["set-cookie"].partition(";")[0]}


def test_a_document_pins_its_subresources_to_its_deploy(inproc: Net) -> None:
    name = unique("pinned")
    first = made(inproc, name, {"index.html": b"one", "style.css": b"one"})
    with origin(inproc, name) as h:
        page = h.get("/", headers=DOCUMENT)
        assert page.content == b"one"
        cookie = page.headers["set-cookie"]
        assert cookie.startswith(f"{DEPLOY_COOKIE}={first}.")
        for part in ("HttpOnly", "SameSite=lax", "Max-Age=300", "Path=/"):
            assert part.lower() in cookie.lower()
        second = made(inproc, name, {"index.html": b"two", "style.css": b"two"})
        h.cookies.clear()
        pinned = pin_of(page)
        assert h.get("/style.css", headers={**STYLE, **pinned}).content == b"one"
        assert h.get("/style.css", headers=STYLE).content == b"two"
        again = h.get("/", headers={**DOCUMENT, **pinned})
        assert again.content == b"two"
        assert again.headers["set-cookie"].startswith(f"{DEPLOY_COOKIE}={second}.")
        switch(inproc, name, first)  # a rollback: the pin names the live one again
        assert h.get("/style.css", headers={**STYLE, **pinned}).content == b"one"


def test_a_pin_to_a_deploy_no_longer_kept_gets_the_live_one(inproc: Net) -> None:
    name = unique("unpinned")
    old = made(inproc, name, {"index.html": b"old", "style.css": b"old"})
    with origin(inproc, name) as h:
        pinned = pin_of(h.get("/", headers=DOCUMENT))
        made(inproc, name, {"style.css": b"live"})
        assert inproc.transport is not None
        inproc.transport.portal.call(inproc.client.delete, deploys.deploy_key(name, old),
                                     Token())  # aged out
        h.cookies.clear()
        assert h.get("/style.css", headers={**STYLE, **pinned}).content == b"live"


def test_a_pin_the_gateway_did_not_set_is_ignored(inproc: Net) -> None:
    name, other = unique("forged"), unique("forger")
    old = made(inproc, name, {"index.html": b"old", "style.css": b"old"})
    made(inproc, other, {"index.html": b"other"})
    with origin(inproc, other) as h:
        other_pin = h.get("/", headers=DOCUMENT).headers["set-cookie"].partition(";")[0]
    mac = other_pin.partition(".")[2]
    made(inproc, name, {"style.css": b"live"})
    with origin(inproc, name) as h:
        for forged in (old, f"{old}.{mac}", f"{old}.{'0' * len(mac)}"):
            h.cookies.clear()
            r = h.get("/style.css", headers={**STYLE, "Cookie": f"{DEPLOY_COOKIE}={forged}"})
            assert r.content == b"live", forged


def test_the_ui_still_signs_in_with_a_pin_cookie_beside_its_own(inproc: Net) -> None:
    with inproc.ui() as h:
        h.cookies.set(DEPLOY_COOKIE, deploys.new_id())
        assert h.get("/").status_code == 200
        r = h.put("/api/v1/objects/pin-cookie/x.txt", content=b"x")
        assert r.status_code == 200, r.text


def test_the_dwp_located_headers_of_a_preview_are_its_manifests_read(inproc: Net) -> None:
    name = unique("located")
    other = made(inproc, name, {"index.html": b"p"}, live=False)
    with preview(inproc, name, other) as h:
        r = h.get("/")
    where = Located(inproc.client.shard_of_key(deploys.deploy_key(name, other)), "")
    assert r.headers["x-dwp-shard"] == str(where.shard)


def test_a_live_value_naming_no_deploy_leaves_the_keys_served(inproc: Net) -> None:
    name = unique("garbled")
    keys(inproc, name, {"index.html": b"keys"})
    assert inproc.transport is not None
    inproc.transport.portal.call(inproc.client.put, deploys.live_key(name), b"\xff not an id",
                                 "text/plain", Token())
    with origin(inproc, name) as h:
        assert h.get("/").content == b"keys"


def test_a_live_deploy_whose_manifest_no_replica_holds_is_a_503(inproc: Net) -> None:
    name = unique("unreadable")
    keys(inproc, name, {"index.html": b"keys"})
    switch(inproc, name, deploys.new_id())
    with origin(inproc, name) as h:
        r = h.get("/")
    assert r.status_code == 503 and "manifest" in r.text


def test_two_switches_at_once_serve_the_winner_and_name_the_conflict(inproc: Net) -> None:
    name = unique("conflict")
    first = made(inproc, name, {"index.html": b"first"}, live=False)
    second = made(inproc, name, {"index.html": b"second"}, live=False)
    switch(inproc, name, first)
    assert inproc.transport is not None
    call, key = inproc.transport.portal.call, deploys.live_key(name)
    seen = call(inproc.client.get, key, Token()).token
    for deploy_id in (first, second):  # one context: neither saw the other
        call(inproc.client.put, key, deploy_id.encode(), "text/plain", seen)
    live = call(inproc.client.get, key, Token()).versions
    assert len(live) == 2
    with origin(inproc, name) as h:
        r = h.get("/")
    assert r.content == {first: b"first", second: b"second"}[live[0].data.decode()]
    assert r.headers["x-dwp-siblings"] == "2"
