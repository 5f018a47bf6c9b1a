"""Walking the key space for people: the sites, one directory's entries, key search.

The store lists keys in order under a prefix; directories are not stored, they are the
key prefixes that end in '/'. Each walk is capped so one request stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

from dwp.client import NetworkClient
from dwp.messages import ListEntry
from dwp.token import Token

PAGE = 1000
MAX_SITES = 500
MAX_LISTED = 5000
MAX_SCANNED = 20000
PAST_SITE = "/\U0010ffff\U0010ffff"  # sorts after every key of a site


@dataclass(frozen=True)
class Entry:
    """One row of a directory: a file, or a subdirectory with its file count."""

    name: str
    key: str
    is_dir: bool
    files: int = 0
    file: ListEntry | None = None


@dataclass(frozen=True)
class Directory:
    prefix: str
    entries: list[Entry]
    truncated: bool


async def sites(client: NetworkClient, token: Token, limit: int = MAX_SITES) -> list[str]:
    """The first key segments, found by skipping past each site (one list call each)."""
    found: list[str] = []
    cursor = ""
    while len(found) < limit:
        page, _ = await client.list("", 1, cursor, token)
        if not page:
            break
        site, slash, _ = page[0].key.partition("/")
        if not found or found[-1] != site:
            found.append(site)
        cursor = site + PAST_SITE if slash else page[0].key
    return found


async def nonempty(client: NetworkClient, prefixes: list[str], token: Token) -> list[str]:
    """The folders (prefixes ending in '/') that hold at least one live key: the ones a
    link can point to without landing on another 404."""
    return [p for p in prefixes if (await client.list(p, 1, "", token))[0]]


async def walk(client: NetworkClient, prefix: str, cap: int, token: Token
               ) -> tuple[list[ListEntry], bool]:
    """Every live key under ``prefix`` up to ``cap``, and whether more were left."""
    out: list[ListEntry] = []
    cursor: str | None = ""
    while cursor is not None and len(out) < cap:
        page, cursor = await client.list(prefix, min(PAGE, cap - len(out)), cursor, token)
        out.extend(page)
    return out, cursor is not None


async def directory(client: NetworkClient, prefix: str, token: Token) -> Directory:
    """The entries right under ``prefix`` (which ends in '/'): subdirectories first."""
    keys, truncated = await walk(client, prefix, MAX_LISTED, token)
    dirs: dict[str, int] = {}
    files: list[Entry] = []
    for e in keys:
        name, slash, _ = e.key[len(prefix):].partition("/")
        if slash:
            dirs[name] = dirs.get(name, 0) + 1
        else:
            files.append(Entry(name, e.key, False, file=e))
    entries = [Entry(n + "/", prefix + n + "/", True, files=c) for n, c in sorted(dirs.items())]
    return Directory(prefix, entries + files, truncated)


async def search(client: NetworkClient, text: str, token: Token, limit: int = 200
                 ) -> tuple[list[ListEntry], bool]:
    """Keys containing ``text`` (case-insensitive), and whether the scan stopped early."""
    needle = text.casefold()
    hits: list[ListEntry] = []
    cursor: str | None = ""
    scanned = 0
    while cursor is not None and scanned < MAX_SCANNED and len(hits) < limit:
        page, cursor = await client.list("", PAGE, cursor, token)
        scanned += len(page)
        hits.extend(e for e in page if needle in e.key.casefold())
    return hits[:limit], cursor is not None
