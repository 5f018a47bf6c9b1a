"""The rough edges a new user hit in the web UI, in a real headless Chromium: the API docs
load with no request leaving the gateway, the favicon, the folder icon, the site-name
pattern, a 1,019-character key, a folder upload that types files as the CLI does and
skips the unchanged ones, and read-your-writes on a network whose context token is over
a cookie's 4 KB."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from gateway.content_types import guess
from tests.conftest import Net, eventually
from tests.helpers import CHROMIUM, browser_fixture, page_fixture, unique  # noqa: F401  (the fixtures)
from tests.test_replication import cut, heal, keys_of_shard
from tests.test_ui_browser import Failures, publish, sign_in
from tests.test_ui_context import large_past

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"Chromium is not installed at {CHROMIUM}")


def open_listing(page: Any, url: str, selector: str) -> None:
    """Open a listing until it shows ``selector``: a listing is read from one replica per
    shard, which may not have received a write made a moment ago (eventual consistency)."""
    def shown() -> bool:
        page.goto(url)
        return page.locator(selector).count() > 0
    eventually(shown, 30, 0.5)


def offline(page: Any, gateway: str) -> list[str]:
    """Abort every request that would leave the gateway; answer the list of them."""
    left: list[str] = []
    own = urlsplit(gateway).netloc

    def route(r: Any) -> None:
        if urlsplit(r.request.url).netloc == own or r.request.url.startswith("data:"):
            r.continue_()
        else:
            left.append(r.request.url)
            r.abort()
    page.route("**/*", route)
    return left


def test_api_docs_load_from_the_gateway_alone(net: Net, page: Any) -> None:
    left = offline(page, net.url)
    failures = Failures(page)
    page.goto(net.url + "/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=30000)
    assert "dwp gateway" in page.text_content(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-summary-path", timeout=30000)
    paths = page.eval_on_selector_all(".opblock-summary-path",
                                      "es => es.map(e => e.textContent.replace(/\\u200b/g, ''))")
    assert "/api/v1/objects/{key}" in paths and "/api/v1/network" in paths
    assert left == [] and failures.items == []


def test_favicon_is_served(net: Net, page: Any) -> None:
    with httpx.Client(base_url=net.url) as h:
        ico = h.get("/favicon.ico")
        assert ico.status_code == 200 and ico.headers["content-type"] == "image/x-icon"
        assert ico.content[:4] == b"\x00\x00\x01\x00"
    page.goto(net.url + "/favicon.ico")
    assert page.evaluate("document.querySelector('img').naturalWidth") > 0
    page.goto(net.url + "/")
    icon = page.eval_on_selector("link[rel=icon]", "e => e.href")
    assert page.request.get(icon).status == 200


def test_folder_icon_is_svg_not_an_emoji(net: Net, page: Any) -> None:
    site = unique("icon")
    publish(net, site, {"sub/a.txt": b"a"})
    open_listing(page, f"{net.url}/ui/browse/{site}/", "tr.dir a")
    row = page.locator("tr.dir a")
    assert row.locator("svg.icon").count() == 1
    assert "📁" not in row.text_content()
    assert row.locator("svg.icon").bounding_box()["width"] == 16


def test_site_name_pattern_is_a_valid_regular_expression(net: Net, page: Any) -> None:
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text))
    page.goto(net.url + "/ui/publish")
    page.fill("#site", "a/b")
    assert page.eval_on_selector("#site", "e => e.validity.patternMismatch") is True
    page.fill("#site", "my-site")
    assert page.eval_on_selector("#site", "e => e.validity.valid") is True
    assert not [m for m in messages if "pattern" in m.lower()], messages


def test_a_1019_character_key_does_not_widen_the_listings(net: Net, page: Any) -> None:
    site = unique("long")
    name = "x" * (1019 - len(site) - len("/.html")) + ".html"
    key = f"{site}/{name}"
    assert len(key) == 1019
    publish(net, site, {name: b"<p>long</p>", "short.html": b"<p>short</p>"})
    for path in (f"/ui/browse/{site}/", f"/sites/{site}/", f"/ui/search?q={site}"):
        open_listing(page, net.url + path, f"text={name[:40]}")
        widths = page.evaluate("""() => ({page: document.documentElement.scrollWidth,
                                          view: window.innerWidth})""")
        assert widths["page"] <= widths["view"], (path, widths)


def test_folder_upload_types_files_as_the_cli_does_and_skips_unchanged(
        net: Net, page: Any, tmp_path: Path) -> None:
    site = unique("pw-types")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "changelog.html.gz").write_bytes(gzip.compress(b"<h1>changes</h1>", mtime=0))
    (folder / "index.html").write_text("<h1>v1</h1>")
    (folder / "notes.md").write_text("# notes")
    (folder / "data.unknownext").write_bytes(b"\x00\x01")
    (folder / "feed.xml").write_text("<feed/>")  # Chromium's own table says text/xml
    sign_in(page, net.url, net.token)

    def upload() -> str:
        page.goto(net.url + "/ui/publish")
        page.fill("#site", site)
        page.set_input_files("#folder", str(folder))
        page.click("#upload")
        page.wait_for_selector("#status[data-done=ok]")
        return page.text_content("#status")

    def stored() -> dict[str, dict[str, Any]]:
        """Each file's one version, read where its writes go (its preferred replica)."""
        with httpx.Client(base_url=net.url) as h:
            return {p.name: h.get(f"/api/v1/objects/{site}/{p.name}",
                                  params={"siblings": "true"}).json()["siblings"][0]
                    for p in folder.iterdir()}

    assert "Published 5 files" in upload()
    first = stored()
    types = {name: v["content_type"] for name, v in first.items()}
    assert types == {name: guess(f"{site}/{name}") for name in types} and len(types) == 5
    assert types["changelog.html.gz"] == "application/gzip"
    assert types["data.unknownext"] == "application/octet-stream"

    (folder / "index.html").write_text("<h1>v2</h1>")
    assert "Published 1 file to " + site + ", 4 unchanged" in upload()
    second = stored()
    assert second.pop("index.html")["hash"] != first.pop("index.html")["hash"]
    assert second == first, "an unchanged file was written again"


def test_the_ui_reads_its_own_write_when_the_context_token_is_over_4_kb(
        net: Net, page: Any) -> None:
    """Chromium drops a cookie over 4 KB; the context cookie holds only an id, so the
    UI's next read still waits for a replica that has its write."""
    sign_in(page, net.url, net.token)
    a, lagging = net.shard_members(0)[:2]
    key = keys_of_shard(net, 0, 1, "pwbig")[0]
    status = """async ([key, headers]) =>
                  (await fetch("/api/v1/objects/" + key, {method: "PUT", body: "mine",
                                                           headers})).status"""
    read = """async ([key, node]) =>
                (await fetch("/api/v1/objects/" + key, {headers: {"X-DWP-Replica": node}}))
                  .status"""
    cut(net, [a], [lagging])
    try:
        past = net.client.tokens.encode(large_past())
        assert page.evaluate(status, [key, {"X-DWP-Context": past, "X-DWP-Replica": a}]) == 200
        assert "dwp_context" in {c["name"] for c in page.context.cookies()}
        assert page.evaluate(read, [key, lagging]) == 503
        assert page.evaluate(read, [key, a]) == 200
    finally:
        heal(net)
