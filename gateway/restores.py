"""Two writes of bytes a key already holds, written once for the object API
(``PUT /api/v1/objects/{key}?restore=ID`` and ``?keep=HASH``), the UI's forms and so
the CLI: make a kept version current again, and end a conflict by keeping one sibling.

Each reads the key with the caller's past, finds what to write back, and writes it as an
edit (a page of a deployed site goes live as a deploy, ``gateway.edits``). The context
each write carries is the state read: a restore reads the key now and supersedes
whatever is current (a delete included); a keep writes with the caller's context, which
saw the siblings it chose among, so it replaces exactly those (one written since stays).
"""

from __future__ import annotations

from dwp.core.errors import NotFound
from dwp.core.history import parse_version_id, readable
from dwp.core.token import Token
from dwp.core.version import HASH_BYTES, Version
from gateway.content_types import served
from gateway.context import RequestContext
from gateway.edits import Written, put_edited
from gateway.errors import ApiError

HEX = frozenset("0123456789abcdef")


async def restore(ctx: RequestContext, key: str, given: str, seen: Token, author: str,
                  pinned: str | None = None, deploy: bool = True) -> Written:
    """Make version ``given`` (an id as the key's history lists it) current again."""
    wanted = parse_version_id(given)
    if wanted is None:
        raise ApiError(400, "bad request",
                       f"{given!r} is not a version id (the key's ?history=true lists them)")
    result = await ctx.client.get(key, seen, pinned, history=True)
    found = readable(result.state, key, wanted, "; its history lists those it keeps",
                     "; restore a version before it")
    return await _write_back(ctx, key, found, result.token, author, pinned, deploy)


async def keep(ctx: RequestContext, key: str, wanted: str, seen: Token, author: str,
               pinned: str | None = None, deploy: bool = True) -> Written:
    """Keep the sibling whose content hash is ``wanted`` (hex, as ``?siblings=true``
    lists it), replacing the siblings ``seen`` saw."""
    if len(wanted) != 2 * HASH_BYTES or not set(wanted) <= HEX:
        raise ApiError(400, "bad request", f"{wanted[:80]!r} is not a content hash ("
                       f"{2 * HASH_BYTES} lower-case hex digits, as the key's "
                       "?siblings=true lists them)")
    result = await ctx.client.get(key, seen, pinned)
    chosen = next((v for v in result.versions if v.hash.hex() == wanted), None)
    if chosen is None:
        raise NotFound(f"{key!r} has no sibling with hash {wanted[:16]}; read its "
                       "siblings again")
    return await _write_back(ctx, key, chosen, seen, author, pinned, deploy)


async def _write_back(ctx: RequestContext, key: str, version: Version, context: Token,
                      author: str, pinned: str | None, deploy: bool) -> Written:
    return await put_edited(ctx, key, ctx.client.body(version),
                            served(version.content_type), context, author, pinned, deploy)
