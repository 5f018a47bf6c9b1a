"""Writes need the network token: a Bearer header (scripts, the CLI) or the UI's cookie."""

from __future__ import annotations

import hmac

from fastapi import Request

from gateway.errors import ApiError
from gateway.networks import secret_of

COOKIE = "dwp_token"


async def require_token(request: Request) -> None:
    """FastAPI dependency for every route that changes data (async: FastAPI would run a
    plain function in a worker thread, a thread hop on every write for a string compare)."""
    secret: str = secret_of(request)
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if not (scheme.lower() == "bearer" and given):
        given = request.cookies.get(COOKIE, "")
    if not given:
        raise ApiError(401, "unauthorized", "this request changes data and needs the network "
                       "token: send 'Authorization: Bearer <token>' (the token is in the "
                       "file 'token' in the network's data dir)",
                       {"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(given.strip().encode(), secret.encode()):
        raise ApiError(401, "unauthorized", "the network token is wrong",
                       {"WWW-Authenticate": "Bearer"})
