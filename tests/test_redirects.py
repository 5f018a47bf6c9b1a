"""The ``_redirects`` rules (IPFS web-redirects-file semantics), parsed and matched."""

from __future__ import annotations

import pytest

from dwp.core.redirects import MAX_SIZE, RedirectsError, first_match, parse

SPEC_EXAMPLE = b"""\
/redirect-one /one.html
/301-redirect-one /one.html 301
/302-redirect-two /two.html 302
/200-index /index.html 200
/posts/:year/:month/:day/:title /articles/:year/:month/:day/:title 301
/splat/* /redirected-splat/:splat 301
/not-found/* /404.html 404
/gone/* /410.html 410
/unavail/* /451.html 451
/* /index.html 200
"""


@pytest.mark.parametrize(("path", "to", "status"), [
    ("/redirect-one", "/one.html", 301),
    ("/301-redirect-one", "/one.html", 301),
    ("/302-redirect-two", "/two.html", 302),
    ("/200-index", "/index.html", 200),
    ("/posts/2022/06/15/hello", "/articles/2022/06/15/hello", 301),
    ("/splat/one/two.html", "/redirected-splat/one/two.html", 301),
    ("/not-found/x", "/404.html", 404),
    ("/gone/x", "/410.html", 410),
    ("/unavail/x/y", "/451.html", 451),
    ("/posts/2022/06/15", "/index.html", 200),  # too few segments: the catch-all
    ("/anything/else", "/index.html", 200),
])
def test_spec_example(path: str, to: str, status: int) -> None:
    match = first_match(parse(SPEC_EXAMPLE), path)
    assert match is not None
    assert (match[1], match[0].status) == (to, status)


def test_no_match_and_comments_and_crlf() -> None:
    rules = parse(b"# a comment\r\n\r\n/a /b 302\r\n  # indented comment\n/c/:x https://e.org/:x\n")
    assert [r.line for r in rules] == [3, 5]
    assert first_match(rules, "/z") is None
    assert first_match(rules, "/a/") is None
    match = first_match(rules, "/c/q")
    assert match is not None and match[1] == "https://e.org/q" and match[0].status == 301
    assert first_match(rules, "/c/") is None  # a placeholder matches a non-empty segment


@pytest.mark.parametrize(("text", "why"), [
    ("/a", "line 1 ('/a'): a rule is 'from to [status]'; this line has only one field"),
    ("/a /b 301 x=y", "more than three fields"),
    ("a /b", "'from' must be a path"),
    ("/a?x=1 /b", "without a query"),
    ("/a*/b /c", "'*' may only be the whole last segment"),
    ("/a/b* /c", "'*' may only be the whole last segment"),
    ("/a b", "'to' must be a path"),
    ("/a /b 418", "the status must be one of 200, 301, 302, 303, 307, 308, 404, 410, 451"),
    ("/a /b x", "the status must be one of"),
    ("/a https://e.org/ 200", "status 200 serves the content of 'to'"),
])
def test_bad_lines_are_named(text: str, why: str) -> None:
    with pytest.raises(RedirectsError) as caught:
        parse(b"# ok\n/fine /x\n" + text.encode())
    assert f"line 3 ({text!r})" in str(caught.value)
    assert why.split(": ", 1)[-1] in str(caught.value)


def test_size_and_encoding_limits() -> None:
    line = b"/a /b\n"
    parse(line * (MAX_SIZE // len(line)))
    with pytest.raises(RedirectsError, match="limit is 65536"):
        parse(line * (MAX_SIZE // len(line) + 1))
    with pytest.raises(RedirectsError, match="not UTF-8"):
        parse(b"/a /\xff")
