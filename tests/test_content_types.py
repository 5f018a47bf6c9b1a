"""One function decides an object's Content-Type, whichever way it was published: the
object API (curl) and a zip through the UI give the same file the same type, in process
(the CLI's ``dwp put`` is tested in ``tests/test_cli_commands.py``)."""

from __future__ import annotations

import gzip
import io
import zipfile

import pytest

from gateway.content_types import content_type_for, guess
from tests.conftest import Net
from tests.helpers import unique
from tests.sites import origin

GZIP = gzip.compress(b"<h1>changes</h1>", mtime=0)
CURL_DEFAULT = "application/x-www-form-urlencoded"



@pytest.mark.parametrize(("key", "expected"), [
    ("s/changelog.html.gz", "application/gzip"),
    ("s/x.odf.gz", "application/gzip"),
    ("s/backup.tar.gz", "application/gzip"),
    ("s/index.html", "text/html"),
    ("s/style.css", "text/css"),
    ("s/README", "application/octet-stream"),
])
def test_guess_by_the_key_name_and_a_compressed_file_is_the_compression(
        key: str, expected: str) -> None:
    assert guess(key) == expected


@pytest.mark.parametrize("given", [None, "", CURL_DEFAULT, CURL_DEFAULT + "; charset=x"])
def test_no_real_content_type_is_guessed(given: str | None) -> None:
    assert content_type_for("s/page.html", given) == "text/html"


def test_a_stated_content_type_is_kept() -> None:
    assert content_type_for("s/page.html", "text/plain; charset=utf-8") == (
        "text/plain; charset=utf-8")


def test_curl_upload_is_served_with_the_guessed_type(inproc: Net) -> None:
    site = unique("ct-curl")
    with inproc.http() as h:
        put = h.put(f"/api/v1/objects/{site}/index.html", content=b"<h1>hi</h1>",
                    headers={**inproc.auth, "Content-Type": CURL_DEFAULT})
        assert put.status_code == 200, put.text
        assert put.json()["content_type"] == "text/html"
    with origin(inproc, site) as h:
        served = h.get("/index.html", headers={"X-DWP-Context": put.headers["x-dwp-context"]})
        assert served.status_code == 200 and served.headers["content-type"] == "text/html"


def test_gzip_file_is_served_as_gzip_not_as_its_contents(inproc: Net) -> None:
    site = unique("ct-gz")
    with inproc.http() as api, origin(inproc, site) as h:
        for name in ("changelog.html.gz", "x.odf.gz"):
            put = api.put(f"/api/v1/objects/{site}/{name}", content=GZIP, headers=inproc.auth)
            assert put.status_code == 200, put.text
            served = h.get(f"/{name}", headers={"X-DWP-Context": put.headers["x-dwp-context"]})
            assert served.status_code == 200
            assert served.headers["content-type"] == "application/gzip"
            assert "content-encoding" not in served.headers
            assert served.content == GZIP


def test_a_zip_gives_the_type_the_api_gives(inproc: Net) -> None:
    site = unique("ct-zip")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("changelog.html.gz", GZIP)
        z.writestr("page.html", b"<p>zip</p>")
    with inproc.http() as h:
        reply = h.post(f"/ui/zip/{site}", params={"dir": "zip"}, content=buf.getvalue(),
                       headers=inproc.auth)
        assert reply.status_code == 200, reply.text
        listed = h.get("/api/v1/objects", params={"prefix": site + "/zip/"}, headers={
            "X-DWP-Context": reply.headers["x-dwp-context"]}).json()["objects"]
    assert {o["key"]: o["content_type"] for o in listed} == {
        f"{site}/zip/changelog.html.gz": "application/gzip",
        f"{site}/zip/page.html": "text/html"}
