"""What a site itself decides on its origin: its own 404.html, its _redirects rules, and
paged listings of a big folder; and the LAN site domain of ``dwp up --site-domain``. In
process: the gateway app over real nodes."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import httpx
import pytest

from gateway import GatewaySettings, Network, create_app
from tests.conftest import TEST_MAX_UPLOAD, Net, eventually, put_many
from tests.inprocess import PortalTransport
from tests.sites import LAN_HOST, NAVIGATE, lan, origin
from tests.test_sites import put, unique

REDIRECTS = b"""\
# moved pages
/old /new.html 301
/posts/:year/:slug /articles/:year/:slug.html 308
/ext https://example.org/x 302
/gone/* /410.html 410
/app/* /app/index.html 200
/dangling/* /nowhere.html 200
/exists.html /index.html 302
/escape/* /../../x/index.html 200
"""


@pytest.fixture(scope="module")
def ruled(inproc: Net) -> str:
    name = unique("ruled")
    with inproc.http() as h:
        for key, body in {"index.html": b"home", "new.html": b"new", "404.html": b"own 404",
                          "410.html": b"gone", "app/index.html": b"spa",
                          "exists.html": b"exists", "articles/2024/hi.html": b"hi",
                          "_redirects": REDIRECTS}.items():
            put(h, inproc, f"{name}/{key}", body)
    return name


@pytest.mark.parametrize(("path", "status", "location"), [
    ("/old", 301, "/new.html"),
    ("/old?page=2", 301, "/new.html?page=2"),
    ("/posts/2024/hi", 308, "/articles/2024/hi.html"),
    ("/ext", 302, "https://example.org/x"),
])
def test_redirect_rules(inproc: Net, ruled: str, path: str, status: int, location: str) -> None:
    with origin(inproc, ruled) as h:
        r = h.get(path)
        assert (r.status_code, r.headers["location"]) == (status, location)


@pytest.mark.parametrize(("path", "status", "body"), [
    ("/app/some/client/route", 200, b"spa"),   # a rewrite, for single-page apps
    ("/gone/thing", 410, b"gone"),
    ("/exists.html", 200, b"exists"),          # a path that exists is never redirected
    ("/new.html", 200, b"new"),
    ("/dangling/x", 404, b"own 404"),          # a rewrite to nothing: the site's 404 page
    ("/no/rule/here", 404, b"own 404"),
    ("/escape/x", 404, b"own 404"),            # a rewrite never leaves the site
])
def test_rewrites_and_the_sites_own_404(inproc: Net, ruled: str, path: str, status: int,
                                        body: bytes) -> None:
    with origin(inproc, ruled) as h:
        r = h.get(path)
        assert (r.status_code, r.content) == (status, body)
        assert "location" not in r.headers


def test_own_404_page_is_served_path_style_too_but_rules_are_not(inproc: Net, ruled: str
                                                                 ) -> None:
    with lan(inproc) as h:
        r = h.get(f"/sites/{ruled}/old")
        assert (r.status_code, r.content) == (404, b"own 404")
        assert r.headers["content-security-policy"].startswith("sandbox")


@pytest.mark.parametrize("broken", [b"/a\n/b /c\n", b"/a /b 999\n", b"/a /b\n" * 11000,
                                    b"/a /\xff\n"])
def test_a_broken_redirects_file_is_ignored_never_a_500(inproc: Net, broken: bytes) -> None:
    name = unique("broken")
    with inproc.http() as h:
        put(h, inproc, f"{name}/index.html", b"home")
        put(h, inproc, f"{name}/_redirects", broken)
    with origin(inproc, name) as h:
        r = h.get("/a", headers={"Accept": "text/html"})
        assert r.status_code == 404
        assert "404" in r.text and "Search the network" in r.text
        assert h.get("/").content == b"home"


def test_a_folder_of_10000_files_lists_in_pages(inproc: Net) -> None:
    site = unique("big")
    files = [f"f{i:05d}.txt" for i in range(10_000)]
    nested = ["a/x.txt", "g/y.txt", "g/z.txt", "zz/deep/w.txt"]
    put_many(inproc, [f"{site}/d/{n}" for n in files + nested])
    # the listing carries no writer's token: it may read a replica that has not yet
    # received the last writes, so it waits until every shard's replicas agree
    eventually(inproc.digests_equal, 60)
    expected = sorted([*files, "a/", "g/", "zz/"])
    seen: list[str] = []
    pages = 0
    started = time.perf_counter()
    with origin(inproc, site) as h:
        url = "/d/"
        while url and pages < 20:
            r = h.get(url)
            assert r.status_code == 200
            names = re.findall(r'<tr(?: class="dir")?><td><a href="([^"]+)">', r.text)
            seen.extend(n for n in names if n != "../")
            pages += 1
            found = re.search(r'<a href="(\?after=[^"]+)">Next', r.text)
            url = "/d/" + found.group(1) if found else ""
    elapsed = time.perf_counter() - started
    assert seen == expected
    assert pages == 11  # 1000 entries a page
    print(f"listed {len(expected)} entries in {pages} pages in {elapsed:.2f}s")
    with inproc.http() as h:  # the UI's folder view pages the same way
        first = h.get(f"/ui/browse/{site}/d/").text  # a/ and f00000 to f00998
        assert first.count('<tr class="file">') + first.count('<tr class="dir">') == 1000
        assert '<a class="button" href="?after=f00998.txt">Next 1000 entries' in first
        second = h.get(f"/ui/browse/{site}/d/", params={"after": "f00998.txt"}).text
        assert f'href="/ui/object/{site}/d/f00999.txt"' in second


def gateway_with_site_domain(net: Net, domain: str) -> httpx.Client:
    """A client of a second gateway over the same network, started with a site domain
    (as ``dwp up --site-domain``)."""
    app = create_app([Network(net.client, net.token)],
                     GatewaySettings(TEST_MAX_UPLOAD, site_domain=domain,
                                     allowed_hosts=(LAN_HOST,)))
    assert isinstance(net.transport, PortalTransport)
    return httpx.Client(base_url=net.url, transport=PortalTransport(app, net.transport.portal))


def test_site_domain_serves_sites_to_the_lan(inproc: Net, ruled: str) -> None:
    port = urlsplit(inproc.url).port
    with gateway_with_site_domain(inproc, "dwp.lan") as h:
        r = h.get(f"/sites/{ruled}/new.html?x=1",
                  headers={"Host": f"{LAN_HOST}:{port}", **NAVIGATE})
        assert r.status_code == 301
        assert r.headers["location"] == f"http://{ruled}.dwp.lan:{port}/new.html?x=1"
        r = h.get(f"/sites/{ruled}/", headers={"Host": f"localhost:{port}", **NAVIGATE})
        assert r.headers["location"] == f"http://{ruled}.localhost:{port}/"
        site_host = {"Host": f"{ruled.upper()}.DWP.LAN:{port}"}
        r = h.get("/new.html", headers=site_host)
        assert (r.status_code, r.content) == (200, b"new")
        assert "content-security-policy" not in r.headers
        assert h.get("/old", headers=site_host).headers["location"] == "/new.html"
        r = h.get("/nothing/", headers={**site_host, "Accept": "text/html"})
        assert r.status_code == 404 and r.content == b"own 404"
        r = h.get("/", headers={"Host": f"dwp.lan:{port}", "Accept": "text/html"})
        assert r.status_code == 200 and f'href="http://{ruled}.dwp.lan:{port}/"' in r.text
