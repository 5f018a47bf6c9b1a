"""The UI's history: the details page lists the versions a key keeps with view and
restore, the restore form (same rules as every form: token cookie, same origin), a
deleted page brought back from its 404, bytes per node on the network page; and in a
real Chromium, an overwritten page restored from its details page."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from dwp.core.version import CHUNK_SIZE
from tests.conftest import Net, eventually
from tests.helpers import CHROMIUM, browser_fixture, page_fixture, unique  # noqa: F401  (the fixtures)
from tests.test_cli_history import served  # noqa: F401  (the fixture)
from tests.test_ui import FORM, HTML, ui  # noqa: F401  (the fixture)
from tests.test_ui_browser import Failures, sign_in

PARTS = ("live", "history", "garbage", "disk")



ROW = re.compile(r'<tr class="version-(\w+)" data-version="([^"]+)">(.*?)</tr>', re.S)


def rows(page: str) -> list[tuple[str, str, str]]:
    """The history table's rows: (state, version id, the row's HTML)."""
    return [(state, unescape(version), body) for state, version, body in ROW.findall(page)]


def form_context(page: str) -> str:
    found = re.search(r'action="/ui/restore/[^"]+"[^>]*>\s*<input type="hidden" '
                      r'name="context" value="([^"]*)"', page)
    assert found, "the page has a restore form"
    return unescape(found.group(1))


def write(h: httpx.Client, key: str, data: bytes, content_type: str = "text/html") -> None:
    r = h.put(f"/api/v1/objects/{key}", content=data, headers={"Content-Type": content_type})
    assert r.status_code == 200, r.text


def test_details_lists_the_history_with_view_and_restore(
        inproc: Net, ui: httpx.Client) -> None:  # noqa: F811
    key = f"{unique('uihist')}/page.html"
    with ui:
        for text in (b"<p>one</p>", b"<p>two</p>", b"<p>three</p>"):
            write(ui, key, text)
        page = ui.get(f"/ui/object/{key}")
        assert page.status_code == 200
        api = ui.get(f"/api/v1/objects/{key}", params={"history": "true"}).json()
        listed = rows(page.text)
        assert [(s, v) for s, v, _ in listed] == [
            ("current", api["versions"][0]["version"]),
            ("replaced", api["versions"][1]["version"]),
            ("replaced", api["versions"][2]["version"])]
        current, *replaced = listed
        assert "/ui/restore/" not in current[2], "the current version has nothing to restore"
        for (_, version, body), text in zip(replaced, (b"<p>two</p>", b"<p>one</p>"),
                                            strict=True):
            link = unescape(re.search(r'<a href="([^"]+)"[^>]*>view</a>', body).group(1))
            viewed = ui.get(link)
            assert viewed.content == text and viewed.headers["x-dwp-version"] == version
            assert viewed.headers["content-security-policy"] == "sandbox", (
                "an old page opened from the UI's origin runs in an opaque one")
            assert f'name="version" value="{version}"' in unescape(body)
            assert "Restore</button>" in body


def test_the_restore_form_makes_an_old_version_current(inproc: Net,
                                                       ui: httpx.Client) -> None:  # noqa: F811
    key = f"{unique('uirestore')}/data.bin"
    old = bytes(range(256)) * (2 * CHUNK_SIZE // 256)
    with ui:
        write(ui, key, old, "application/x-old")
        write(ui, key, b"overwritten", "text/plain")
        page = ui.get(f"/ui/object/{key}").text
        (_, _, _), (_, version, _) = rows(page)
        write(ui, key, b"written after the page was read", "text/plain")

        r = ui.post(f"/ui/restore/{key}", data={"context": form_context(page),
                                                "version": version})
        assert r.status_code == 303, r.text
        assert r.headers["location"] == f"/ui/object/{key}?restored={quote(version)}"
        now = ui.get(f"/api/v1/objects/{key}")
        assert now.content == old and now.headers["content-type"] == "application/x-old"
        assert "x-dwp-siblings" not in now.headers, "the restore superseded what was current"
        shown = ui.get(r.headers["location"])
        assert f"Restored version <code>{version}</code>" in shown.text
        assert [s for s, _, _ in rows(shown.text)] == ["current"] + ["replaced"] * 3


def test_a_deleted_page_shows_its_history_and_comes_back(inproc: Net,
                                                         ui: httpx.Client) -> None:  # noqa: F811
    key = f"{unique('uiundelete')}/index.html"
    with ui:
        write(ui, key, b"<h1>back</h1>")
        deleted = ui.post(f"/ui/delete/{key}", data={"context": ""}, follow_redirects=True)
        assert deleted.status_code == 200
        assert f'<a href="/ui/object/{key}#history">Its history</a>' in deleted.text
        gone = ui.get(f"/ui/object/{key}", headers=HTML)
        assert gone.status_code == 404
        assert "This file was deleted" in gone.text
        listed = rows(gone.text)
        assert [s for s, _, _ in listed] == ["deleted", "replaced"]
        assert "/ui/restore/" not in listed[0][2] and "view</a>" not in listed[0][2]
        r = ui.post(f"/ui/restore/{key}", data={"context": form_context(gone.text),
                                                "version": listed[1][1]})
        assert r.status_code == 303, r.text
        assert ui.get(f"/api/v1/objects/{key}").content == b"<h1>back</h1>"
        assert ui.get(f"/ui/object/{key}").status_code == 200


def test_restore_refusals(inproc: Net, ui: httpx.Client) -> None:  # noqa: F811
    key = f"{unique('uirefuse')}/page.html"
    with ui:
        for text in (b"a", b"b"):
            write(ui, key, text)
        page = ui.get(f"/ui/object/{key}").text
        old = rows(page)[1][1]
        context = form_context(page)
        replica = old.rpartition(":")[0]
        for version, status in ((f"{replica}:999999", 404), ("not-a-version", 400)):
            r = ui.post(f"/ui/restore/{key}", data={"context": context, "version": version})
            assert r.status_code == status, (version, r.text)
        assert ui.post(f"/ui/restore/{key}", data={"context": context}).status_code == 400
        r = ui.post(f"/ui/restore/{key}", data={"context": context, "version": old},
                    headers={"Origin": "http://evil.example"})
        assert r.status_code == 403
        ui.delete(f"/api/v1/objects/{key}", headers=inproc.auth).raise_for_status()
        tombstone = rows(ui.get(f"/ui/object/{key}").text)[0][1]
        r = ui.post(f"/ui/restore/{key}", data={"context": context, "version": tombstone})
        assert r.status_code == 404 and "is a delete" in r.json()["detail"]
    with inproc.http() as anonymous:
        r = anonymous.post(f"/ui/restore/{key}", content=f"version={old}".encode(),
                           headers={**FORM, **HTML})
        assert r.status_code == 401 and "Sign in" in r.text
        assert anonymous.get(f"/api/v1/objects/{key}").status_code == 404


def test_the_network_page_shows_bytes_per_node(inproc: Net, ui: httpx.Client) -> None:  # noqa: F811
    from dwp.core.sizes import human_size

    def on_home(page: str, node: str) -> list[str]:
        row = page[page.index(f'href="/ui/node/{node}"'):]
        row = row[:row.index("</tr>")]
        return [re.search(rf'<td class="num bytes bytes-{part}">([^<]*)</td>', row).group(1)
                for part in ("live", "disk")]

    def on_node_page(node: str) -> list[str]:
        page = ui.get(f"/ui/node/{node}").text
        return [re.search(rf'<td class="bytes bytes-{part}">([^<]*) <span', page).group(1)
                for part in PARTS]

    def agree() -> bool:
        """The pages show what the API says (read right after it: the files' sizes on
        disk can move in between, as the write-ahead log grows or is checkpointed): live
        and disk bytes on the home page, all four on each node's page."""
        page = ui.get("/").text
        status = ui.get("/api/v1/network").json()
        nodes = page[page.index("<table class=\"nodes\">"):]
        head = nodes[:nodes.index("</thead>")]
        assert ">Live<" in head and ">Disk<" in head
        return all(on_home(page, n["id"]) == [human_size(n["bytes"][p]) for p in
                                              ("live", "disk")]
                   and on_node_page(n["id"]) == [human_size(n["bytes"][p]) for p in PARTS]
                   for n in status["nodes"])

    with ui:
        write(ui, f"{unique('uibytes')}/big.bin", b"b" * (3 * CHUNK_SIZE))
        eventually(agree, 15)


@pytest.mark.skipif(not Path(CHROMIUM).exists(),
                    reason=f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
def test_restore_an_overwritten_page_in_the_browser(served: Net, page: Any) -> None:  # noqa: F811
    site = unique("pw-restore")
    key = f"{site}/index.html"
    with served.http(headers=served.auth) as h:
        for text in (b"<h1>The original</h1>", b"<h1>Overwritten by mistake</h1>"):
            write(h, key, text)
    failures = Failures(page)
    page.on("dialog", lambda dialog: dialog.accept())  # the form asks to confirm
    sign_in(page, served.url, served.token)
    page.goto(f"{served.url}/ui/object/{key}")
    assert page.text_content("tr.version-current .state") == "current"
    page.click("tr.version-replaced button:text('Restore')")
    page.wait_for_selector("text=it is the current version again")
    assert page.eval_on_selector_all("table.history tbody tr", "rs => rs.map(r => r.className)"
                                     ) == ["version-current", "version-replaced",
                                           "version-replaced"]
    page.goto(f"{served.url}/sites/{site}/")
    assert page.text_content("h1") == "The original"
    assert failures.items == []


@pytest.mark.skipif(not Path(CHROMIUM).exists(),
                    reason=f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
def test_undo_a_delete_in_the_browser(served: Net, page: Any) -> None:  # noqa: F811
    site = unique("pw-undelete")
    key = f"{site}/notes/plan.html"
    with served.http(headers=served.auth) as h:
        write(h, key, b"<h1>The plan</h1>")
    failures = Failures(page)
    page.on("dialog", lambda dialog: dialog.accept())  # the forms ask to confirm
    sign_in(page, served.url, served.token)
    page.goto(f"{served.url}/ui/object/{key}")
    page.click("button:text('Delete')")
    page.wait_for_url(f"{served.url}/ui/browse/{site}/notes/?deleted={quote(key)}")
    page.click("text=Its history")
    assert page.text_content(".notice.deleted").startswith("This file was deleted.")
    page.click("tr.version-replaced button:text('Restore')")
    page.wait_for_selector("text=it is the current version again")
    page.goto(f"{served.url}/sites/{site}/notes/plan.html")
    assert page.text_content("h1") == "The plan"
    assert failures.items == [f"404 {served.url}/ui/object/{key}"], (
        "only the deleted file's own page answers 404")
