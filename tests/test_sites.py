"""Site serving, in process (the gateway app over real nodes), on each site's own origin
(the Host header names it, as a browser's would): redirects, indexes, listings, types,
conditional GET, ranges, HEAD, downloads, 404 pages and conflicts; path-style serving and
its sandboxing CSP for a LAN client of a gateway without a site domain."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import urlsplit

import pytest

from tests.conftest import Net
from tests.helpers import put, unique
from tests.sites import LAN_HOST, NAVIGATE, lan, origin, origin_host


@pytest.fixture(scope="module")
def site(inproc: Net) -> str:
    name = unique("site")
    with inproc.http() as h:
        put(h, inproc, f"{name}/index.html", b"<h1>home</h1>")
        put(h, inproc, f"{name}/style.css", b"body{color:red}")
        put(h, inproc, f"{name}/app.js", b"console.log(1)")
        put(h, inproc, f"{name}/data.json", b"{}")
        put(h, inproc, f"{name}/docs/index.html", b"<p>docs</p>")
        put(h, inproc, f"{name}/files/a.txt", b"a")
        put(h, inproc, f"{name}/files/deep/b.txt", b"bb")
    return name


def test_browser_path_urls_redirect_to_the_site_origin(inproc: Net, site: str) -> None:
    host = origin_host(inproc, site)
    with inproc.http(headers=NAVIGATE) as h:
        r = h.get(f"/sites/{site}")
        assert r.status_code == 301
        assert r.headers["location"] == f"http://{host}/"
        assert r.headers["x-dwp-gateway"] == "1", "how the CLI tells it from another server"
        r = h.get(f"/sites/{site}/docs/a%20b.html?x=1&y=2")
        assert r.status_code == 301
        assert r.headers["location"] == f"http://{host}/docs/a%20b.html?x=1&y=2"
        r = h.head(f"/sites/{site}/style.css", headers={"Host": "localhost:8123"})
        assert r.headers["location"] == f"http://{site}.localhost:8123/style.css"


@pytest.mark.parametrize("fetch_metadata", [
    {"Sec-Fetch-Mode": "navigate"}, {"Sec-Fetch-Dest": "image"}, {"Sec-Fetch-Site": "none"},
    {"sec-fetch-user": "?1"}])
def test_any_fetch_metadata_is_a_browser(inproc: Net, site: str,
                                         fetch_metadata: dict[str, str]) -> None:
    with inproc.http() as h:
        r = h.get(f"/sites/{site}/style.css", headers=fetch_metadata)
        assert r.status_code == 301
        assert r.headers["location"] == f"http://{origin_host(inproc, site)}/style.css"


def test_clients_without_fetch_metadata_are_served_in_place(inproc: Net, site: str
                                                            ) -> None:
    """wget, curl and scripts: no Sec-Fetch-* header, and often no resolver for
    ``{site}.localhost``: the path URL answers, under the sandbox, and links resolve."""
    with inproc.http(headers={"User-Agent": "Wget/1.21.3"}) as h:
        r = h.get(f"/sites/{site}/")
        assert r.status_code == 200 and r.text == "<h1>home</h1>"
        csp = r.headers["content-security-policy"]
        assert csp.startswith("sandbox ") and "allow-same-origin" not in csp
        r = h.get(f"/sites/{site}/style.css")
        assert (r.status_code, r.content) == (200, b"body{color:red}")
        assert r.headers["content-security-policy"] == csp
        r = h.get(f"/sites/{site}")
        assert r.status_code == 301 and r.headers["location"] == f"/sites/{site}/"
        r = h.get(f"/sites/{site}/docs")
        assert r.status_code == 301 and r.headers["location"] == f"/sites/{site}/docs/"
        assert h.get(f"/sites/{site}/docs/").text == "<p>docs</p>"
        assert h.head(f"/sites/{site}/files/a.txt").status_code == 200


def test_directory_without_slash_redirects(inproc: Net, site: str) -> None:
    with origin(inproc, site) as h:
        r = h.get("/docs?x=1")
        assert r.status_code == 301
        assert r.headers["location"] == "/docs/?x=1"


def test_directory_serves_index(inproc: Net, site: str) -> None:
    with origin(inproc, site) as h:
        r = h.get("/")
        assert r.status_code == 200
        assert r.text == "<h1>home</h1>"
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["x-dwp-shard"].isdigit() and r.headers["x-dwp-node"]
        assert h.get("/docs/").text == "<p>docs</p>"


def test_directory_without_index_lists(inproc: Net, site: str) -> None:
    with origin(inproc, site) as h:
        r = h.get("/files/")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert 'href="a.txt"' in r.text and 'href="deep/"' in r.text
        assert "content-security-policy" not in r.headers


@pytest.mark.parametrize(("name", "ctype"), [
    ("style.css", "text/css"), ("app.js", "javascript"), ("data.json", "application/json"),
    ("index.html", "text/html")])
def test_content_types(inproc: Net, site: str, name: str, ctype: str) -> None:
    with origin(inproc, site) as h:
        r = h.get(f"/{name}")
        assert r.status_code == 200
        assert ctype in r.headers["content-type"]
        assert r.headers["x-content-type-options"] == "nosniff"


def test_etag_and_304(inproc: Net, site: str) -> None:
    with origin(inproc, site) as h:
        r = h.get("/style.css")
        etag = r.headers["etag"]
        assert etag.startswith('"') and len(etag) == 66
        r = h.get("/style.css", headers={"If-None-Match": etag})
        assert r.status_code == 304 and r.content == b""
        assert r.headers["etag"] == etag
        r = h.get("/style.css", headers={"If-None-Match": f'"x", W/{etag}'})
        assert r.status_code == 304
        r = h.get("/style.css", headers={"If-None-Match": '"other"'})
        assert r.status_code == 200


def test_last_modified_and_if_modified_since(inproc: Net, site: str) -> None:
    with origin(inproc, site) as h:
        r = h.get("/style.css")
        assert r.headers["cache-control"] == "no-cache"
        stamp = r.headers["last-modified"]
        modified = parsedate_to_datetime(stamp)
        r = h.get("/style.css", headers={"If-Modified-Since": stamp})
        assert r.status_code == 304 and r.content == b""
        assert r.headers["last-modified"] == stamp
        later = format_datetime(modified + timedelta(days=1), usegmt=True)
        assert h.get("/style.css", headers={"If-Modified-Since": later}).status_code == 304
        earlier = format_datetime(modified - timedelta(seconds=1), usegmt=True)
        r = h.get("/style.css", headers={"If-Modified-Since": earlier})
        assert r.status_code == 200 and r.content == b"body{color:red}"
        r = h.get("/style.css", headers={"If-Modified-Since": "yesterday"})
        assert r.status_code == 200
        # If-None-Match decides when both are sent (RFC 9110 13.1.3)
        r = h.get("/style.css", headers={"If-Modified-Since": stamp,
                                         "If-None-Match": '"other"'})
        assert r.status_code == 200


def test_head(inproc: Net, site: str) -> None:
    with origin(inproc, site) as h:
        r = h.head("/style.css")
        assert r.status_code == 200 and r.content == b""
        assert r.headers["content-length"] == "15"
        assert r.headers["content-type"].startswith("text/css")
        assert h.head("/nope.html").status_code == 404


def test_range_inline(inproc: Net, site: str) -> None:
    with origin(inproc, site) as h:
        r = h.get("/style.css", headers={"Range": "bytes=0-3"})
        assert r.status_code == 206 and r.content == b"body"
        assert r.headers["content-range"] == "bytes 0-3/15"
        r = h.get("/style.css", headers={"Range": "bytes=-4"})
        assert r.content == b"red}"
        r = h.get("/style.css", headers={"Range": "bytes=99-"})
        assert r.status_code == 416
        assert r.headers["content-range"] == "bytes */15"
        r = h.get("/style.css", headers={"Range": "bytes=0-1,4-5"})
        assert r.status_code == 200 and len(r.content) == 15
        r = h.get("/style.css", headers={"Range": "bytes=0-3", "If-Range": '"stale"'})
        assert r.status_code == 200


def test_ranges_of_a_large_file_span_chunks(inproc: Net) -> None:
    name = unique("big")
    data = bytes(range(256)) * (12 * 4096)  # 12 MiB, 192 chunks
    with inproc.http() as h:
        put(h, inproc, f"{name}/blob.bin", data)
        r = h.get(f"/api/v1/objects/{name}/blob.bin", headers={"Range": "bytes=-100"})
        assert r.status_code == 206 and r.content == data[-100:]
    with origin(inproc, name) as h:
        start, end = 65536 * 3 - 10, 65536 * 5 + 10
        r = h.get("/blob.bin", headers={"Range": f"bytes={start}-{end}"})
        assert r.status_code == 206 and r.content == data[start:end + 1]
        assert h.get("/blob.bin").content == data


def test_download(inproc: Net, site: str) -> None:
    with origin(inproc, site) as h:
        r = h.get("/data.json?download=1")
        assert r.status_code == 200
        assert r.headers["content-disposition"].startswith('attachment; filename="data.json"')


def test_not_found_page(inproc: Net, site: str) -> None:
    with origin(inproc, site) as h:
        r = h.get("/docs/missing.html", headers={"Accept": "text/html"})
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("text/html")
        assert f"/{site}/docs/" in r.text and "Search the network" in r.text
        # its links to the UI and its styles point at the UI's origin, not the site's
        ui = f"http://localhost:{urlsplit(inproc.url).port}"
        assert f'href="{ui}/static/dwp.css"' in r.text and f'href="{ui}/ui/search?q=' in r.text
    nosite = unique("nosite")
    with origin(inproc, nosite) as h:
        assert h.get("/").status_code == 404


def test_unknown_site_hosts_are_404_never_the_ui(inproc: Net) -> None:
    port = urlsplit(inproc.url).port
    with inproc.http() as h:
        for host in (f"a.b.c.localhost:{port}", f"u--1.localhost:{port}",
                     f"a--b.localhost:{port}", f"a.u--1.localhost:{port}"):
            r = h.get("/", headers={"Host": host})
            assert r.status_code == 404, host
            assert r.json()["error"] == "not found"


def test_bad_names_answer_400(inproc: Net) -> None:
    with origin(inproc, "x") as h:
        r = h.get("/a//b")
        assert r.status_code == 400
        assert r.json()["error"] == "invalid key"
        r = h.get("/a%01b", headers={"Accept": "text/html"})
        assert r.status_code == 400 and "control character" in r.text
    with inproc.http() as h:
        r = h.get("/sites/x/a%01b")
        assert r.status_code == 400


def test_site_origin_has_no_sandbox_and_no_api(inproc: Net, site: str) -> None:
    with origin(inproc, site) as h:
        assert "content-security-policy" not in h.get("/").headers
        # every path of a site's origin is the site's: the API is not reachable there
        assert h.get(f"/api/v1/objects/{site}/index.html").status_code == 404
        r = h.put(f"/api/v1/objects/{site}/index.html", content=b"x", headers=inproc.auth)
        assert r.status_code == 405
        assert h.get("/ui/search?q=x").status_code == 404
    with inproc.http() as h:
        assert h.get(f"/api/v1/objects/{site}/index.html").content == b"<h1>home</h1>"


def test_lan_client_without_site_domain_gets_sandboxed_path_pages(inproc: Net, site: str
                                                                  ) -> None:
    with lan(inproc) as h:
        r = h.get(f"/sites/{site}/")
        assert r.status_code == 200 and r.text == "<h1>home</h1>"
        csp = r.headers["content-security-policy"]
        assert csp.startswith("sandbox ") and "allow-scripts" in csp
        assert "allow-same-origin" not in csp
        r = h.get(f"/sites/{site}")
        assert r.status_code == 301 and r.headers["location"] == f"/sites/{site}/"
        r = h.get(f"/sites/{site}/docs?x=1")
        assert r.headers["location"] == f"/sites/{site}/docs/?x=1"
        assert "sandbox" in h.get(f"/sites/{site}/files/").headers["content-security-policy"]
        r = h.get(f"/sites/{site}/missing.html", headers={"Accept": "text/html"})
        assert r.status_code == 404 and f'href="/sites/{site}/"' in r.text
        assert LAN_HOST not in r.text
        raw = h.get(f"/api/v1/objects/{site}/index.html").headers["content-security-policy"]
        assert raw == "sandbox"
        # the UI's links are path links too
        found = h.get("/ui/search", params={"q": f"{site}/style"}).text
        assert f'href="/sites/{site}/style.css"' in found
        assert 'data-site-url="/sites/dwp-site-placeholder/"' in h.get("/ui/publish").text


def test_ui_links_open_the_site_origin(inproc: Net, site: str) -> None:
    with inproc.http() as h:
        found = h.get("/ui/search", params={"q": f"{site}/style"}).text
        assert f'href="http://{origin_host(inproc, site)}/style.css"' in found
        details = h.get(f"/ui/object/{site}/style.css").text
        assert f'href="http://{origin_host(inproc, site)}/style.css?download=1"' in details
        publish = h.get("/ui/publish").text  # its script puts the site's name in
        assert f'data-site-url="http://{origin_host(inproc, "dwp-site-placeholder")}/"' in publish


def test_siblings_header(inproc: Net) -> None:
    """Two writes with one context are siblings; the page serves the winner of the rule
    in ``dwp.core.replica.live``: the newest ``mtime``, a tie going to the higher dot."""
    site = unique("conflict")
    key = f"{site}/page.html"
    with inproc.http() as h:
        put(h, inproc, key, b"one")
        context = h.get(f"/api/v1/objects/{key}").headers["x-dwp-context"]
        node = put(h, inproc, key, b"two", context=context).headers["x-dwp-node"]
        assert put(h, inproc, key, b"three", context=context).headers["x-dwp-node"] == node
        listed = h.get(f"/api/v1/objects/{key}", params={"siblings": "true"}).json()
        mtime = {h.get(s["url"]).content: s["mtime"] for s in listed["siblings"]}
    # one replica coordinated both, so on a tie the later write has the higher dot
    winner = b"two" if mtime[b"two"] > mtime[b"three"] else b"three"
    with origin(inproc, site) as h:
        r = h.get("/page.html")
        assert r.headers["x-dwp-siblings"] == "2"
        assert r.content == winner
        assert r.headers["etag"] == f'"{listed["siblings"][0]["hash"]}"'
