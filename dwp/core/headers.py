"""A site's ``_headers`` file, in the format Netlify and Cloudflare Pages read.

A line starting at the margin is a path pattern; the indented lines below it are the
headers its responses get, ``Name: value``, or ``! Name`` to remove a header an earlier
matching rule set. ``#`` starts a comment line; blank lines are skipped. In a pattern,
``*`` matches any run of characters (``/`` included) and a whole segment ``:name``
matches one segment; the value of a header may name ``:name`` (and ``:splat``, what the
first ``*`` matched) to put the matched text in. Every rule whose pattern matches a path
applies, in file order; a header set by two rules gets both values, joined by ``, ``.

Some headers are refused, because the gateway owns them or because a site setting them
would break the isolation between sites and the gateway's UI (path-style pages share
the UI's origin): cookies, clearing the origin's data, the transport's and the body's
framing, the gateway's own ``X-DWP-*``, a credentialed CORS grant, and loosening
``X-Content-Type-Options``. A site's ``Content-Security-Policy`` is sent as a policy of
its own beside the gateway's, which browsers both enforce: it can only tighten.

Pure: ``dwp publish`` checks a file with ``parse`` before uploading it, and the gateway
answers with the same rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from dwp.core import redirects
from dwp.core.redirects import site_file_text

NAME = "_headers"
MAX_SIZE = redirects.MAX_SIZE
MAX_LINE = 2000  # Cloudflare Pages' limit for one line
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # a header name (RFC 9110 token)
PLACEHOLDER = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")
ADDED_AS_OWN_FIELD = frozenset({"content-security-policy",
                                "content-security-policy-report-only"})

_FRAMING = "the gateway frames the body and the connection itself"
_OWNED = "the gateway sets it from the stored file"
REFUSED = {
    "set-cookie": "a site may not set cookies: its path-style pages share the gateway "
                  "UI's origin, whose sign-in cookie it must not touch",
    "set-cookie2": "a site may not set cookies",
    "clear-site-data": "it would clear the gateway UI's cookies and storage from a "
                       "path-style page",
    "access-control-allow-credentials": "it would let other origins read the gateway's "
                                        "answers with the user's cookies",
    "strict-transport-security": "the gateway decides the transport",
    "alt-svc": "the gateway decides the transport",
    **{name: f"a hop-by-hop header: {_FRAMING}" for name in (
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
        "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade")},
    "content-length": _FRAMING, "content-encoding": "the gateway sets it when it serves "
                                                    "a stored .br or .gz sibling",
    "content-range": _OWNED, "accept-ranges": _OWNED, "etag": _OWNED,
    "last-modified": _OWNED, "vary": "the gateway sets it (Accept-Encoding)",
    "content-type": "the gateway types every file by its name, one way for every upload",
}
URL_SAFE = "/:@!$&'()*+,;=-._~"  # what a matched path keeps unescaped in a value
NOSNIFF = "nosniff"  # the one value of X-Content-Type-Options the gateway sends


class HeadersError(ValueError):
    """A ``_headers`` file that breaks a rule; the message names the line."""


@dataclass(frozen=True)
class Rule:
    line: int
    pattern: str
    regex: re.Pattern[str]
    names: tuple[str, ...]  # the placeholders, in order; "splat" for the first '*'
    headers: tuple[tuple[str, str | None], ...]  # (name, value); None: '! name' removes

    def match(self, path: str) -> dict[str, str] | None:
        found = self.regex.fullmatch(path)
        if found is None:
            return None
        return {name: quote(value, safe=URL_SAFE)
                for name, value in zip(self.names, found.groups(), strict=True) if name}


def parse(data: bytes) -> list[Rule]:
    """The rules of a ``_headers`` file; HeadersError names the first bad line."""
    text = site_file_text(data, NAME, HeadersError)
    rules: list[Rule] = []
    pattern: tuple[int, str] | None = None
    headers: list[tuple[str, str | None]] = []

    def close() -> None:
        if pattern is None:
            return
        if not headers:
            raise _bad(*pattern, "a path needs at least one indented header line below it")
        rules.append(_rule(*pattern, tuple(headers)))

    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        if len(line) > MAX_LINE:
            raise _bad(number, line[:60] + "...", f"a line holds at most {MAX_LINE} "
                                                   "characters")
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line[0] in " \t":
            if pattern is None:
                raise _bad(number, line, "a header line must be indented below a path")
            headers.append(_header(number, line, stripped))
            continue
        close()
        pattern, headers = (number, stripped), []
        _check_pattern(number, stripped)
    close()
    return rules


def _bad(number: int, line: str, why: str) -> HeadersError:
    return HeadersError(f"{NAME} line {number} ({line.strip()!r}): {why}")


def _check_pattern(number: int, pattern: str) -> None:
    if pattern.startswith(("http://", "https://", "//")):
        raise _bad(number, pattern, "a pattern is a path starting with '/': the gateway "
                                    "serves each site at its own origin")
    if not pattern.startswith("/"):
        raise _bad(number, pattern, "a path starts with '/'; header lines are indented "
                                    "below their path")
    if any(c.isspace() for c in pattern):
        raise _bad(number, pattern, "a path has no spaces (write %20)")
    if "?" in pattern or "#" in pattern:
        raise _bad(number, pattern, "a pattern is a path only, without a query or fragment")
    for segment in pattern[1:].split("/"):
        if ":" in segment and not PLACEHOLDER.fullmatch(segment):
            raise _bad(number, pattern, f"a placeholder is a whole segment ':name'; "
                                        f"{segment!r} is not")


def _header(number: int, line: str, stripped: str) -> tuple[str, str | None]:
    if stripped.startswith("!"):
        name = stripped[1:].strip()
        if not TOKEN.fullmatch(name):
            raise _bad(number, line, "'! Name' removes a header; the name is not valid")
        _check_name(number, line, name.lower())
        return name, None
    name, colon, value = stripped.partition(":")
    name, value = name.strip(), value.strip()
    if not colon:
        raise _bad(number, line, "a header line is 'Name: value' (or '! Name')")
    if not TOKEN.fullmatch(name):
        raise _bad(number, line, f"{name!r} is not a header name (letters, digits, '-')")
    if not value:
        raise _bad(number, line, "a header needs a value ('! Name' removes one)")
    if not value.isascii() or any((ord(c) < 32 and c != "\t") or ord(c) == 127
                                  for c in value):
        raise _bad(number, line, "a header value is ASCII text without control characters")
    lower = name.lower()
    _check_name(number, line, lower)
    if lower == "x-content-type-options" and value.lower() != NOSNIFF:
        raise _bad(number, line, "the gateway sends X-Content-Type-Options: nosniff on "
                                 "every answer; no other value is allowed")
    return name, value


def _check_name(number: int, line: str, lower: str) -> None:
    if lower.startswith("x-dwp-"):
        raise _bad(number, line, "X-DWP-* headers are the gateway's own")
    if lower in REFUSED:
        raise _bad(number, line, f"{lower} is refused: {REFUSED[lower]}")
    if lower == "x-content-type-options" and line.lstrip().startswith("!"):
        raise _bad(number, line, "the gateway sends X-Content-Type-Options: nosniff on "
                                 "every answer; it cannot be removed")


def _rule(number: int, pattern: str, headers: tuple[tuple[str, str | None], ...]) -> Rule:
    """The pattern as a regular expression: '*' any run, ':name' one segment."""
    parts, names = [], []
    for piece in re.split(r"(\*|(?<=/):[A-Za-z_][A-Za-z0-9_]*(?=/|$))", pattern):
        if piece == "*":
            parts.append("(.*)")
            names.append("splat" if "splat" not in names else "")
        elif piece.startswith(":") and PLACEHOLDER.fullmatch(piece):
            parts.append("([^/]+)")
            names.append(piece[1:])
        else:
            parts.append(re.escape(piece))
    return Rule(number, pattern, re.compile("".join(parts)), tuple(names), headers)


def fill(value: str, values: dict[str, str]) -> str:
    """``value`` with the matched placeholders put in (unknown ones stay as written)."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), value)


def headers_for(rules: list[Rule], path: str) -> list[tuple[str, str]]:
    """The headers every rule matching ``path`` (starting with '/') gives, in file
    order: a header two rules set has both values joined; '! Name' removes what earlier
    rules set."""
    found: dict[str, tuple[str, list[str]]] = {}
    for rule in rules:
        values = rule.match(path)
        if values is None:
            continue
        for name, value in rule.headers:
            lower = name.lower()
            if value is None:
                found.pop(lower, None)
                continue
            found.setdefault(lower, (name, []))[1].append(fill(value, values))
    return [(name, ", ".join(values)) for name, values in found.values()]
