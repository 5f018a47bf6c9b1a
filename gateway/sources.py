"""Where a site's pages come from: its keys, or one of its deploys.

A site that never made a deploy is its keys (``{site}/{path}``), read one by one as
always. A site whose ``.live/{site}`` names a deploy is served from that deploy's
manifest: a file is its entry there, a directory the manifest's paths under it, so a
page and everything it loads come from one deploy whatever is written meanwhile. Both
answer the same questions (``Source``), and site serving (``gateway.sites``) asks only
those, so every rule of serving (index, listing, 404, ``_redirects``, ``_headers``,
precompressed siblings) holds for both alike.

Which deploy: a preview origin's (``{id}.{site}.localhost``), else the one a
subresource request's cookie pins (``gateway.pinning``) while it is kept, else the live
one (the winner of ``.live/{site}``'s siblings that is kept).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Protocol

from dwp.client.network import Located, ReadResult
from dwp.core.deploys import File, Manifest
from dwp.core.messages import ListEntry
from dwp.core.token import Token
from dwp.core.version import Version
from gateway import catalog
from gateway.catalog import PAST_DIR, Directory, Entry
from gateway.context import RequestContext
from gateway.deployed import deployed
from gateway.errors import ApiError
from gateway.presence import absences


@dataclass(frozen=True)
class Found:
    """One file of a site as a read found it: the version to answer, how many siblings
    it has, where the read was answered and the reader's token after it."""

    version: Version
    siblings: int
    where: Located
    token: Token


class Source(Protocol):
    site: str
    deploy: str | None  # None: the site's keys

    async def read(self, path: str) -> Found | None:
        """The file at ``path``, None when there is none."""

    async def below(self, path: str) -> bool:
        """Some file is under ``path/``: ``path`` is a directory."""

    async def nonempty(self, prefixes: list[str]) -> list[str]:
        """The keys' prefixes (``{site}/dir/``) that hold a file."""

    async def directory(self, prefix: str, after: str) -> Directory:
        """A page of the entries right under ``prefix`` (a key ending in '/') after
        the key ``after``."""


class Keys:
    """A site as its keys."""

    deploy: str | None = None

    def __init__(self, ctx: RequestContext, site: str) -> None:
        self.site, self.pinned = site, ctx.pinned
        self.client, self.token = ctx.client, ctx.token

    async def read(self, path: str) -> Found | None:
        result = await absences(self.client).read(f"{self.site}/{path}", self.token,
                                                  self.pinned)
        if result is None:
            return None
        return Found(result.versions[0], len(result.versions), result, result.token)

    async def below(self, path: str) -> bool:
        found, _ = await self.client.list_keys(f"{self.site}/{path}/", 1)
        return bool(found)

    async def nonempty(self, prefixes: list[str]) -> list[str]:
        return await catalog.nonempty(self.client, prefixes, self.token)

    async def directory(self, prefix: str, after: str) -> Directory:
        return await catalog.directory(self.client, prefix, self.token, after)


class Deploy:
    """A site as one of its deploys; ``where`` is the read that chose it (``.live``'s,
    or the manifest's for a preview or a pinned deploy), which locates every answer and
    gives its sibling count (``.live`` in conflict: ``X-DWP-Siblings``)."""

    def __init__(self, site: str, manifest: Manifest, where: ReadResult) -> None:
        self.site, self.manifest, self.where = site, manifest, where
        self.deploy: str | None = manifest.id
        self.paths = [f.path for f in manifest.files]

    async def read(self, path: str) -> Found | None:
        found = self.manifest.file(path)
        if found is None:
            return None
        return Found(version_of(found), len(self.where.versions), self.where,
                     self.where.token)

    async def below(self, path: str) -> bool:
        return self._under(path + "/")

    async def nonempty(self, prefixes: list[str]) -> list[str]:
        skip = len(self.site) + 1
        return [p for p in prefixes if self._under(p[skip:])]

    def _under(self, prefix: str) -> bool:
        i = bisect_left(self.paths, prefix)
        return i < len(self.paths) and self.paths[i].startswith(prefix)

    async def directory(self, prefix: str, after: str,
                        limit: int = catalog.LISTING_PAGE) -> Directory:
        """As ``catalog.directory`` walks keys, over the manifest's sorted paths."""
        skip = len(self.site) + 1
        under, after = prefix[skip:], after[skip:]
        if not after:
            i = bisect_left(self.paths, under)
        elif after.endswith("/"):
            i = bisect_left(self.paths, after + PAST_DIR)
        else:
            i = bisect_right(self.paths, after)
        entries: list[Entry] = []
        while i < len(self.paths) and self.paths[i].startswith(under) and (
                len(entries) < limit):
            name, slash, _ = self.paths[i][len(under):].partition("/")
            if slash:
                entries.append(Entry(name + "/", prefix + name + "/", True))
                i = bisect_left(self.paths, under + name + "/" + PAST_DIR)
            else:
                entries.append(Entry(name, prefix + name, False,
                                     file=list_entry(self.site, self.manifest.files[i])))
                i += 1
        more = i < len(self.paths) and self.paths[i].startswith(under)
        return Directory(prefix, entries, entries[-1].key if more and entries else None)


def version_of(file: File) -> Version:
    """A deploy's file as the version it was stored as: its chunks, under no key."""
    return Version(file.content_type, file.size, file.hash, file.mtime, chunks=file.chunks)


def list_entry(site: str, file: File) -> ListEntry:
    return ListEntry(f"{site}/{file.path}", file.size, file.content_type, file.hash.hex(),
                     file.mtime, 1)


async def source_of(ctx: RequestContext, site: str, pin: str | None = None) -> Keys | Deploy:
    """What serves ``site`` to this request: the preview origin's deploy, else the
    deploy ``pin`` names while it is kept, else the live deploy, else the keys."""
    client, token, pinned = ctx.client, ctx.token, ctx.pinned
    preview = ctx.deploy
    if preview is not None:
        kept = await deployed(client).kept(site, preview, token, pinned)
        if kept is None:
            raise ApiError(404, "not found", f"{site!r} has no kept deploy {preview!r} "
                           "to preview")
        return Deploy(site, *kept)
    ids, live = await deployed(client).live(site, token, pinned)
    if live is None or not ids:  # no deploy, or no id (not written by the deploy routes)
        return Keys(ctx, site)
    if pin is not None and pin not in ids[:1]:
        kept = await deployed(client).kept(site, pin, token, pinned)
        if kept is not None:
            return Deploy(site, *kept)
    for deploy in ids:
        kept = await deployed(client).kept(site, deploy, token, pinned)
        if kept is not None:
            return Deploy(site, kept[0], live)
    raise ApiError(503, "live deploy unreadable", f"{site!r} is live at "
                   f"{', '.join(ids)}, and no replica asked holds that deploy's manifest; "
                   "retry")
