"""One request's context, resolved once however many modules ask: the network it is
for (and that network's client and token), the caller's causal token, the replica it
pins, and the site (and preview deploy) whose origin it arrived on.

A person can belong to several networks on one Ray cluster (each in its own Ray
namespace, with its own token). A request names its network with the header
``X-DWP-Network``, the query parameter ``network``, or the UI's ``dwp_network`` cookie;
without one it goes to the gateway's first network. On a site's origin the host names
it instead (``gateway.origins``). The UI's pages and forms follow only the header and
the cookie, which only the UI's switcher sets (a POST from its own pages): a link from
anywhere else could otherwise show one network while the forms on it write to another.

A route calls ``context_of(request)`` and hands the ``RequestContext`` down to the
helpers it calls; the request's scope keeps it, so anything holding only the request
(a dependency such as ``gateway.auth.require_token``) gets the same one. Each part is
resolved on first use: a route that never reads the token never refuses a bad one, and
an error keeps the order the route meets it in. It is not a FastAPI dependency: solving
one costs more per request than the lookups it saves on an object's GET.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from fastapi import Request, Response

from dwp.client.membership import Membership
from dwp.client.network import NetworkClient
from dwp.core.token import Token, TokenError
from gateway import signin
from gateway.errors import ApiError
from gateway.ui_contexts import contexts_of

T = TypeVar("T")

HEADER = "x-dwp-network"
NETWORK_COOKIE = "dwp_network"
CONTEXT_COOKIE = "dwp_context"
# scope["state"] keys ``gateway.origins.SiteHosts`` sets on a site's origin: the network
# its host names (None: the first; there the host alone decides, so a site's own query or
# cookies cannot), the site, and the deploy a preview origin serves.
ORIGIN_NETWORK = "dwp.network"
ORIGIN_SITE = "dwp.site"
ORIGIN_DEPLOY = "dwp.deploy"
KEPT = "dwp.context"  # scope["state"] key: the request's RequestContext


@dataclass(frozen=True)
class Network:
    """One network the gateway serves: its client, its token, and its membership (None:
    this gateway cannot change it)."""

    client: NetworkClient
    secret: str
    membership: Membership | None = None

    @property
    def name(self) -> str:
        return self.client.view.name


def selected_name(request: Request) -> str | None:
    """The network the request names: its origin's host, else the header, the query
    (never on the UI) or the UI's cookie; None for the first."""
    state = request.scope.get("state", {})
    if ORIGIN_NETWORK in state:
        named: str | None = state[ORIGIN_NETWORK]
        return named
    named = request.headers.get(HEADER)
    if named is None and not is_ui(request):
        named = request.query_params.get("network")
    return named or request.cookies.get(NETWORK_COOKIE)


def remember_network(response: Response, name: str) -> Response:
    """Make ``name`` the UI's network (only a sign-in or the switcher, POSTs, call it)."""
    response.set_cookie(NETWORK_COOKIE, name, httponly=True, samesite="strict", path="/")
    return response


def is_ui(request: Request) -> bool:
    path: str = request.url.path
    return path == "/" or path.startswith("/ui/")


def network_named(networks: dict[str, Network], name: str | None) -> Network:
    """The network ``name`` selects (None: the first), a 404 for one not served."""
    if name is None:
        return next(iter(networks.values()))
    if name not in networks:
        raise ApiError(404, "unknown network", f"this gateway serves no network named "
                       f"{name!r}; it serves: {', '.join(networks)}")
    return networks[name]


def resolve_network(request: Request) -> Network:
    return network_named(request.app.state.networks, selected_name(request))


def resolve_token(request: Request, client: NetworkClient) -> Token:
    """The client's causal past: the X-DWP-Context header (refused if invalid), else the
    token the UI's context cookie names (none if unknown or stale, e.g. another network's)."""
    header = request.headers.get("x-dwp-context")
    if header is not None:
        return client.tokens.decode(header)
    try:
        return client.tokens.decode(contexts_of(request).get(request.cookies.get(CONTEXT_COOKIE)))
    except TokenError:
        return Token()


class RequestContext:
    """What one request is for; the scope's state holds it, so every module asks this one.
    It holds the request weakly: the request holds the scope, and a cycle through it would
    keep every request's scope for the cyclic garbage collector to find."""

    def __init__(self, request: Request) -> None:
        self._request = weakref.ref(request)
        state = request.scope.get("state", {})
        self.site: str | None = state.get(ORIGIN_SITE)  # None: the UI/API host
        self.deploy: str | None = state.get(ORIGIN_DEPLOY)  # a preview origin's deploy
        self.pinned: str | None = request.headers.get("x-dwp-replica") or None

    @property
    def request(self) -> Request:
        request = self._request()
        assert request is not None, "a request's context is asked after its request"
        return request

    @cached_property
    def network(self) -> Network:
        return resolve_network(self.request)

    @property
    def client(self) -> NetworkClient:
        return self.network.client

    @property
    def secret(self) -> str:
        return self.network.secret

    @cached_property
    def token(self) -> Token:
        return resolve_token(self.request, self.client)

    def remember(self, response: Response, token: Token) -> Response:
        """A write by the UI (cookie, not Bearer) keeps its context in the gateway and its
        id in a cookie, so the pages the user opens next read what they just wrote."""
        request = self.request
        if "authorization" not in request.headers and signin.TOKEN_COOKIE in request.cookies:
            cookie_id = contexts_of(request).keep(request.cookies.get(CONTEXT_COOKIE),
                                                  self.client.tokens.encode(token))
            response.set_cookie(CONTEXT_COOKIE, cookie_id, httponly=True, samesite="strict",
                                path="/")
        return response


def context_of(request: Request) -> RequestContext:
    """The request's one context, made on the first ask."""
    state = request.scope.setdefault("state", {})
    found: RequestContext | None = state.get(KEPT)
    if found is None:
        found = state[KEPT] = RequestContext(request)
    elif found._request() is None:  # another Request of the same scope, made later
        found._request = weakref.ref(request)
    return found


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


def one_per_client(make: Callable[[NetworkClient], T]) -> Callable[[NetworkClient], T]:
    """A lookup giving each client its one ``make(client)``, shared by the routes and the
    hot path, and dropped with the client."""
    made: weakref.WeakKeyDictionary[NetworkClient, T] = weakref.WeakKeyDictionary()

    def of(client: NetworkClient) -> T:
        found = made.get(client)
        if found is None:
            found = made[client] = make(client)
        return found
    return of
