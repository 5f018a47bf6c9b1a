"""The UI's pages and forms, in process (the gateway app over real nodes): rendering,
edit with context, keep a sibling, delete, zip upload, and readable errors instead of
500s (signing in: ``tests/test_signin.py``)."""

from __future__ import annotations

import io
import zipfile

import httpx
import pytest

from tests.conftest import TEST_MAX_UPLOAD, Net, eventually
from tests.helpers import unique

HTML = {"Accept": "text/html"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}



@pytest.fixture
def ui(inproc: Net) -> httpx.Client:
    """A client signed in to the UI, so it holds the token cookie."""
    return inproc.ui()


def make_zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_home_shows_the_network(inproc: Net) -> None:
    with inproc.http() as h:
        r = h.get("/")
        assert r.status_code == 200
        assert "Network" in r.text and "test" in r.text
        for node in inproc.client.view.nodes:
            assert node.id in r.text
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_pages_render(inproc: Net, ui: httpx.Client) -> None:
    site = unique("pages")
    with ui:
        ui.put(f"/api/v1/objects/{site}/dir/page.html", content=b"<p>x</p>").raise_for_status()
        # the home page lists without the writer's context: replication may lag a moment
        eventually(lambda: site in ui.get("/").text, 15)
        r = ui.get(f"/ui/browse/{site}/")
        assert r.status_code == 200 and "dir/" in r.text
        r = ui.get(f"/ui/browse/{site}/dir/")
        assert f"/ui/object/{site}/dir/page.html" in r.text
        r = ui.get("/ui/search", params={"q": site.upper()})
        assert f"{site}/dir/page.html" in r.text
        r = ui.get(f"/ui/object/{site}/dir/page.html")
        assert r.status_code == 200 and "text/html" in r.text and "Edit" in r.text
        assert ui.get(f"/ui/edit/{site}/dir/page.html").text.count("&lt;p&gt;x&lt;/p&gt;") == 1
        assert ui.get("/ui/publish").status_code == 200
        r = ui.get(f"/ui/object/{site}/nothing", headers=HTML)
        assert r.status_code == 404 and "not found" in r.text
        assert ui.get("/static/publish.js").status_code == 200


def test_edit_saves_with_context_and_races_become_siblings(inproc: Net, ui: httpx.Client) -> None:
    key = f"{unique('edit')}/notes.md"
    with ui:
        r = ui.post(f"/ui/edit/{key}", data={"content": "# one\r\n", "context": "",
                                             "eol": "lf", "content_type": "text/markdown"})
        assert r.status_code == 303
        assert ui.get(f"/api/v1/objects/{key}").content == b"# one\n"
        context = ui.get(f"/api/v1/objects/{key}").headers["x-dwp-context"]
        for text in ("# two", "# three"):
            r = ui.post(f"/ui/edit/{key}", data={"content": text, "context": context,
                                                 "content_type": "text/markdown"})
            assert r.status_code == 303
        siblings = ui.get(f"/api/v1/objects/{key}", params={"siblings": "true"}).json()
        assert len(siblings["siblings"]) == 2
        page = ui.get(f"/ui/object/{key}").text
        assert "2 siblings" in page and "Keep this one" in page

        listed = ui.get(f"/api/v1/objects/{key}", params={"siblings": "true"})
        keep = next(s for s in listed.json()["siblings"]
                    if ui.get(s["url"]).content == b"# three")
        r = ui.post(f"/ui/keep/{key}", data={"context": listed.headers["x-dwp-context"],
                                             "hash": keep["hash"]})
        assert r.status_code == 303
        r = ui.get(f"/api/v1/objects/{key}")
        assert r.content == b"# three" and "x-dwp-siblings" not in r.headers


def test_delete_form(inproc: Net, ui: httpx.Client) -> None:
    site = unique("del")
    with ui:
        ui.put(f"/api/v1/objects/{site}/a.txt", content=b"a").raise_for_status()
        r = ui.post(f"/ui/delete/{site}/a.txt", data={"context": ""})
        assert r.status_code == 303
        assert r.headers["location"] == f"/ui/browse/{site}/?deleted={site}/a.txt"
        assert ui.get(f"/api/v1/objects/{site}/a.txt").status_code == 404


def test_writes_without_token_get_a_readable_401(inproc: Net) -> None:
    key = f"{unique('anon')}/a.txt"
    with inproc.http() as h:
        r = h.post(f"/ui/edit/{key}", content=b"content=x", headers={**FORM, **HTML})
        assert r.status_code == 401 and r.headers["content-type"].startswith("text/html")
        assert "network token" in r.text and "Sign in" in r.text
        r = h.post(f"/ui/edit/{key}", content=b"content=x", headers=FORM)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        r = h.post(f"/ui/zip/{key.split('/')[0]}", content=make_zip({"a.txt": b"a"}))
        assert r.status_code == 401
        assert h.get(f"/api/v1/objects/{key}").status_code == 404


def test_cross_origin_and_sandboxed_writes_are_refused(inproc: Net, ui: httpx.Client) -> None:
    key = f"{unique('csrf')}/a.txt"
    with ui:
        for headers in ({"Origin": "null"}, {"Origin": "http://evil.example"},
                        {"Sec-Fetch-Site": "cross-site"}):
            r = ui.post(f"/ui/edit/{key}", data={"content": "x"}, headers=headers)
            assert r.status_code == 403, headers
        r = ui.post(f"/ui/edit/{key}", data={"content": "x"}, headers={"Origin": inproc.url})
        assert r.status_code == 303


def test_login_form(inproc: Net) -> None:
    with inproc.http() as h:
        r = h.post("/ui/login", data={"token": "wrong"}, headers=HTML)
        assert r.status_code == 401 and "not the token" in r.text
        r = h.post("/ui/login", data={"token": inproc.token})
        assert r.status_code == 303 and "httponly" in r.headers["set-cookie"].lower()


def test_bad_form_input_is_400_not_500(inproc: Net, ui: httpx.Client) -> None:
    with ui:
        r = ui.post("/ui/edit/x/a.txt", content=b"{}", headers={
            "Content-Type": "application/json", **HTML})
        assert r.status_code == 400 and "expected a form" in r.text
        r = ui.post("/ui/edit/x//a.txt", data={"content": "x"}, headers=HTML)
        assert r.status_code == 400 and "empty path segment" in r.text
        r = ui.post("/ui/edit/x/a.txt", data={"content": "x", "context": "garbage"})
        assert r.status_code == 400 and r.json()["error"] == "invalid context token"
        r = ui.post("/ui/keep/x/a.txt", data={"context": ""})
        assert r.status_code == 400 and "'hash'" in r.json()["detail"]
        r = ui.post("/ui/edit/x/a.txt", content=b"content=" + b"x" * (TEST_MAX_UPLOAD + 1),
                    headers={**FORM, **HTML})
        assert r.status_code == 413 and "limit" in r.text


def test_zip_upload_unpacks_into_site(inproc: Net, ui: httpx.Client) -> None:
    site = unique("zip")
    archive = make_zip({"mysite/index.html": b"<h1>z</h1>", "mysite/css/s.css": b"a{}",
                        "__MACOSX/mysite/._index.html": b"junk"})
    with ui:
        r = ui.post(f"/ui/zip/{site}", content=archive, params={"dir": "v1"})
        assert r.status_code == 200, r.text
        assert sorted(r.json()["keys"]) == [f"{site}/v1/css/s.css", f"{site}/v1/index.html"]
        r = ui.get(f"/api/v1/objects/{site}/v1/css/s.css")
        assert r.content == b"a{}" and r.headers["content-type"].startswith("text/css")


@pytest.mark.parametrize("name", ["../escape.html", "/abs.html", "a//b.html", "c:\\x.html",
                                  "ok/\x01.html"])
def test_zip_with_bad_names_writes_nothing(inproc: Net, ui: httpx.Client, name: str) -> None:
    site = unique("badzip")
    with ui:
        r = ui.post(f"/ui/zip/{site}", content=make_zip({"good.html": b"g", name: b"x"}))
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "bad zip"
        assert ui.get("/api/v1/objects", params={"prefix": site + "/"}).json()["objects"] == []


def test_zip_errors(inproc: Net, ui: httpx.Client) -> None:
    with ui:
        r = ui.post(f"/ui/zip/{unique('z')}", content=b"not a zip")
        assert r.status_code == 400 and "not a readable zip" in r.json()["detail"]
        r = ui.post(f"/ui/zip/{unique('z')}", content=b"x" * (TEST_MAX_UPLOAD + 1))
        assert r.status_code == 413 and r.json()["error"] == "too large"
