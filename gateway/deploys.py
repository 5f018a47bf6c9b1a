"""A site's deploys over HTTP: make one from the site's keys, list them, switch the live
one, remove a site (docs/architecture.md, "Deploys").

A site's keys stay its working tree (``dwp put``, the UI's editor); a deploy is an
immutable snapshot of them. The manifest names every file's chunks and is written before
the switch, so a live deploy never names what is not stored. The switch is one write of
``.live/{site}`` with the caller's context: two made from the same past become siblings,
a conflict that a switch with a context that saw both resolves.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from dwp.core import deploys
from dwp.core.deploys import Manifest
from dwp.core.token import Token
from gateway.auth import require_token
from gateway.context import RequestContext, context_of
from gateway.deployed import deployed
from gateway.errors import ApiError
from gateway.models import (
    DeployList,
    DeployMade,
    DeployRequest,
    ErrorBody,
    LiveReply,
    LiveRequest,
    SiteRemoved,
)
from gateway.responses import context_header, located
from gateway.snapshots import (
    age_out,
    bounded,
    checked,
    deleted,
    kept,
    keys_under,
    make_live,
    same,
    snapshot,
    switch,
    urls,
)

router = APIRouter(prefix="/api/v1", tags=["deploys"])
ERRORS: dict[int | str, dict[str, object]] = {
    s: {"model": ErrorBody} for s in (400, 401, 403, 404, 409, 503)}


@router.post("/sites/{site}/deploys", status_code=201, response_model=DeployMade,
             responses=ERRORS, dependencies=[Depends(require_token)])
async def make_deploy(site: str, body: DeployRequest, request: Request) -> Response:
    """Snapshot the site's keys as a deploy and (unless ``preview``) make it live in one
    write; then delete the deploys past the newest the network keeps that are not live."""
    ctx = context_of(request)
    checked(site)
    client, token = ctx.client, ctx.token
    site_deploys = deployed(client)
    was_live, _ = await site_deploys.live(site, token, ctx.pinned)
    base = await site_deploys.manifest(site, was_live[0], token) if was_live else None
    files = await snapshot(client, site, token, body.files, base)
    if not files:
        raise ApiError(404, "not found", f"site {site!r} has no files to deploy")
    if base is not None and len(was_live) == 1 and not body.preview and same(base.files, files):
        return already_live(ctx, base, token)
    manifest = Manifest(site, deploys.new_id(), client.wall_clock(), body.author, files)
    result = await client.put(deploys.deploy_key(site, manifest.id),
                              deploys.encode(manifest), deploys.MEDIA_TYPE, token,
                              refs=manifest.refs)
    now_live = was_live
    if not body.preview:
        seen = client.tokens.decode(body.live_context) if body.live_context else token
        now_live, result = await switch(client, site, manifest.id,
                                        token.with_context_of(seen), ctx.pinned)
    await age_out(client, site, result.token, set(now_live))
    url, preview = urls(ctx, site, manifest.id)
    made = DeployMade(id=manifest.id, new=True, live=manifest.id in now_live,
                      files=len(files), bytes=manifest.bytes, url=url, preview=preview,
                      conflict=now_live if len(now_live) > 1 else [])
    return ctx.remember(JSONResponse(
        made.model_dump(), status_code=201,
        headers=located(ctx.client, result, result.token)), result.token)


def already_live(ctx: RequestContext, live_one: Manifest, token: Token) -> JSONResponse:
    """The answer to a publish that changed nothing: the live deploy, not a copy of it
    (which would push a deploy worth rolling back to out of the kept ten)."""
    url, preview = urls(ctx, live_one.site, live_one.id)
    made = DeployMade(id=live_one.id, new=False, live=True, files=len(live_one.files),
                      bytes=live_one.bytes, url=url, preview=preview, conflict=[])
    return JSONResponse(made.model_dump(), headers=context_header(ctx.client, token))


@router.get("/sites/{site}/deploys", response_model=DeployList, responses=ERRORS)
async def list_deploys(site: str, request: Request) -> JSONResponse:
    """The site's kept deploys, newest first, and its live one (two or more: a conflict).
    The answer's ``X-DWP-Context`` has seen the live deploy: a switch sent with it
    replaces exactly what this list showed."""
    ctx = context_of(request)
    checked(site)
    listed, after = await kept(ctx, site, ctx.token)
    if listed is None:
        raise ApiError(404, "not found", f"site {site!r} has no deploys: `dwp publish DIR "
                       f"--site {site}` makes one")
    return JSONResponse(listed.model_dump(), headers=context_header(ctx.client, after))


@router.put("/sites/{site}/live", response_model=LiveReply, responses=ERRORS,
            dependencies=[Depends(require_token)])
async def promote(site: str, body: LiveRequest, request: Request) -> Response:
    """Make a kept deploy live: one write, whatever the site's size. Sent with a context
    that saw every sibling of a conflict, it resolves the conflict."""
    ctx = context_of(request)
    checked(site)
    now_live, result = await make_live(ctx, site, body.deploy, ctx.token)
    reply = LiveReply(site=site, live=now_live, url=urls(ctx, site, body.deploy)[0])
    return ctx.remember(JSONResponse(
        reply.model_dump(), headers=located(ctx.client, result, result.token)),
        result.token)


@router.delete("/sites/{site}", response_model=SiteRemoved, responses=ERRORS,
               dependencies=[Depends(require_token)])
async def remove_site(site: str, request: Request) -> JSONResponse:
    """Delete the site's live deploy and every key under ``{site}/`` (deletes: history
    keeps them restorable); its manifests age out as a publish's do."""
    ctx = context_of(request)
    checked(site)
    client, token = ctx.client, ctx.token
    keys = [e.key for e in await keys_under(client, f"{site}/", token)]
    had_live = bool((await deployed(client).live(site, token, ctx.pinned))[0])
    if not keys and not had_live:
        raise ApiError(404, "not found", f"there is no site {site!r}")
    await bounded(deleted(client, k, token)
                  for k in [*([deploys.live_key(site)] if had_live else []), *keys])
    await age_out(client, site, token, set())
    removed = SiteRemoved(site=site, deleted=len(keys), live=had_live)
    return JSONResponse(removed.model_dump())
