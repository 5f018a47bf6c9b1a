"""The networks one gateway serves, and which one a request is for.

A person can belong to several networks on one Ray cluster (each in its own Ray
namespace, with its own token). A request names its network with the header
``X-DWP-Network``, the query parameter ``network``, or the UI's ``dwp_network`` cookie;
without one it goes to the gateway's first network. On a site's origin the host names
it instead (``gateway.origins``). The UI's pages and forms follow only the header and
the cookie, which only the UI's switcher sets (a POST from its own pages): a link from
anywhere else could otherwise show one network while the forms on it write to another.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request

from dwp.client.membership import Membership
from dwp.client.network import NetworkClient
from gateway.errors import ApiError

T = TypeVar("T")

HEADER = "x-dwp-network"
NETWORK_COOKIE = "dwp_network"
# scope["state"] key set on a site's origin: the network its host names (None: the
# first). There the host alone decides, so a site's own query or cookies cannot.
ORIGIN_NETWORK = "dwp.network"


@dataclass(frozen=True)
class Network:
    client: NetworkClient
    secret: str
    membership: Membership | None = None

    @property
    def name(self) -> str:
        return self.client.view.name


def selected_name(request: Request) -> str | None:
    state = request.scope.get("state", {})
    if ORIGIN_NETWORK in state:
        named: str | None = state[ORIGIN_NETWORK]
        return named
    named = request.headers.get(HEADER)
    if named is None and not is_ui(request):
        named = request.query_params.get("network")
    return named or request.cookies.get(NETWORK_COOKIE)


def is_ui(request: Request) -> bool:
    path: str = request.url.path
    return path == "/" or path.startswith("/ui/")


def network_of(request: Request) -> Network:
    networks: dict[str, Network] = request.app.state.networks
    name = selected_name(request)
    if name is None:
        return next(iter(networks.values()))
    if name not in networks:
        raise ApiError(404, "unknown network", f"this gateway serves no network named "
                       f"{name!r}; it serves: {', '.join(networks)}")
    return networks[name]


def client_of(request: Request) -> NetworkClient:
    return network_of(request).client


def secret_of(request: Request) -> str:
    return network_of(request).secret


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
