"""Writes need the network token: a Bearer header (scripts, the CLI) or the UI's cookie,
which counts only on a request from the UI's own pages; and a token holder can ask for a
one-time sign-in link for the UI (``gateway.signin``)."""

from __future__ import annotations

import hmac
import time

from fastapi import APIRouter, Depends, Request

from gateway import signin
from gateway.context import context_of
from gateway.errors import ApiError
from gateway.models import ErrorBody, SignInLink


def own_origin(request: Request) -> str:
    """The origin of the gateway's own pages, as this request names the gateway."""
    return f"{request.url.scheme}://{request.url.netloc}"


async def require_token(request: Request) -> None:
    """FastAPI dependency for every route that changes data (async: FastAPI would run a
    plain function in a worker thread, a thread hop on every write for a string compare).

    A browser sends the cookie with any request to the gateway's host, including one a
    page of another origin starts (a site under the same ``--site-domain`` is the same
    *site*, so even ``SameSite=Strict`` lets it through): a write the cookie authorizes
    must name the UI's own origin in ``Origin``, which browsers send with every write."""
    ctx = context_of(request)
    secret = ctx.secret
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() == "bearer" and given:
        if not hmac.compare_digest(given.strip().encode(), secret.encode()):
            raise ApiError(401, "unauthorized", "the network token is wrong",
                           {"WWW-Authenticate": "Bearer"})
        return
    if not signin.cookie_tokens(request):
        raise ApiError(401, "unauthorized", "this request changes data and needs the network "
                       "token: send 'Authorization: Bearer <token>' (the token is in the "
                       "file 'token' in the network's data dir)",
                       {"WWW-Authenticate": "Bearer"})
    if request.headers.get("origin") != own_origin(request):
        raise ApiError(403, "forbidden", "a write signed in by the UI's cookie must come "
                       f"from the UI's own pages (Origin {own_origin(request)}); scripts "
                       "send 'Authorization: Bearer <token>'")
    if not signin.holds(request, secret):
        raise ApiError(401, "unauthorized", "this browser is not signed in to network "
                       f"{ctx.network.name!r}: sign in with its token",
                       {"WWW-Authenticate": "Bearer"})


router = APIRouter(prefix="/api/v1", tags=["sign-in"])


@router.post("/sign-in", response_model=SignInLink, dependencies=[Depends(require_token)],
             responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}})
async def sign_in_link(request: Request) -> SignInLink:
    """A one-time link that signs a browser in to the UI for the request's network
    (``dwp open`` opens one): valid once, for a few minutes."""
    ctx = context_of(request)
    network = ctx.network
    code = signin.mint({network.name: network.secret}, time.time())
    return SignInLink(url=f"{own_origin(request)}/?{signin.LOGIN_PARAM}={code}",
                      expires_in=signin.LINK_SECONDS)
