"""A site's ``_headers`` rules (``dwp.core.headers``): which headers a path gets, as a table
of cases, and the lines refused, each named with its line number and reason."""

from __future__ import annotations

import pytest

from dwp.core import headers
from gateway.sites import SITE_CSP
from tests.conftest import Net
from tests.sites import origin
from tests.test_sites import put, unique

FILE = b"""# every page
/*
  X-Frame-Options: DENY
  Referrer-Policy: no-referrer

/assets/*
  Cache-Control: public, max-age=31536000, immutable
  X-Robots-Tag: noindex

/assets/fonts/*
  ! X-Robots-Tag
  Access-Control-Allow-Origin: *

/blog/:year/:slug
  X-Post: :year :slug
  Link: </blog/:year/>; rel=up

/app/*.wasm
  Cross-Origin-Embedder-Policy: require-corp
  Cross-Origin-Opener-Policy: same-origin

/secure/*
  Content-Security-Policy: default-src 'self'
  X-Frame-Options: SAMEORIGIN

/files/*
  X-Splat: :splat
"""

DEFAULT = [("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer")]


@pytest.mark.parametrize("path, expected", [
    ("/", DEFAULT),
    ("/index.html", DEFAULT),
    ("/assets/app.css", [*DEFAULT, ("Cache-Control", "public, max-age=31536000, immutable"),
                         ("X-Robots-Tag", "noindex")]),
    ("/assets/", [*DEFAULT, ("Cache-Control", "public, max-age=31536000, immutable"),
                  ("X-Robots-Tag", "noindex")]),
    ("/assetsx", DEFAULT),  # '*' after '/' needs the '/'
    ("/assets/fonts/a.woff2", [*DEFAULT, ("Cache-Control",
                                          "public, max-age=31536000, immutable"),
                               ("Access-Control-Allow-Origin", "*")]),  # detached
    ("/blog/2024/hello", [*DEFAULT, ("X-Post", "2024 hello"),
                          ("Link", "</blog/2024/>; rel=up")]),
    ("/blog/2024/hello/more", DEFAULT),  # ':slug' is one segment
    ("/blog/2024", DEFAULT),
    ("/app/pkg/core.wasm", [*DEFAULT, ("Cross-Origin-Embedder-Policy", "require-corp"),
                            ("Cross-Origin-Opener-Policy", "same-origin")]),
    ("/app/core.js", DEFAULT),
    ("/secure/x.html", [("X-Frame-Options", "DENY, SAMEORIGIN"),
                        ("Referrer-Policy", "no-referrer"),
                        ("Content-Security-Policy", "default-src 'self'")]),
    ("/files/a b/\u00e9.txt", [*DEFAULT, ("X-Splat", "a%20b/%C3%A9.txt")]),
])
def test_headers_for_a_path(path: str, expected: list[tuple[str, str]]) -> None:
    assert headers.headers_for(headers.parse(FILE), path) == expected


def test_netlify_and_cloudflare_spellings() -> None:
    """CRLF line ends, tabs, a header without a space after its colon, case kept."""
    rules = headers.parse(b"/a\r\n\tX-One:1\r\n    x-two :  two words \r\n")
    assert headers.headers_for(rules, "/a") == [("X-One", "1"), ("x-two", "two words")]
    assert headers.parse(b"") == [] and headers.parse(b"# only a comment\n\n") == []


@pytest.mark.parametrize("text, line, reason", [
    (b"  X-A: 1\n", 1, "a header line must be indented below a path"),
    (b"/a\n  X-A: 1\nX-B: 2\n", 3, "a path starts with '/'"),
    (b"https://example.org/*\n  X-A: 1\n", 1, "a pattern is a path starting with '/'"),
    (b"/a\n", 1, "a path needs at least one indented header line below it"),
    (b"/a\n/b\n  X-A: 1\n", 1, "a path needs at least one indented header line"),
    (b"/a?x=1\n  X-A: 1\n", 1, "without a query or fragment"),
    (b"/a b\n  X-A: 1\n", 1, "a path has no spaces"),
    (b"/a:b\n  X-A: 1\n", 1, "a placeholder is a whole segment"),
    (b"/a\n  X-A 1\n", 2, "a header line is 'Name: value'"),
    (b"/a\n  X A: 1\n", 2, "is not a header name"),
    (b"/a\n  X-A:\n", 2, "a header needs a value"),
    (b"/a\n  X-A: caf\xc3\xa9\n", 2, "ASCII text without control characters"),
    (b"/a\n  X-A: a\x01b\n", 2, "ASCII text without control characters"),
    (b"/a\n  !\n", 2, "the name is not valid"),
    (b"/a\n  X-A: 1\n  Set-Cookie: s=1\n", 3, "set-cookie is refused: a site may not set "
                                             "cookies"),
    (b"/a\n  set-cookie2: s=1\n", 2, "set-cookie2 is refused"),
    (b"/a\n  Clear-Site-Data: \"*\"\n", 2, "clear-site-data is refused"),
    (b"/a\n  Access-Control-Allow-Credentials: true\n", 2,
     "access-control-allow-credentials is refused"),
    (b"/a\n  Connection: close\n", 2, "a hop-by-hop header"),
    (b"/a\n  Transfer-Encoding: chunked\n", 2, "a hop-by-hop header"),
    (b"/a\n  Upgrade: websocket\n", 2, "a hop-by-hop header"),
    (b"/a\n  Content-Length: 5\n", 2, "content-length is refused"),
    (b"/a\n  Content-Encoding: gzip\n", 2, "content-encoding is refused"),
    (b"/a\n  Content-Type: text/html\n", 2, "content-type is refused"),
    (b"/a\n  ETag: \"x\"\n", 2, "etag is refused"),
    (b"/a\n  Vary: Cookie\n", 2, "vary is refused"),
    (b"/a\n  Strict-Transport-Security: max-age=1\n", 2, "the gateway decides the transport"),
    (b"/a\n  X-DWP-Node: n1\n", 2, "X-DWP-* headers are the gateway's own"),
    (b"/a\n  X-Content-Type-Options: sniff\n", 2, "no other value is allowed"),
    (b"/a\n  ! X-Content-Type-Options\n", 2, "it cannot be removed"),
    (b"/a\n  ! Set-Cookie\n", 2, "set-cookie is refused"),
    (b"/a\n  X-A: " + b"x" * 2000 + b"\n", 2, "at most 2000 characters"),
])
def test_refused_lines_are_named(text: bytes, line: int, reason: str) -> None:
    with pytest.raises(headers.HeadersError) as caught:
        headers.parse(text)
    message = str(caught.value)
    assert message.startswith(f"_headers line {line} ("), message
    assert reason in message


def test_whole_file_limits() -> None:
    with pytest.raises(headers.HeadersError, match="is not UTF-8 text"):
        headers.parse(b"/a\n  X-A: \xff\n")
    with pytest.raises(headers.HeadersError, match="the limit is 65536"):
        headers.parse(b"#" * (headers.MAX_SIZE + 1))


def test_nosniff_may_be_repeated_and_csp_is_its_own_policy() -> None:
    """Many real files carry ``X-Content-Type-Options: nosniff``: the gateway's own
    value, allowed. A CSP is sent beside the gateway's, never instead of it."""
    rules = headers.parse(b"/*\n  X-Content-Type-Options: nosniff\n"
                          b"  Content-Security-Policy: script-src 'self'\n")
    assert headers.headers_for(rules, "/x") == [
        ("X-Content-Type-Options", "nosniff"),
        ("Content-Security-Policy", "script-src 'self'")]
    assert "content-security-policy" in headers.ADDED_AS_OWN_FIELD


# The rules applied by the gateway, in process (the app over real nodes).

SITE_HEADERS = b"""/*
  X-Frame-Options: DENY
/assets/*
  Cache-Control: public, max-age=31536000, immutable
/secure/*
  Content-Security-Policy: default-src 'self'
"""


@pytest.fixture(scope="module")
def headed(inproc: Net) -> str:
    name = unique("headed")
    with inproc.http() as h:
        for key, body in {"index.html": b"home", "assets/app.css": b"p{}",
                          "secure/page.html": b"secret", "docs/a.txt": b"a",
                          "404.html": b"own 404", "_headers": SITE_HEADERS}.items():
            put(h, inproc, f"{name}/{key}", body)
    return name


def test_rules_apply_on_the_site_origin(inproc: Net, headed: str) -> None:
    with origin(inproc, headed) as h:
        r = h.get("/")
        assert r.status_code == 200 and r.headers["x-frame-options"] == "DENY"
        assert r.headers["cache-control"] == "no-cache"  # the gateway's, unless a rule says
        r = h.get("/assets/app.css")
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert r.headers["x-content-type-options"] == "nosniff"
        unchanged = h.get("/assets/app.css", headers={"If-None-Match": r.headers["etag"]})
        assert unchanged.status_code == 304
        assert unchanged.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert h.get("/docs/").headers["x-frame-options"] == "DENY"  # a listing
        missing = h.get("/nope.html")
        assert missing.status_code == 404 and missing.headers["x-frame-options"] == "DENY"
        assert "x-frame-options" not in h.get("/docs").headers  # a redirect: none
        r = h.get("/secure/page.html")
        assert r.headers.get_list("content-security-policy") == ["default-src 'self'"]


def test_a_site_csp_is_added_beside_the_sandbox_never_instead(inproc: Net, headed: str
                                                               ) -> None:
    with inproc.http() as h:  # path-style, as wget or a script asks
        r = h.get(f"/sites/{headed}/secure/page.html")
        assert r.status_code == 200 and r.headers["x-frame-options"] == "DENY"
        policies = r.headers.get_list("content-security-policy")
        assert policies == [SITE_CSP, "default-src 'self'"]


def test_a_changed_or_broken_headers_file_applies_at_once(inproc: Net) -> None:
    name = unique("rehead")
    with inproc.http() as h:
        put(h, inproc, f"{name}/index.html", b"home")
    with origin(inproc, name) as h:
        assert "x-one" not in h.get("/").headers
        assert "x-one" not in h.get("/").headers  # the absence is remembered, then...
    with inproc.http() as h:
        put(h, inproc, f"{name}/_headers", b"/\n  X-One: 1\n")  # ...forgotten on a write
    with origin(inproc, name) as h:
        assert h.get("/").headers["x-one"] == "1"
    with inproc.http() as h:  # broken (as publish would refuse): ignored, never a 500
        put(h, inproc, f"{name}/_headers", b"/\n  X-One: 2\n  Set-Cookie: s=1\n")
    with origin(inproc, name) as h:
        r = h.get("/")
        assert r.status_code == 200 and "x-one" not in r.headers
        assert "set-cookie" not in r.headers

