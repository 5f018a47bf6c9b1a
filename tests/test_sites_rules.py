"""What a site itself decides on its origin: its own 404.html, its _redirects rules, and
paged listings of a big folder; and the LAN site domain of ``dwp up --site-domain``."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from gateway import GatewaySettings, Network, create_app
from tests.conftest import TEST_MAX_UPLOAD, Net, running
from tests.sites import LAN_HOST, lan, origin, origin_host
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
def ruled(net: Net) -> str:
    name = unique("ruled")
    with net.http() as h:
        for key, body in {"index.html": b"home", "new.html": b"new", "404.html": b"own 404",
                          "410.html": b"gone", "app/index.html": b"spa",
                          "exists.html": b"exists", "articles/2024/hi.html": b"hi",
                          "_redirects": REDIRECTS}.items():
            put(h, net, f"{name}/{key}", body)
    return name


@pytest.mark.parametrize(("path", "status", "location"), [
    ("/old", 301, "/new.html"),
    ("/old?page=2", 301, "/new.html?page=2"),
    ("/posts/2024/hi", 308, "/articles/2024/hi.html"),
    ("/ext", 302, "https://example.org/x"),
])
def test_redirect_rules(net: Net, ruled: str, path: str, status: int, location: str) -> None:
    with origin(net, ruled) as h:
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
def test_rewrites_and_the_sites_own_404(net: Net, ruled: str, path: str, status: int,
                                        body: bytes) -> None:
    with origin(net, ruled) as h:
        r = h.get(path)
        assert (r.status_code, r.content) == (status, body)
        assert "location" not in r.headers


def test_own_404_page_is_served_path_style_too_but_rules_are_not(net: Net, ruled: str
                                                                 ) -> None:
    with lan(net) as h:
        r = h.get(f"/sites/{ruled}/old")
        assert (r.status_code, r.content) == (404, b"own 404")
        assert r.headers["content-security-policy"].startswith("sandbox")


@pytest.mark.parametrize("broken", [b"/a\n/b /c\n", b"/a /b 999\n", b"/a /b\n" * 11000,
                                    b"/a /\xff\n"])
def test_a_broken_redirects_file_is_ignored_never_a_500(net: Net, broken: bytes) -> None:
    name = unique("broken")
    with net.http() as h:
        put(h, net, f"{name}/index.html", b"home")
        put(h, net, f"{name}/_redirects", broken)
    with origin(net, name) as h:
        r = h.get("/a", headers={"Accept": "text/html"})
        assert r.status_code == 404
        assert "404" in r.text and "Search the network" in r.text
        assert h.get("/").content == b"home"


async def put_many(net: Net, keys: list[str]) -> None:
    async with httpx.AsyncClient(base_url=net.url, headers=net.auth, timeout=60) as h:
        slots = asyncio.Semaphore(16)

        async def one(key: str) -> None:
            async with slots:
                r = await h.put(f"/api/v1/objects/{key}", content=key.encode())
                assert r.status_code == 200, r.text
        await asyncio.gather(*(one(k) for k in keys))


def test_a_folder_of_10000_files_lists_in_pages(net: Net) -> None:
    site = unique("big")
    files = [f"f{i:05d}.txt" for i in range(10_000)]
    nested = ["a/x.txt", "g/y.txt", "g/z.txt", "zz/deep/w.txt"]
    asyncio.run(put_many(net, [f"{site}/d/{n}" for n in files + nested]))
    expected = sorted([*files, "a/", "g/", "zz/"])
    seen: list[str] = []
    pages = 0
    started = time.perf_counter()
    with origin(net, site) as h:
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
    with net.http() as h:  # the UI's folder view pages the same way
        first = h.get(f"/ui/browse/{site}/d/").text  # a/ and f00000 to f00998
        assert first.count('<tr class="file">') + first.count('<tr class="dir">') == 1000
        assert '<a class="button" href="?after=f00998.txt">Next 1000 entries' in first
        second = h.get(f"/ui/browse/{site}/d/", params={"after": "f00998.txt"}).text
        assert f'href="/ui/object/{site}/d/f00999.txt"' in second


@contextlib.contextmanager
def gateway_with_site_domain(net: Net, domain: str) -> Iterator[str]:
    """A second gateway over the test network, started with a site domain (as
    ``dwp up --site-domain``); it leaves the nodes running when it stops."""
    app = create_app([Network(net.client, net.token)],
                     GatewaySettings(TEST_MAX_UPLOAD, site_domain=domain))
    with running(app) as url:
        yield url


def test_site_domain_serves_sites_to_the_lan(net: Net, ruled: str) -> None:
    with gateway_with_site_domain(net, "dwp.lan") as url:
        port = urlsplit(url).port
        with httpx.Client(base_url=url, timeout=60) as h:
            r = h.get(f"/sites/{ruled}/new.html?x=1", headers={"Host": f"{LAN_HOST}:{port}"})
            assert r.status_code == 301
            assert r.headers["location"] == f"http://{ruled}.dwp.lan:{port}/new.html?x=1"
            r = h.get(f"/sites/{ruled}/", headers={"Host": f"localhost:{port}"})
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


@pytest.mark.skipif(shutil.which("wget") is None, reason="wget is not installed")
def test_a_second_wget_mirror_revalidates_and_downloads_nothing(net: Net,
                                                                tmp_path: Path) -> None:
    site = unique("mirror")
    pages = {"index.html": b'<a href="a.html">a</a> <a href="docs/">docs</a>'
                           b'<link rel="stylesheet" href="style.css">',
             "a.html": b"<p>a</p>", "style.css": b"p{}", "docs/index.html": b"<p>docs</p>"}
    with net.http() as h:
        for name, body in pages.items():
            put(h, net, f"{site}/{name}", body)
    wget = ["wget", "--server-response", "--no-host-directories", "--header",
            f"Host: {origin_host(net, site)}", "--directory-prefix", str(tmp_path)]

    def run(*args: str) -> str:
        done = subprocess.run([*wget, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stderr
    first = run("--mirror", net.url + "/")
    assert first.count("HTTP/1.1 200 OK") == len(pages)
    assert {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()
            } == set(pages)
    # wget stops at a 304 for the root page (as it does against python -m http.server);
    # asked for every file, it revalidates each and downloads none
    second = run("--mirror", net.url + "/")
    assert second.count("HTTP/1.1 304 Not Modified") == 1 and "200 OK" not in second
    every = [net.url + "/" + name.removesuffix("index.html") for name in pages]
    third = run("--timestamping", "--force-directories", *every)
    assert third.count("HTTP/1.1 304 Not Modified") == len(pages), third
    assert "200 OK" not in third
