"""What a request carries besides its body's meaning: the caller's causal token, the
replica it pins, its body within the upload limit; and the UI's context cookie a write
answers with."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request, Response

from dwp.core.token import Token, TokenError
from gateway import signin
from gateway.contexts import contexts_of
from gateway.errors import ApiError
from gateway.networks import client_of

CONTEXT_COOKIE = "dwp_context"


def token_of(request: Request) -> Token:
    """The client's causal past: the X-DWP-Context header (refused if invalid), else the
    token the UI's context cookie names (none if unknown or stale, e.g. another network's)."""
    tokens = client_of(request).tokens
    header = request.headers.get("x-dwp-context")
    if header is not None:
        return tokens.decode(header)
    try:
        return tokens.decode(contexts_of(request).get(request.cookies.get(CONTEXT_COOKIE)))
    except TokenError:
        return Token()


def remember_context(request: Request, response: Response, token: Token) -> Response:
    """A write by the UI (cookie, not Bearer) keeps its context in the gateway and its id
    in a cookie, so the pages the user opens next read what they just wrote."""
    if "authorization" not in request.headers and signin.TOKEN_COOKIE in request.cookies:
        cookie_id = contexts_of(request).keep(request.cookies.get(CONTEXT_COOKIE),
                                              client_of(request).tokens.encode(token))
        response.set_cookie(CONTEXT_COOKIE, cookie_id, httponly=True, samesite="strict",
                            path="/")
    return response


def pinned_of(request: Request) -> str | None:
    return request.headers.get("x-dwp-replica") or None


async def limited_body(request: Request) -> AsyncIterator[bytes]:
    """The request body, refused with 413 as soon as it passes the configured limit."""
    limit: int = request.app.state.settings.max_upload
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "bad request", "the Content-Length header is not a number")
        if int(declared) > limit:
            raise ApiError(413, "too large", f"the body is over the limit of {limit} bytes")
    total = 0
    async for piece in request.stream():
        total += len(piece)
        if total > limit:
            raise ApiError(413, "too large", f"the body is over the limit of {limit} bytes")
        yield piece
