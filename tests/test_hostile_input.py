"""Hostile input gets a 4xx, never a 500, in process: absurd ranges and dates, two Host
headers, content types that cannot be a header (refused at every write path, and served
as application/octet-stream when one is already stored), and keys with format
characters that would spoof another name in a listing."""

from __future__ import annotations

import io
import zipfile

import httpx
import pytest

from dwp.core.token import Token
from gateway.content_types import MAX_LENGTH, UNKNOWN
from tests.conftest import Net
from tests.helpers import unique
from tests.sites import origin, origin_host

HUGE = "9" * 5000  # past Python's int() digit limit, and past any size
BAD_TYPES = ["text/plain; charset=一", "text/html\x7f", "text/é", "x/" + "a" * MAX_LENGTH]
SPOOFS = ["garden/gnp.\u202eexe", "garden/a\u200bb.html", "\u2066site/index.html"]



@pytest.fixture(scope="module")
def page(inproc: Net) -> str:
    """A small site page: served by the API, the site's origin and the hot path."""
    site = unique("hostile")
    with inproc.http(headers=inproc.auth) as h:
        h.put(f"/api/v1/objects/{site}/index.html", content=b"<p>hello</p>").raise_for_status()
    return site


def where(inproc: Net, site: str) -> list[tuple[httpx.Client, str]]:
    """The same page through the object API and on its site's origin."""
    return [(inproc.http(), f"/api/v1/objects/{site}/index.html"),
            (origin(inproc, site), "/index.html")]


@pytest.mark.parametrize("spec", [f"bytes={HUGE}-", f"bytes=0-{HUGE}", f"bytes=-{HUGE}",
                                  f"bytes={HUGE}-{HUGE}", "bytes=99999999999999999999-"])
def test_absurd_ranges_are_416(inproc: Net, page: str, spec: str) -> None:
    for client, path in where(inproc, page):
        with client:
            r = client.get(path, headers={"Range": spec})
            assert r.status_code == 416, (path, r.status_code, r.text[:200])
            assert r.headers["content-range"] == "bytes */12"


@pytest.mark.parametrize("since", [
    "1 Jan 99999999999999999999 0:0:0 GMT", "Sat, 01 Jan 10000 00:00:00 GMT",
    "Sat, 31 Feb 2021 00:00:00 GMT", "yesterday", "Mon, 99 Jan 2021 99:99:99 GMT", HUGE])
def test_unparsable_or_out_of_range_dates_are_ignored(inproc: Net, page: str,
                                                      since: str) -> None:
    for client, path in where(inproc, page):
        with client:
            r = client.get(path, headers={"If-Modified-Since": since})
            assert r.status_code == 200 and r.content == b"<p>hello</p>", (path, r.text[:200])


def test_two_host_headers_are_400(inproc: Net, page: str) -> None:
    with inproc.http() as h:
        for path in (f"/api/v1/objects/{page}/index.html", "/", "/metrics"):
            assert h.get(path).status_code == 200  # the hot path has it cached now
            r = h.get(path, headers=[("Host", "127.0.0.1:8000"), ("Host", "127.0.0.1:8000")])
            assert r.status_code == 400, (path, r.text[:200])
            assert "Host" in r.json()["detail"]
        site = origin_host(inproc, page)
        r = h.get("/index.html", headers=[("Host", site), ("Host", "127.0.0.1:8000")])
        assert r.status_code == 400


@pytest.mark.parametrize("content_type", BAD_TYPES)
def test_a_content_type_that_cannot_be_a_header_is_refused_at_every_write(
        inproc: Net, content_type: str) -> None:
    key = f"{unique('ctype')}/a.txt"
    with inproc.http(headers={**inproc.auth, "Origin": inproc.url}) as h:
        r = h.put(f"/api/v1/objects/{key}", content=b"x",
                  headers={"Content-Type": content_type.encode("utf-8")})
        assert r.status_code == 400, r.text
        assert "printable ASCII" in r.json()["detail"]
        r = h.post(f"/ui/edit/{key}", data={"content": "x", "content_type": content_type})
        assert r.status_code == 400, r.text
        assert "printable ASCII" in r.json()["detail"]
        assert h.get(f"/api/v1/objects/{key}").status_code == 404


@pytest.mark.parametrize("content_type", BAD_TYPES)
def test_a_bad_content_type_already_stored_is_served_as_bytes(
        inproc: Net, content_type: str) -> None:
    """Written through the client, as a gateway before this rule did: the API, the site's
    origin (twice, so the hot path answers too), its index.html and its 404.html."""
    site = unique("stored")
    assert inproc.transport is not None
    for name in ("page.txt", "index.html", "404.html"):
        inproc.transport.portal.call(inproc.client.put, f"{site}/{name}", b"body",
                                     content_type, Token())
    with inproc.http() as h:
        for _ in range(2):
            r = h.get(f"/api/v1/objects/{site}/page.txt")
            assert r.status_code == 200 and r.headers["content-type"] == UNKNOWN
    with origin(inproc, site) as h:
        for path, status in (("/page.txt", 200), ("/page.txt", 200), ("/", 200),
                             ("/", 200), ("/nothing-here", 404)):
            r = h.get(path)
            assert r.status_code == status and r.headers["content-type"] == UNKNOWN, path
            assert r.content == b"body"
    with inproc.http() as h:
        page = h.get(f"/ui/object/{site}/page.txt")
        assert page.status_code == 200


@pytest.mark.parametrize("key", SPOOFS)
def test_keys_with_format_characters_are_refused_at_write(inproc: Net, key: str) -> None:
    with inproc.http(headers={**inproc.auth, "Origin": inproc.url}) as h:
        r = h.put(f"/api/v1/objects/{key}", content=b"x")
        assert r.status_code == 400
        assert "format character" in r.json()["detail"] and "U+" in r.json()["detail"]
        r = h.post(f"/ui/edit/{key}", data={"content": "x"})
        assert r.status_code == 400 and "format character" in r.json()["detail"]
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("folder/" + key, b"x")  # one top folder: it is dropped
        r = h.post(f"/ui/zip/{unique('zip')}", content=archive.getvalue())
        assert r.status_code == 400 and "format character" in r.json()["detail"]
        assert h.get(f"/api/v1/objects/{key}").status_code == 404
