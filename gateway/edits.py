"""An edit of one page of a deployed site goes live as a new deploy made from the live
one (docs/architecture.md, "Deploys").

A write of ``{site}/{path}`` through the object API or the UI's editor changes the site's
keys; when the site has a live deploy, the deploy made here is that one with the edited
path replaced (or, for a delete, gone), so the edit is live at once and a rollback made
before it stays rolled back. A publish writes its keys with ``?deploy=false`` and makes
one deploy after its uploads. While the site has two live deploys (a conflict), an edit
stays in the keys: it has no one deploy to build on.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterable
from dataclasses import dataclass

from fastapi import Request

from dwp.client.network import NetworkClient, WriteResult
from dwp.core import deploys
from dwp.core.deploys import Manifest
from dwp.core.labels import site_name_problem
from dwp.core.token import Token
from dwp.core.version import Version
from gateway.context import RequestContext, one_per_client
from gateway.deployed import deployed
from gateway.snapshots import age_out, chunks_of, same, snapshot_file, switch

LIVE = "X-DWP-Live"  # a site write's answer: the site's live deploys after it
MAX_AUTHOR = 200


class Edits:
    """One edit of a site at a time through this gateway, each reading the switch the
    one before made (the read cache may still hold the older live deploy for a second)."""

    def __init__(self, client: NetworkClient) -> None:
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.seen: dict[str, Token] = {}


edits = one_per_client(Edits)


def site_of(key: str) -> str | None:
    """The site ``key`` is a page of: its first segment, when that is a site name."""
    site, slash, _ = key.partition("/")
    return site if slash and not site_name_problem(site) else None


def author_of(request: Request) -> str:
    """Who made an edit, as the caller names itself in ``X-DWP-Author`` (``dwp`` sends
    ``user@host``, as a publish does)."""
    return request.headers.get("x-dwp-author", "").strip()[:MAX_AUTHOR]


def live_header(live: list[str]) -> dict[str, str]:
    return {LIVE: " ".join(live)} if live else {}


async def edited(ctx: RequestContext, key: str, version: Version | None, seen: Token,
                 written: Token, author: str) -> tuple[list[str], Token]:
    """After a write of ``key`` (``version`` None: a delete) by a caller whose token was
    ``seen`` before it and ``written`` after: the site's live deploys once the edit is
    live, and the caller's token after that, still holding ``key``'s context."""
    site = site_of(key)
    if site is None:
        return [], written
    live, switched = await redeploy(ctx.client, site, key[len(site) + 1:], version,
                                    seen, author)
    return live, written if switched is None else switched.with_context_of(written)


@dataclass(frozen=True)
class Written:
    """A write through the object API: what the replica answered, the site's live deploys
    after it (empty unless it changed a deployed site), and the caller's token after all."""

    result: WriteResult
    live: list[str]
    token: Token


async def put_edited(ctx: RequestContext, key: str, body: bytes | AsyncIterable[bytes],
                     content_type: str, seen: Token, author: str, pinned: str | None,
                     deploy: bool) -> Written:
    """Write ``key`` and, unless ``deploy`` is off, make the edit live (``edited``)."""
    result = await ctx.client.put(key, body, content_type, seen, pinned)
    if not deploy:
        return Written(result, [], result.token)
    live, token = await edited(ctx, key, result.version, seen, result.token, author)
    return Written(result, live, token)


async def redeploy(client: NetworkClient, site: str, path: str, version: Version | None,
                   seen: Token, author: str) -> tuple[list[str], Token | None]:
    """Make the site's live deploy with ``path`` changed to ``version`` (None: deleted) a
    new deploy and switch to it: the live deploys after, and the token after the switch
    (None: no switch, as when the site has no live deploy, or two). ``seen`` is the
    caller's past before its write, so a plain writer of a site with no deploys pays no
    replica read for ``.live`` (``gateway.presence``), and writers of such a site never
    wait for one another. A pin of the write to a replica is the key's, not the
    switch's: ``.live`` is in another shard."""
    state, site_deploys = edits(client), deployed(client)
    if site not in state.seen and not (await site_deploys.live(site, seen))[0]:
        return [], None
    async with state.locks[site]:
        past = seen.with_context_of(state.seen[site]) if site in state.seen else seen
        was_live, found = await site_deploys.live(site, past)
        base = (await site_deploys.manifest(site, was_live[0], past)
                if len(was_live) == 1 else None)
        if base is None or found is None:
            return was_live, None
        files = {f.path: f for f in base.files}
        if version is None:
            files.pop(path, None)
        else:
            files[path] = await snapshot_file(client, path, version, chunks_of(base))
        edited_files = tuple(sorted(files.values(), key=lambda f: f.path))
        if same(base.files, edited_files):
            return was_live, None
        manifest = Manifest(site, deploys.new_id(), client.wall_clock(), author,
                            edited_files)
        await client.put(deploys.deploy_key(site, manifest.id), deploys.encode(manifest),
                         deploys.MEDIA_TYPE, past, refs=manifest.refs)
        now_live, result = await switch(client, site, manifest.id, found.token, None)
        await age_out(client, site, result.token, set(now_live))
        state.seen[site] = result.token
    return now_live, result.token
