"""The object API: raw bytes in and out of the store, with the causal token alongside."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from dwp.client.network import ReadResult
from dwp.core.clock import Dot
from dwp.core.deploys import refuse_reserved
from dwp.core.errors import NotFound
from dwp.core.history import listed, parse_version_id, readable, version_id
from dwp.core.keys import validate_key, validate_new_key, validate_prefix
from dwp.core.lineage import node_of
from dwp.core.token import Token
from gateway import restores
from gateway.auth import require_token
from gateway.content_types import content_type_for
from gateway.edits import Written, author_of, edited, live_header, put_edited
from gateway.errors import ApiError
from gateway.models import (
    ErrorBody,
    HistoryEntry,
    HistoryList,
    ObjectList,
    SiblingInfo,
    SiblingList,
    WriteReply,
)
from gateway.networks import client_of
from gateway.requests import limited_body, pinned_of, remember_context, token_of
from gateway.responses import located_headers, version_response
from gateway.routes import get_and_head

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
    refuse_reserved(validate_new_key(key))
    seen, pinned, author = token_of(request), pinned_of(request), author_of(request)
    if restore is not None or keep is not None:
        written = await write_back(request, key, restore, keep, seen, author, pinned, deploy)
    else:
        content_type = content_type_for(key, request.headers.get("content-type"))
        written = await put_edited(request, key, limited_body(request), content_type, seen,
                                   author, pinned, deploy)
    result, live, token = written.result, written.live, written.token
    v = result.version
    assert v is not None
    reply = WriteReply(key=key, size=v.size, content_type=v.content_type, hash=v.hash.hex(),
                       shard=result.shard, node=result.node)
    return remember_context(request, JSONResponse(reply.model_dump(), headers={
        **located_headers(request, result, token), **live_header(live), "ETag": v.etag}),
        token)


async def write_back(request: Request, key: str, restore: str | None, keep: str | None,
                     seen: Token, author: str, pinned: str | None, deploy: bool
                     ) -> Written:
    """A restore or a keep, refused when it names both or sends bytes it would not write."""
    if restore is not None and keep is not None:
        raise ApiError(400, "bad request", "give restore=ID or keep=HASH, not both")
    declared = request.headers.get("content-length")
    if declared not in (None, "0") or [p async for p in limited_body(request) if p]:
        raise ApiError(400, "bad request", f"a PUT with {'restore' if keep is None else 'keep'}"
                       "= writes bytes the key holds and takes no body; send a body "
                       "without it to write new bytes")
    if restore is not None:
        return await restores.restore(request, key, restore, seen, author, pinned, deploy)
    assert keep is not None
    return await restores.keep(request, key, keep, seen, author, pinned, deploy)


@router.delete("/objects/{key:path}", status_code=204, responses=ERRORS,
               dependencies=[Depends(require_token)])
async def delete_object(key: str, request: Request, deploy: DeployParam = True) -> Response:
    refuse_reserved(validate_key(key))
    seen = token_of(request)
    result = await client_of(request).delete(key, seen, pinned_of(request))
    live, token = (await edited(request, key, None, seen, result.token, author_of(request))
                   if deploy else ([], result.token))
    return remember_context(request, Response(status_code=204, headers={
        **located_headers(request, result, token), **live_header(live)}), token)


@router.get("/objects", response_model=ObjectList, responses=ERRORS)
async def list_objects(request: Request, prefix: str = "",
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                       cursor: str = "") -> ObjectList:
    """Keys under ``prefix``, in order; pass ``next_cursor`` back for the next page. With
    ``X-DWP-Context``, only replicas that have seen that past answer."""
    validate_prefix(prefix)
    entries, next_cursor = await client_of(request).list_keys(
        prefix, limit, cursor, token_of(request), pinned_of(request))
    return ObjectList(objects=entries, next_cursor=next_cursor)


def history_list(request: Request, key: str, result: ReadResult) -> HistoryList:
    base = f"/api/v1/objects/{quote(key)}?version="
    return HistoryList(key=key, limit=client_of(request).view.versions, versions=[
        HistoryEntry(version=version_id(s.dot), current=current, deleted=s.value.deleted,
                     content_type=s.value.content_type, size=s.value.size,
                     hash=s.value.hash.hex(), mtime=s.value.mtime, replica=s.dot.replica,
                     node=node_of(s.dot.replica),
                     url=None if s.value.deleted else base + quote(version_id(s.dot)))
        for s, current in listed(result.state)])


def kept_version(request: Request, key: str, result: ReadResult, wanted: Dot,
                 headers: dict[str, str]) -> Response:
    """One version the key keeps (current or replaced), as a GET of the key answers it."""
    found = readable(result.state, key, wanted)
    return version_response(request, found, {**headers, "X-DWP-Version": version_id(wanted)})


def sibling_list(key: str, result: ReadResult) -> SiblingList:
    versions = result.versions
    deleted = len(result.state.siblings) - len(versions)
    return SiblingList(key=key, deleted=deleted, siblings=[
        SiblingInfo(index=i, content_type=v.content_type, size=v.size, hash=v.hash.hex(),
                    mtime=v.mtime, url=f"/api/v1/objects/{quote(key)}?sibling={i}")
        for i, v in enumerate(versions)])


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
    validate_key(key)
    wanted = None
    if version is not None and (wanted := parse_version_id(version)) is None:
        raise ApiError(400, "bad request", f"{version!r} is not a version id (see ?history=true)")
    result = await client_of(request).get(key, token_of(request), pinned_of(request),
                                          history=history or wanted is not None)
    headers = located_headers(request, result, result.token)
    if history:
        return JSONResponse(history_list(request, key, result).model_dump(), headers=headers)
    if wanted is not None:
        return kept_version(request, key, result, wanted, headers)
    versions = result.versions
    if siblings:
        return JSONResponse(sibling_list(key, result).model_dump(), headers=headers)
    if not versions:
        raise NotFound(f"{key!r} was deleted")
    if sibling is not None and sibling >= len(versions):
        raise NotFound(f"{key!r} has {len(versions)} sibling(s); there is no #{sibling}")
    return version_response(request, versions[sibling or 0], headers,
                            siblings=len(versions))
