"""The web browser in a real headless Chromium (Debian's, never a downloaded one):
a published site renders on its own origin with zero failed requests, the
publish/search/edit flow works through the UI, and a hostile page's script, from its own
origin, cannot write through the gateway."""

from __future__ import annotations

import json
import re
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway import Network, signin
from tests.conftest import Net
from tests.helpers import CHROMIUM, browser_fixture, page_fixture, unique  # noqa: F401  (the fixtures)
from tests.sites import origin_host

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"Chromium is not installed at {CHROMIUM} "
                                       "(apt-get install chromium)")



def png(width: int = 4, height: int = 4) -> bytes:
    """A small valid PNG (solid blue), made here so the test ships no binary."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    rows = b"".join(b"\x00" + b"\x20\x40\xc0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def publish(net: Net, site: str, files: dict[str, bytes]) -> None:
    with net.http() as h:
        for name, data in files.items():
            r = h.put(f"/api/v1/objects/{site}/{name}", content=data, headers=net.auth)
            assert r.status_code == 200, r.text


def sign_in(page: Any, url: str, token: str, network: str | None = None) -> None:
    """Open the UI signed in, through the one-time link ``dwp open`` would print."""
    headers = {"Authorization": f"Bearer {token}"} | ({"X-DWP-Network": network}
                                                       if network else {})
    made = httpx.post(f"{url}/api/v1/sign-in", headers=headers, timeout=60)
    assert made.status_code == 200, made.text
    page.goto(made.json()["url"])
    page.wait_for_load_state("networkidle")  # its favicon too, before the next page
    assert page.url == url + "/"


def sign_in_to_all(page: Any, url: str, networks: list[Network]) -> None:
    """Open the link ``dwp up`` prints, which signs in to every network it serves."""
    page.goto(f"{url}/?login=" + signin.mint({n.name: n.secret for n in networks},
                                             time.time()))
    page.wait_for_load_state("networkidle")
    assert page.url == url + "/"


ICON, ABORTED = "/static/favicon.svg", "net::ERR_ABORTED"


class Failures:
    """Every request of a page that failed or answered 4xx/5xx, and script errors. A
    cancelled fetch of the UI's icon is not one: Chromium cancels and starts icon fetches
    at will (a screenshot under load saw one cancelled), which is why Playwright already
    leaves out requests for /favicon.ico; an icon that answers 404 still counts."""

    def __init__(self, page: Any) -> None:
        self.items: list[str] = []
        page.on("requestfailed", self._failed)
        page.on("response", lambda r: r.status >= 400 and self.items.append(
            f"{r.status} {r.url}"))
        page.on("pageerror", lambda e: self.items.append(f"script error {e}"))

    def _failed(self, request: Any) -> None:
        if not (request.url.endswith(ICON) and request.failure == ABORTED):
            self.items.append(f"failed {request.url}: {request.failure}")


SITE = {
    "index.html": b"""<!doctype html><html><head><meta charset="utf-8"><title>Home</title>
<link rel="stylesheet" href="css/style.css"><script src="js/app.js"></script></head>
<body><h1>Welcome</h1><p id="out">script did not run</p>
<img id="logo" src="img/logo.png" alt="logo">
<a id="docs" href="docs">Docs</a> <a id="guide" href="docs/guide.html">Guide</a></body></html>""",
    "css/style.css": b"h1 { color: rgb(200, 0, 0); } body { font-family: sans-serif; }",
    "js/app.js": b"""document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('out').textContent = 'script ran';
});""",
    "img/logo.png": png(),
    "docs/index.html": b"""<!doctype html><html><head><meta charset="utf-8"><title>Docs</title>
<link rel="stylesheet" href="../css/style.css"></head><body><h1>Docs</h1>
<img id="logo" src="../img/logo.png" alt="logo"><a id="guide" href="guide.html">Guide</a>
<a id="home" href="../">Home</a></body></html>""",
    "docs/guide.html": b"""<!doctype html><html><head><meta charset="utf-8"><title>Guide</title>
<link rel="stylesheet" href="../css/style.css"></head><body><h1>Guide</h1>
<a id="home" href="../index.html">Home</a></body></html>""",
}


def site_origin(net: Net, site: str) -> str:
    return "http://" + origin_host(net, site)


def test_published_site_renders_with_zero_failed_requests(net: Net, page: Any) -> None:
    site = unique("pw-site")
    publish(net, site, SITE)
    failures = Failures(page)
    home = site_origin(net, site)
    page.goto(f"{net.url}/sites/{site}")
    assert page.url == f"{home}/"
    assert page.text_content("#out") == "script ran"
    assert page.eval_on_selector("h1", "e => getComputedStyle(e).color") == "rgb(200, 0, 0)"
    assert page.eval_on_selector("#logo", "e => e.complete && e.naturalWidth") == 4
    assert page.evaluate("() => window.origin") == home
    page.click("#docs")
    page.wait_for_url(f"{home}/docs/")
    assert page.text_content("h1") == "Docs"
    assert page.eval_on_selector("#logo", "e => e.complete && e.naturalWidth") == 4
    assert page.eval_on_selector("h1", "e => getComputedStyle(e).color") == "rgb(200, 0, 0)"
    page.click("#guide")
    page.wait_for_url(f"{home}/docs/guide.html")
    page.click("#home")
    page.wait_for_url(f"{home}/index.html")
    assert page.text_content("#out") == "script ran"
    assert failures.items == []


def test_upload_folder_search_open_edit_and_save(net: Net, page: Any,
                                                 tmp_path: Path) -> None:
    site = unique("pw-ui")
    marker = unique("findme")
    folder = tmp_path / "mysite"
    (folder / "notes").mkdir(parents=True)
    (folder / "index.html").write_text("<h1>Folder site</h1>")
    (folder / "style.css").write_text("h1 { color: navy; }")
    (folder / "notes" / f"{marker}.html").write_text("<p>first draft</p>\n")
    failures = Failures(page)

    sign_in(page, net.url, net.token)
    page.click("text=Publish")
    page.fill("#site", site)
    page.set_input_files("#folder", str(folder))
    page.click("#upload")
    page.wait_for_selector("#status[data-done=ok]")
    assert page.eval_on_selector("#progress", "e => e.value") == 1
    status = page.text_content("#status")
    assert "Published 3 files" in status and re.search(r"Deploy [a-z2-7]{12} is live", status)
    assert page.get_attribute("#open-result", "href") == site_origin(net, site) + "/"

    page.fill("input[name=q]", marker)
    page.press("input[name=q]", "Enter")
    page.click(f"text={site}/notes/{marker}.html")
    assert page.text_content("h1").strip().endswith(f"{marker}.html")
    page.click("text=Edit")
    assert page.input_value("textarea") == "<p>first draft</p>\n"
    page.fill("textarea", "<p>second draft</p>\n")
    page.click("button:text('Save')")
    page.wait_for_selector("text=Saved.")
    with net.http() as h:
        r = h.get(f"/api/v1/objects/{site}/notes/{marker}.html")
        assert r.text == "<p>second draft</p>\n"
        made = h.get(f"/api/v1/sites/{site}/deploys").json()["deploys"]
        assert [d["author"] for d in made] == ["web UI", "web UI"]  # the edit's, the upload's
    page.goto(f"{site_origin(net, site)}/notes/{marker}.html")
    assert page.text_content("p") == "second draft"
    assert failures.items == []


HOSTILE = """<!doctype html><html><head><meta charset="utf-8"><title>hostile</title></head>
<body><p id="out">running</p>
<iframe name="sink-ip" hidden></iframe><iframe name="sink-name" hidden></iframe>
<form id="f-ip" method="post" action="UI_IP/ui/delete/VICTIM/keep.txt" target="sink-ip">
<input name="context" value=""></form>
<form id="f-name" method="post" action="UI_NAME/ui/delete/VICTIM/keep.txt" target="sink-name">
<input name="context" value=""></form>
<script>
const results = {};
const form = {"Content-Type": "application/x-www-form-urlencoded"};
async function attempt(name, url, init) {
  try { const r = await fetch(url, {credentials: "include", ...init}); results[name] = r.status; }
  catch (e) { results[name] = "blocked"; }
}
(async () => {
  for (const [tag, ui] of [["ip", "UI_IP"], ["name", "UI_NAME"]]) {
    await attempt(tag + "-put", ui + "/api/v1/objects/VICTIM/new.txt",
                  {method: "PUT", body: "pwned"});
    await attempt(tag + "-overwrite", ui + "/api/v1/objects/VICTIM/keep.txt",
                  {method: "PUT", body: "pwned"});
    await attempt(tag + "-delete", ui + "/api/v1/objects/VICTIM/keep.txt", {method: "DELETE"});
    await attempt(tag + "-read-ui", ui + "/", {});
    await attempt(tag + "-ui-edit", ui + "/ui/edit/VICTIM/keep.txt",
                  {method: "POST", mode: "no-cors", headers: form, body: "content=pwned"});
    await attempt(tag + "-ui-delete", ui + "/ui/delete/VICTIM/keep.txt",
                  {method: "POST", mode: "no-cors", headers: form, body: "context="});
    await attempt(tag + "-ui-zip", ui + "/ui/zip/VICTIM",
                  {method: "POST", mode: "no-cors", body: "x"});
    document.getElementById("f-" + tag).submit();
  }
  await attempt("own-put", "/api/v1/objects/VICTIM/new.txt", {method: "PUT", body: "pwned"});
  results.cookie = document.cookie;
  localStorage.setItem("mine", "kept");
  results.storage = localStorage.getItem("mine");
  await new Promise((done) => setTimeout(done, 500));
  document.getElementById("out").textContent = JSON.stringify(results);
  document.title = "done";
})();
</script></body></html>"""


def test_a_sign_in_link_signs_in_once_and_the_form_takes_the_token(
        net: Net, browser: Any) -> None:
    first, second = (browser.new_context() for _ in range(2))
    try:
        page = first.new_page()
        page.goto(net.url + "/")
        assert page.is_visible("a.signin") and first.cookies() == []
        made = httpx.post(f"{net.url}/api/v1/sign-in", headers=net.auth).json()
        page.goto(made["url"])
        assert page.url == net.url + "/"  # the code left the address bar
        assert not page.is_visible("a.signin")
        token = next(c for c in first.cookies() if c["name"] == "dwp_token")
        assert token["httpOnly"] and token["sameSite"] == "Strict"
        assert page.evaluate("() => document.cookie") == ""

        other = second.new_page()  # the link again, as from another's browser history
        other.goto(made["url"])
        assert "used already or has expired" in other.text_content("main")
        assert second.cookies() == []
        other.fill("input[name=token]", net.token)
        other.click("button:text('Sign in')")
        other.wait_for_url(net.url + "/")
        assert not other.is_visible("a.signin")
    finally:
        first.close()
        second.close()


def test_hostile_page_cannot_write_or_delete(net: Net, page: Any) -> None:
    victim, attacker = unique("victim"), unique("attacker")
    publish(net, victim, {"keep.txt": b"original"})
    ui_ip, ui_name = net.url, net.url.replace("127.0.0.1", "localhost")
    publish(net, attacker, {"index.html": HOSTILE.replace("VICTIM", victim).replace(
        "UI_IP", ui_ip).replace("UI_NAME", ui_name).encode()})
    for ui in (ui_ip, ui_name):  # the user has the UI open: the browser holds the cookies
        sign_in(page, ui, net.token)
    assert sum(c["name"] == "dwp_token" for c in page.context.cookies()) == 2
    page.goto(f"{net.url}/sites/{attacker}/")
    assert page.url == site_origin(net, attacker) + "/"
    page.wait_for_function("document.title === 'done'")
    results = json.loads(page.text_content("#out"))
    for tag in ("ip", "name"):
        for attempt in ("put", "overwrite", "delete", "read-ui"):
            assert results[f"{tag}-{attempt}"] == "blocked", (tag, attempt, results)
    assert results["own-put"] == 405  # the site's origin serves only the site
    assert results["cookie"] == ""
    assert results["storage"] == "kept"  # its own origin: storage works, as on any server
    with httpx.Client(base_url=net.url) as h:
        assert h.get(f"/api/v1/objects/{victim}/keep.txt").content == b"original"
        assert h.get(f"/api/v1/objects/{victim}/new.txt").status_code == 404
        listed = h.get("/api/v1/objects", params={"prefix": victim + "/"}).json()
        assert [o["key"] for o in listed["objects"]] == [f"{victim}/keep.txt"]


def test_the_site_page_lists_deploys_and_a_make_live_ends_a_conflict(net: Net,
                                                                      page: Any) -> None:
    """Three deploys, the last two switched at once from the same past: the site page
    lists them with preview links and names the conflict; "Make live" on the first,
    sent with the context the page read, replaces both switches."""
    site = unique("pw-deploys")
    with net.http(headers=net.auth) as h:
        def made(text: bytes, context: str, past: str | None = None) -> tuple[str, str]:
            put = h.put(f"/api/v1/objects/{site}/index.html", content=text,
                        params={"deploy": "false"}, headers={"X-DWP-Context": context})
            r = h.post(f"/api/v1/sites/{site}/deploys", json={"live_context": past},
                       headers={"X-DWP-Context": put.headers["X-DWP-Context"]})
            assert r.status_code == 201, r.text
            return r.json()["id"], r.headers["X-DWP-Context"]
        first, context = made(b"one", "")
        past = h.get(f"/api/v1/sites/{site}/deploys",
                     headers={"X-DWP-Context": context}).headers["X-DWP-Context"]
        ann, context = made(b"ann's", past, past)
        bob, _ = made(b"bob's", context, past)
    sign_in(page, net.url, net.token)
    page.goto(f"{net.url}/ui/browse/{site}/")
    rows = page.locator("#deploys tbody tr")
    assert [rows.nth(i).get_attribute("data-deploy") for i in range(rows.count())] == [
        bob, ann, first]
    assert "Conflict: 2 deploys" in page.locator("#deploys .notice.conflict").inner_text()
    port = net.url.rsplit(":", 1)[1]
    assert page.locator(f'tr[data-deploy="{first}"] a.preview').get_attribute("href") == (
        f"http://{first}.{site}.localhost:{port}/")
    page.locator(f'tr[data-deploy="{first}"] button').click()
    page.wait_for_url("**#deploys")
    assert f"Deploy {first} is live." in page.locator("#deploys .notice").inner_text()
    assert page.locator("#deploys .notice.conflict").count() == 0
    assert page.locator(f'tr[data-deploy="{first}"] .badge.live').count() == 1
    assert page.locator(".badge.live").count() == 1
