"""Walking the key space for people: the sites, one directory's entries, key search.

The store lists keys in order under a prefix; directories are not stored, they are the
key prefixes that end in '/'. Each walk is capped or paged so one request stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

from dwp.client.network import NetworkClient
from dwp.core.deploys import is_reserved
from dwp.core.keys import site_of
from dwp.core.messages import ListEntry
from dwp.core.token import Token

PAGE = 1000
MAX_SITES = 500
MAX_SCANNED = 20000
MAX_SUMMED = 20000  # keys the home page adds up; sites past them show their names alone
PAST_DIR = "\U0010ffff\U0010ffff"  # after "dir/", sorts after every key under dir/
PAST_SITE = "/" + PAST_DIR  # sorts after every key of a site
LISTING_PAGE = 1000


@dataclass(frozen=True)
class Entry:
    """One row of a directory: a file, or a subdirectory."""

    name: str
    key: str
    is_dir: bool
    file: ListEntry | None = None


@dataclass(frozen=True)
class Directory:
    """One page of a directory's entries; ``after`` fetches the next page (None: last)."""

    prefix: str
    entries: list[Entry]
    after: str | None


@dataclass
class SiteSummary:
    """What the home page says of a site: its files, their bytes and the newest write.
    ``complete`` is False when the count stopped at the scan limit (the figures are then
    lower bounds, and ``updated`` unknown)."""

    name: str
    files: int = 0
    bytes: int = 0
    updated: float | None = None
    complete: bool = True


async def site_summaries(client: NetworkClient, token: Token, budget: int = MAX_SUMMED,
                         limit: int = MAX_SITES, page_size: int = PAGE) -> list[SiteSummary]:
    """Every site with its files added up, reading the key space in order for at most
    ``budget`` keys (a page per thousand); the sites after that are only named (one list
    call each), and the one it stopped in, if its keys go on, is marked incomplete."""
    found: dict[str, SiteSummary] = {}
    cursor: str | None = ""
    scanned = 0
    while cursor is not None and scanned < budget and len(found) <= limit:
        page, cursor = await client.list_keys("", page_size, cursor, token)
        scanned += len(page)
        for e in page:
            if is_reserved(e.key):
                continue  # a site's deploys, not a site
            site = found.setdefault(site_of(e.key), SiteSummary(site_of(e.key)))
            site.files += 1
            site.bytes += e.size
            site.updated = max(site.updated or e.mtime, e.mtime)
    summaries = list(found.values())[:limit]
    if cursor is not None and summaries:
        last = summaries[-1]
        following, _ = await client.list_keys("", 1, cursor, token)
        if following and site_of(following[0].key) == last.name:
            last.complete, last.updated = False, None
        rest = await sites(client, token, limit - len(summaries), last.name + PAST_SITE)
        summaries += [SiteSummary(name, complete=False) for name in rest]
    return summaries


async def sites(client: NetworkClient, token: Token, limit: int = MAX_SITES,
                cursor: str = "") -> list[str]:
    """The first key segments after ``cursor``, found by skipping past each site (one list
    call each)."""
    found: list[str] = []
    while len(found) < limit:
        page, _ = await client.list_keys("", 1, cursor, token)
        if not page:
            break
        site, slash, _ = page[0].key.partition("/")
        if (not found or found[-1] != site) and not is_reserved(page[0].key):
            found.append(site)
        cursor = site + PAST_SITE if slash else page[0].key
    return found


async def nonempty(client: NetworkClient, prefixes: list[str], token: Token) -> list[str]:
    """The folders (prefixes ending in '/') that hold at least one live key: the ones a
    link can point to without landing on another 404."""
    return [p for p in prefixes if (await client.list_keys(p, 1, "", token))[0]]


async def directory(client: NetworkClient, prefix: str, token: Token, after: str = "",
                    limit: int = LISTING_PAGE) -> Directory:
    """Up to ``limit`` entries right under ``prefix`` (which ends in '/') after the entry
    ``after``, in key order. A subdirectory costs one skip past its keys, so a page
    costs about one list call per subdirectory on it, whatever the folder's size."""
    entries: list[Entry] = []
    cursor: str | None = after + PAST_DIR if after.endswith("/") else after
    while cursor is not None and len(entries) < limit:
        page, more = await client.list_keys(prefix, min(PAGE, limit - len(entries)), cursor, token)
        cursor = more
        for e in page:
            name, slash, _ = e.key[len(prefix):].partition("/")
            if slash:
                entries.append(Entry(name + "/", prefix + name + "/", True))
                cursor = prefix + name + "/" + PAST_DIR
                break
            entries.append(Entry(name, e.key, False, file=e))
    last = entries[-1].key if entries else None
    return Directory(prefix, entries, last if cursor is not None and last else None)


async def search(client: NetworkClient, text: str, token: Token, limit: int = 200
                 ) -> tuple[list[ListEntry], bool]:
    """Keys containing ``text`` (case-insensitive), and whether the scan stopped early."""
    needle = text.casefold()
    hits: list[ListEntry] = []
    cursor: str | None = ""
    scanned = 0
    while cursor is not None and scanned < MAX_SCANNED and len(hits) < limit:
        page, cursor = await client.list_keys("", PAGE, cursor, token)
        scanned += len(page)
        hits.extend(e for e in page if needle in e.key.casefold())
    return hits[:limit], cursor is not None
