"""Precompressed siblings (``gateway.encodings``): a stored ``x.br``/``x.gz`` answers a
client that accepts the coding, with its own ETag, Range over the bytes sent, 304s and
``Vary: Accept-Encoding``; a stale sibling is never sent. In process, on a site's origin
and path-style."""

from __future__ import annotations

import gzip
import json

import brotli
import httpx
import pytest

from gateway.encodings import accepted
from tests.conftest import Net
from tests.sites import origin
from tests.test_sites import put, unique

INDEX = json.dumps({"docs": [{"location": f"page{i}/", "title": f"Page {i}",
                              "text": "the quick brown fox " * 20} for i in range(200)]}
                   ).encode()
GZ, BR = gzip.compress(INDEX, mtime=0), brotli.compress(INDEX)


@pytest.fixture(scope="module")
def packed(inproc: Net) -> str:
    name = unique("packed")
    with inproc.http() as h:
        put(h, inproc, f"{name}/search/search_index.json", INDEX)
        put(h, inproc, f"{name}/search/search_index.json.gz", GZ)
        put(h, inproc, f"{name}/search/search_index.json.br", BR)
        put(h, inproc, f"{name}/plain.txt", b"plain")
    return name


def raw(h: httpx.Client, path: str, **headers: str) -> tuple[httpx.Response, bytes]:
    """The answer and its bytes as sent (httpx would decode a Content-Encoding)."""
    with h.stream("GET", path, headers=headers) as r:
        return r, b"".join(r.iter_raw())


@pytest.mark.parametrize("accept, coding, body", [
    ("br", "br", BR), ("gzip", "gzip", GZ), ("gzip, deflate, br, zstd", "br", BR),
    ("br;q=0, gzip", "gzip", GZ), ("x-gzip", "gzip", GZ), ("*", "br", BR),
    ("*, br;q=0", "gzip", GZ), ("identity", None, INDEX), ("br;q=0, gzip;q=0", None, INDEX),
])
def test_the_accepted_sibling_is_sent(inproc: Net, packed: str, accept: str,
                                      coding: str | None, body: bytes) -> None:
    with origin(inproc, packed) as h:
        r, sent = raw(h, "/search/search_index.json", **{"Accept-Encoding": accept})
    assert r.status_code == 200 and sent == body
    assert r.headers.get("content-encoding") == coding
    assert r.headers["content-type"] == "application/json"
    assert r.headers["vary"] == "Accept-Encoding"
    assert r.headers["content-length"] == str(len(body))


def test_each_coding_has_its_etag_and_its_304(inproc: Net, packed: str) -> None:
    path = "/search/search_index.json"
    with origin(inproc, packed) as h:
        tags = {accept: raw(h, path, **{"Accept-Encoding": accept})[0].headers["etag"]
                for accept in ("br", "gzip", "identity")}
        assert len(set(tags.values())) == 3
        r = h.get(path, headers={"Accept-Encoding": "gzip", "If-None-Match": tags["gzip"]})
        assert r.status_code == 304
        assert r.headers["content-encoding"] == "gzip" and r.headers["vary"] == "Accept-Encoding"
        r, sent = raw(h, path, **{"Accept-Encoding": "gzip", "If-None-Match": tags["br"]})
        assert r.status_code == 200 and sent == GZ


def test_a_range_is_of_the_bytes_sent(inproc: Net, packed: str) -> None:
    with origin(inproc, packed) as h:
        r, sent = raw(h, "/search/search_index.json",
                      **{"Accept-Encoding": "gzip", "Range": "bytes=10-19"})
        assert r.status_code == 206 and sent == GZ[10:20]
        assert r.headers["content-range"] == f"bytes 10-19/{len(GZ)}"
        assert r.headers["content-encoding"] == "gzip"
        etag = r.headers["etag"]
        r, sent = raw(h, "/search/search_index.json", **{
            "Accept-Encoding": "br", "Range": "bytes=0-4", "If-Range": etag})
        assert r.status_code == 200 and sent == BR  # the br bytes are not the gzip ones


def test_a_file_without_siblings_is_unchanged(inproc: Net, packed: str) -> None:
    with origin(inproc, packed) as h:
        r, sent = raw(h, "/plain.txt", **{"Accept-Encoding": "gzip, br"})
    assert sent == b"plain" and "content-encoding" not in r.headers and "vary" not in r.headers


def test_path_style_sends_siblings_under_the_sandbox(inproc: Net, packed: str) -> None:
    with inproc.http() as h:
        r, sent = raw(h, f"/sites/{packed}/search/search_index.json",
                      **{"Accept-Encoding": "br"})
    assert sent == BR and r.headers["content-encoding"] == "br"
    assert r.headers["content-security-policy"].startswith("sandbox ")


def test_a_sibling_older_than_its_file_is_not_sent(inproc: Net) -> None:
    """Editing ``x`` (in the UI, with ``dwp put``) leaves ``x.gz`` stale: it is ignored."""
    name = unique("stale")
    with inproc.http() as h:
        put(h, inproc, f"{name}/app.js", b"old();" * 100)
        put(h, inproc, f"{name}/app.js.gz", gzip.compress(b"old();" * 100))
        put(h, inproc, f"{name}/app.js", b"new();" * 100)
    with origin(inproc, name) as h:
        r, sent = raw(h, "/app.js", **{"Accept-Encoding": "gzip"})
    assert sent == b"new();" * 100 and "content-encoding" not in r.headers


@pytest.mark.parametrize("header, expected", [
    (None, set()), ("", set()), ("gzip", {"gzip"}), ("GZIP;Q=0.5", {"gzip"}),
    ("br;q=0", set()), ("*", {"br", "gzip"}), ("*;q=0, br", {"br"}),
    ("gzip;q=bad", {"gzip"}), (" , ,br", {"br"}),
])
def test_accept_encoding_parsing(header: str | None, expected: set[str]) -> None:
    assert accepted(header) & {"br", "gzip"} == expected
