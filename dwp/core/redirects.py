"""A site's ``_redirects`` file, with the semantics of the IPFS web-redirects-file spec.

Each line is ``from to [status]``; ``#`` starts a comment line; blank lines are skipped.
``from`` is a path; a segment ``:name`` matches any one segment, and a final ``*``
matches the rest of the path as ``:splat``. ``to`` is a path or an http(s) URL where
those placeholders are substituted. The status is 301 by default; 200 rewrites (serves
``to``'s content in place, for single-page apps), 404, 410 and 451 serve ``to``'s
content with that status, and 301, 302, 303, 307 and 308 redirect. The first rule that
matches wins, and rules are consulted only for a path that does not exist. The file
holds at most 64 KiB.

Pure: ``dwp publish`` checks a file with ``parse`` before uploading it, and the gateway
matches requests with the same rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAME = "_redirects"
MAX_SIZE = 64 * 1024
REDIRECTS = frozenset({301, 302, 303, 307, 308})
SERVES = frozenset({200, 404, 410, 451})
STATUSES = REDIRECTS | SERVES
PLACEHOLDER = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")


class RedirectsError(ValueError):
    """A ``_redirects`` file that breaks a rule; the message names the line."""


@dataclass(frozen=True)
class Rule:
    line: int
    source: tuple[str, ...]  # segments of ``from``; ":name" placeholders, a final "*"
    to: str
    status: int

    def match(self, path: str) -> dict[str, str] | None:
        """The placeholders' values when ``path`` (starting with '/') matches."""
        parts = path[1:].split("/")
        found: dict[str, str] = {}
        for i, want in enumerate(self.source):
            if want == "*" and i == len(self.source) - 1:
                if i >= len(parts):
                    return None
                found["splat"] = "/".join(parts[i:])
                return found
            if i >= len(parts):
                return None
            if want.startswith(":") and parts[i]:
                found[want[1:]] = parts[i]
            elif want != parts[i]:
                return None
        return found if len(parts) == len(self.source) else None

    def target(self, values: dict[str, str]) -> str:
        """``to`` with the matched placeholders put in (unknown ones stay as written)."""
        return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), self.to)


def site_file_text(data: bytes, name: str, error: type[Exception]) -> str:
    """A site's rules file as text: at most MAX_SIZE bytes of UTF-8, else ``error``."""
    if len(data) > MAX_SIZE:
        raise error(f"{name} is {len(data)} bytes; the limit is {MAX_SIZE} (64 KiB)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{name} is not UTF-8 text (byte {exc.start})") from exc


def parse(data: bytes) -> list[Rule]:
    """The rules of a ``_redirects`` file; RedirectsError names the first bad line."""
    text = site_file_text(data, NAME, RedirectsError)
    rules = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r").strip()
        if not line or line.startswith("#"):
            continue
        rules.append(parse_line(number, line))
    return rules


def parse_line(number: int, line: str) -> Rule:
    def bad(why: str) -> RedirectsError:
        return RedirectsError(f"{NAME} line {number} ({line!r}): {why}")

    fields = line.split()
    if len(fields) < 2:
        raise bad("a rule is 'from to [status]'; this line has only one field")
    if len(fields) > 3:
        raise bad("a rule is 'from to [status]'; this line has more than three fields "
                  "(query-parameter conditions are not supported)")
    source, to = fields[0], fields[1]
    if not source.startswith("/"):
        raise bad("'from' must be a path starting with '/'")
    if "?" in source or "#" in source:
        raise bad("'from' is a path only, without a query or fragment")
    segments = tuple(source[1:].split("/"))
    if "*" in source[:-1] or (source.endswith("*") and segments[-1] != "*"):
        raise bad("'*' may only be the whole last segment of 'from' (as in /blog/*)")
    if not (to.startswith("/") or to.startswith(("http://", "https://"))):
        raise bad("'to' must be a path starting with '/' or an http:// or https:// URL")
    status = 301
    if len(fields) == 3:
        if not fields[2].isdigit() or int(fields[2]) not in STATUSES:
            raise bad(f"the status must be one of {', '.join(map(str, sorted(STATUSES)))}")
        status = int(fields[2])
    if status in SERVES and not to.startswith("/"):
        raise bad(f"status {status} serves the content of 'to', which must then be a path "
                  "of this site")
    return Rule(number, segments, to, status)


def first_match(rules: list[Rule], path: str) -> tuple[Rule, str] | None:
    """The first rule matching ``path``, and where it leads."""
    for rule in rules:
        values = rule.match(path)
        if values is not None:
            return rule, rule.target(values)
    return None
