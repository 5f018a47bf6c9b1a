"""What a deploy does over the network, for the deploy API, the UI's forms and edits:
snapshot a site's keys as files, switch its live deploy, age out old ones, list the kept.

The routes are in ``gateway.deploys``; nothing here answers a request itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterable
from typing import TypeVar
from urllib.parse import quote

from dwp.client.network import NetworkClient, WriteResult
from dwp.core import deploys
from dwp.core.deploys import File, Manifest
from dwp.core.errors import NotFound
from dwp.core.labels import site_name_problem
from dwp.core.messages import ListEntry
from dwp.core.replica import live
from dwp.core.token import Token
from dwp.core.version import Version
from gateway.auth import own_origin
from gateway.context import RequestContext
from gateway.deployed import deployed
from gateway.errors import ApiError
from gateway.models import DeployInfo, DeployList
from gateway.origins import origin_of

AT_ONCE = 32  # key reads or writes in flight for one request
PAGE = 1000
T = TypeVar("T")


def checked(site: str) -> str:
    """A site name as ``dwp publish`` takes it; 400 naming the rule otherwise."""
    problem = ("a site name is one non-empty key segment, without '/'"
               if not site or "/" in site else site_name_problem(site))
    if problem:
        raise ApiError(400, "bad site name", problem)
    return site


async def bounded(work: Iterable[Awaitable[T]]) -> list[T]:
    """Every awaitable's result in order, ``AT_ONCE`` running at a time."""
    slots = asyncio.Semaphore(AT_ONCE)

    async def one(step: Awaitable[T]) -> T:
        async with slots:
            return await step
    return list(await asyncio.gather(*(one(w) for w in work)))


async def keys_under(client: NetworkClient, prefix: str, token: Token) -> list[ListEntry]:
    """Every listing entry under ``prefix``, in key order."""
    entries: list[ListEntry] = []
    cursor: str | None = ""
    while cursor is not None:
        page, cursor = await client.list_keys(prefix, PAGE, cursor, token)
        entries += page
    return entries


def urls(ctx: RequestContext, site: str, deploy: str) -> tuple[str, str | None]:
    """The site's URL, and the deploy's preview origin (``{id}.{site}.localhost``); a
    gateway with no site origins for this client has the path URL and no preview."""
    origin = origin_of(ctx, site)
    if origin is None:
        return f"{own_origin(ctx.request)}/sites/{quote(site, safe='')}/", None
    scheme, _, host = origin.partition("://")
    return origin + "/", f"{scheme}://{deploy}.{host}/"


async def winner(client: NetworkClient, key: str, token: Token) -> Version | None:
    try:
        return (await client.get(key, token)).winner
    except NotFound:
        return None  # deleted since the listing


async def deleted(client: NetworkClient, key: str, token: Token) -> None:
    """Delete ``key``; one deleted meanwhile is as good."""
    with contextlib.suppress(NotFound):
        await client.delete(key, token)


async def snapshot_file(client: NetworkClient, path: str, version: Version,
                        known: dict[bytes, tuple[bytes, ...]]) -> File:
    """One file of a deploy, as chunks: those of the same content in ``known`` (the live
    deploy's), a chunked version's own, or the inline body stored as chunks."""
    chunks = (known.get(version.hash) or version.chunks
              or (await client.store_chunks(version.data or b"")).chunks)
    return File(path, version.size, version.hash, version.content_type, version.mtime,
                tuple(chunks or ()))


def chunks_of(manifest: Manifest | None) -> dict[bytes, tuple[bytes, ...]]:
    """The chunks of each content a deploy holds, by content hash."""
    return {f.hash: f.chunks for f in manifest.files} if manifest else {}


async def snapshot(client: NetworkClient, site: str, token: Token,
                   expected: dict[str, str] | None, base: Manifest | None
                   ) -> tuple[File, ...]:
    """The site's files as its keys stand; 409 when a path ``expected`` names holds
    another content (written meanwhile) or none. A key whose listed winner has content
    the live deploy holds is taken from the listing; only the others are read."""
    prefix = f"{site}/"
    known = chunks_of(base)

    async def file_of(entry: ListEntry) -> File | None:
        path, digest = entry.key[len(prefix):], bytes.fromhex(entry.hash)
        if digest in known:
            return File(path, entry.size, digest, entry.content_type, entry.mtime,
                        known[digest])
        version = await winner(client, entry.key, token)
        return None if version is None else await snapshot_file(client, path, version, known)
    files = sorted((f for f in await bounded(map(file_of, await keys_under(
        client, prefix, token))) if f is not None), key=lambda f: f.path)
    found = {f.path: f for f in files}
    for path, wanted in sorted((expected or {}).items()):
        there = found.get(path)
        if there is None or there.hash.hex() != wanted.lower():
            now = "was deleted" if there is None else "holds other content"
            raise ApiError(409, "changed meanwhile", f"{prefix}{path} {now} than this "
                           "publish uploaded (someone wrote it meanwhile): publish again")
    return tuple(files)


async def age_out(client: NetworkClient, site: str, token: Token, keep_live: set[str]
                  ) -> list[str]:
    """Delete the site's manifests past the newest ``keep_deploys`` of the network's view
    (ordinary deletes: history keeps them restorable), never a live one; the ids deleted."""
    made = [(e.key.rsplit("/", 1)[1], e.mtime)
            for e in await keys_under(client, deploys.deploys_prefix(site), token)]
    gone = deploys.aged_out(made, keep_live, client.view.keep_deploys)
    await bounded(deleted(client, deploys.deploy_key(site, d), token) for d in gone)
    return gone


async def switch(client: NetworkClient, site: str, deploy: str, token: Token,
                 pinned: str | None) -> tuple[list[str], WriteResult]:
    """Write ``.live/{site}`` naming ``deploy``: the live ids after it, and the write."""
    result = await client.put(deploys.live_key(site), deploy.encode(), "text/plain", token,
                              pinned)
    return deploys.live_ids([v.data for v in live(result.state)]), result


def same(kept: tuple[File, ...], found: tuple[File, ...]) -> bool:
    """Two snapshots serve the same bytes at the same paths, typed the same."""
    return ([(f.path, f.hash, f.content_type) for f in kept]
            == [(f.path, f.hash, f.content_type) for f in found])


async def kept(ctx: RequestContext, site: str, token: Token) -> tuple[DeployList | None, Token]:
    """The site's kept deploys, newest first (None: it has none), and the reader's token
    once it has seen the live one (a switch sent with it replaces what this showed)."""
    client = ctx.client
    site_deploys = deployed(client)
    now_live, found = await site_deploys.live(site, token, ctx.pinned)
    ids = [e.key.rsplit("/", 1)[1]
           for e in await keys_under(client, deploys.deploys_prefix(site), token)]
    manifests = [m for m in await bounded(site_deploys.manifest(site, d, token) for d in ids)
                 if m is not None]
    after = found.token if found is not None else token
    if not manifests and not now_live:
        return None, after
    return DeployList(site=site, live=now_live, limit=client.view.keep_deploys, deploys=[
        DeployInfo(id=m.id, created=m.created, author=m.author, files=len(m.files),
                   bytes=m.bytes, live=m.id in now_live, preview=urls(ctx, site, m.id)[1])
        for m in sorted(manifests, key=lambda m: (m.created, m.id), reverse=True)]), after


async def make_live(ctx: RequestContext, site: str, deploy: str, token: Token
                    ) -> tuple[list[str], WriteResult]:
    """Switch to the kept deploy ``deploy`` (404 when the site keeps none of that id)."""
    if not deploys.is_id(deploy) or await deployed(ctx.client).manifest(
            site, deploy, token, ctx.pinned) is None:
        raise ApiError(404, "not found", f"site {site!r} keeps no deploy {deploy!r}: "
                       f"`dwp site deploys {site}` lists the ones it keeps")
    return await switch(ctx.client, site, deploy, token, ctx.pinned)
