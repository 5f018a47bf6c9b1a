"""The object API: raw bytes in and out of the store, with the causal token alongside."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from dwp.client.network import ReadResult
from dwp.core.clock import Dot
from dwp.core.deploys import refuse_reserved
from dwp.core.errors import NotFound
from dwp.core.history import parse_version_id, readable, version_id
from dwp.core.keys import validate_key, validate_new_key, validate_prefix
from dwp.core.token import Token
from gateway import restores
from gateway.auth import require_token
from gateway.content_types import content_type_for
from gateway.context import RequestContext, context_of, limited_body
from gateway.edits import Written, author_of, edited, live_header, put_edited
from gateway.errors import ApiError
from gateway.models import ErrorBody, ObjectList, SiblingList, WriteReply
from gateway.responses import located, version_response
from gateway.routes import get_and_head
from gateway.versions import history_list, sibling_list

router = APIRouter(prefix="/api/v1", tags=["objects"])
ERRORS: dict[int | str, dict[str, object]] = {
    s: {"model": ErrorBody} for s in (400, 401, 404, 413, 421, 503)}


DeployParam = Annotated[bool, Query(
    description="false: write the site's key only; a publish writes its files so and "
                "then makes one deploy. Otherwise a write to a site with a live deploy "
                "makes a new deploy from it, live at once (X-DWP-Live names it)")]


RestoreParam = Annotated[str | None, Query(
    description="Make this kept version (an id as ?history=true lists it) current again, "
                "a delete included: the gateway reads the key with X-DWP-Context and "
                "writes the version's bytes and type back with that read's context. "
                "The request has no body")]
KeepParam = Annotated[str | None, Query(
    description="End a conflict: write back the sibling with this content hash (hex, as "
                "?siblings=true lists it) with X-DWP-Context, which replaces exactly the "
                "siblings that context saw. The request has no body")]


@router.put("/objects/{key:path}", response_model=WriteReply, responses=ERRORS,
            dependencies=[Depends(require_token)])
async def put_object(key: str, request: Request, deploy: DeployParam = True,
                     restore: RestoreParam = None, keep: KeepParam = None) -> Response:
    """Store the request body under ``key``, or (``restore``, ``keep``) bytes the key
    already holds; answers once it is on disk at one replica."""
    ctx = context_of(request)
    refuse_reserved(validate_new_key(key))
    seen, pinned, author = ctx.token, ctx.pinned, author_of(request)
    if restore is not None or keep is not None:
        written = await write_back(ctx, key, restore, keep, seen, author, pinned, deploy)
    else:
        content_type = content_type_for(key, request.headers.get("content-type"))
        written = await put_edited(ctx, key, limited_body(request), content_type, seen,
                                   author, pinned, deploy)
    result, live, token = written.result, written.live, written.token
    v = result.version
    assert v is not None
    reply = WriteReply(key=key, size=v.size, content_type=v.content_type, hash=v.hash.hex(),
                       shard=result.shard, node=result.node)
    return ctx.remember(JSONResponse(reply.model_dump(), headers={
        **located(ctx.client, result, token), **live_header(live), "ETag": v.etag}), token)


async def write_back(ctx: RequestContext, key: str, restore: str | None, keep: str | None,
                     seen: Token, author: str, pinned: str | None, deploy: bool
                     ) -> Written:
    """A restore or a keep, refused when it names both or sends bytes it would not write."""
    if restore is not None and keep is not None:
        raise ApiError(400, "bad request", "give restore=ID or keep=HASH, not both")
    declared = ctx.request.headers.get("content-length")
    if declared not in (None, "0") or [p async for p in limited_body(ctx.request) if p]:
        raise ApiError(400, "bad request", f"a PUT with {'restore' if keep is None else 'keep'}"
                       "= writes bytes the key holds and takes no body; send a body "
                       "without it to write new bytes")
    if restore is not None:
        return await restores.restore(ctx, key, restore, seen, author, pinned, deploy)
    assert keep is not None
    return await restores.keep(ctx, key, keep, seen, author, pinned, deploy)


@router.delete("/objects/{key:path}", status_code=204, responses=ERRORS,
               dependencies=[Depends(require_token)])
async def delete_object(key: str, request: Request, deploy: DeployParam = True) -> Response:
    ctx = context_of(request)
    refuse_reserved(validate_key(key))
    seen = ctx.token
    result = await ctx.client.delete(key, seen, ctx.pinned)
    live, token = (await edited(ctx, key, None, seen, result.token, author_of(request))
                   if deploy else ([], result.token))
    return ctx.remember(Response(status_code=204, headers={
        **located(ctx.client, result, token), **live_header(live)}), token)


@router.get("/objects", response_model=ObjectList, responses=ERRORS)
async def list_objects(request: Request, prefix: str = "",
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                       cursor: str = "") -> ObjectList:
    """Keys under ``prefix``, in order; pass ``next_cursor`` back for the next page. With
    ``X-DWP-Context``, only replicas that have seen that past answer."""
    ctx = context_of(request)
    validate_prefix(prefix)
    entries, next_cursor = await ctx.client.list_keys(prefix, limit, cursor, ctx.token,
                                                      ctx.pinned)
    return ObjectList(objects=entries, next_cursor=next_cursor)


def kept_version(ctx: RequestContext, key: str, result: ReadResult, wanted: Dot,
                 headers: dict[str, str]) -> Response:
    """One version the key keeps (current or replaced), as a GET of the key answers it."""
    found = readable(result.state, key, wanted)
    return version_response(ctx, found, {**headers, "X-DWP-Version": version_id(wanted)})


@get_and_head(router, "/objects/{key:path}", responses={
    **ERRORS, 200: {"model": SiblingList, "content": {"application/octet-stream": {}}},
    206: {"description": "The single byte range the Range header asked for"},
    304: {"description": "Not modified: If-None-Match matched the ETag"},
    416: {"description": "The Range starts past the end of the object"}})
async def get_object(key: str, request: Request, siblings: bool = False,
                     sibling: Annotated[int | None, Query(ge=0)] = None,
                     history: bool = False, version: str | None = None) -> Response:
    """The object's bytes (the deterministic winner when in conflict, counted in
    ``X-DWP-Siblings``), one sibling's bytes, or every sibling as JSON; ``history=true``
    lists the versions the key keeps (a delete among them), ``version=ID`` reads one.
    A single ``Range`` answers 206."""
    ctx = context_of(request)
    validate_key(key)
    wanted = None
    if version is not None and (wanted := parse_version_id(version)) is None:
        raise ApiError(400, "bad request", f"{version!r} is not a version id (see ?history=true)")
    client = ctx.client
    result = await client.get(key, ctx.token, ctx.pinned, history=history or wanted is not None)
    headers = located(client, result, result.token)
    if history:
        return JSONResponse(history_list(key, result, client.view.versions).model_dump(),
                            headers=headers)
    if wanted is not None:
        return kept_version(ctx, key, result, wanted, headers)
    versions = result.versions
    if siblings:
        return JSONResponse(sibling_list(key, result).model_dump(), headers=headers)
    if not versions:
        raise NotFound(f"{key!r} was deleted")
    if sibling is not None and sibling >= len(versions):
        raise NotFound(f"{key!r} has {len(versions)} sibling(s); there is no #{sibling}")
    return version_response(ctx, versions[sibling or 0], headers,
                            siblings=len(versions))
