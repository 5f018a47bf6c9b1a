"""The hot read path: cache hits answered before FastAPI's routing.

A GET or HEAD of a page on its site's origin (``/sites/{site}/{path}`` after
``gateway.origins.SiteHosts``) or of ``/api/v1/objects/{key}``, from a reader that sent
no token, cookie, query, range or condition, asks the client's read cache only; when it
holds the key with a small (inline) winner, the answer is the one the route would send,
byte for byte: its header list is built once per cached state by the same functions the
routes use (``gateway.responses``), token included (a reader with no past gets the same
token for the same state), and kept until the cache holds a newer state. Everything
else, and every miss, goes on to the app. This middleware sits inside the others, so
their stamps and metrics apply to both paths alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from dwp.cache import CachedRead
from dwp.client import Located, NetworkClient
from dwp.keys import InvalidKey, validate_key
from dwp.replica import live
from dwp.token import Token
from gateway.networks import ORIGIN_NETWORK, Network
from gateway.origins import ORIGIN_SITE
from gateway.responses import RAW_CSP, answer_headers, located

OBJECTS = "/api/v1/objects/"
# A request with any of these may need more than the cached winner's 200: the slow path.
DECLINE = frozenset({b"x-dwp-context", b"x-dwp-replica", b"x-dwp-network", b"cookie",
                     b"range", b"if-range", b"if-none-match", b"if-modified-since"})
MAX_PREPARED = 10_000


@dataclass(frozen=True)
class _Prepared:
    entry: CachedRead  # the cached state this answer was built from
    headers: list[tuple[bytes, bytes]]
    body: bytes


class HotReads:
    def __init__(self, app: ASGIApp, networks: Mapping[str, Network]) -> None:
        self.app = app
        self.networks = networks
        self.first = next(iter(networks))
        self._prepared: dict[tuple[str, bool, str], _Prepared] = {}
        self.served = 0  # answers given here (tests check the path was taken)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] in ("GET", "HEAD")
                and not scope.get("query_string")):
            prepared = self._lookup(scope)
            if prepared is not None:
                self.served += 1
                await send({"type": "http.response.start", "status": 200,
                            "headers": prepared.headers})
                await send({"type": "http.response.body",
                            "body": b"" if scope["method"] == "HEAD" else prepared.body})
                return
        await self.app(scope, receive, send)

    def _lookup(self, scope: Scope) -> _Prepared | None:
        """The prepared answer for this request's key, or None: not ours to answer."""
        path: str = scope["path"]
        state: dict[str, Any] = scope.get("state") or {}
        site = state.get(ORIGIN_SITE)
        if site is not None:
            prefix = f"/sites/{site}/"
            if not path.startswith(prefix) or path.endswith("/"):
                return None  # a directory: index or listing
            key, name, on_site = site + "/" + path[len(prefix):], state.get(ORIGIN_NETWORK), True
        elif path.startswith(OBJECTS):
            key, name, on_site = path[len(OBJECTS):], None, False
        else:
            return None
        if any(h in DECLINE for h, _ in scope["headers"]):
            return None
        network = self.networks.get(name or self.first)
        if network is None:
            return None
        client = network.client
        entry = client.reads.lookup(key, {})
        if entry is None:
            return None
        slot = (name or self.first, on_site, key)
        prepared = self._prepared.get(slot)
        if prepared is None or prepared.entry is not entry:
            prepared = _prepare(client, key, entry, on_site)
            if prepared is None:
                return None
            if len(self._prepared) >= MAX_PREPARED:
                self._prepared.clear()
            self._prepared[slot] = prepared
        return prepared


def _prepare(client: NetworkClient, key: str, entry: CachedRead, on_site: bool
             ) -> _Prepared | None:
    """What the route answers a reader with no token for this cached state, or None when
    that is not a plain 200 with the body at hand (no live version, a chunked body)."""
    try:
        validate_key(key)
    except InvalidKey:
        return None
    versions = live(entry.state)
    if not versions or versions[0].data is None:
        return None
    winner = versions[0]
    token = client.observe(Token(), client.shard_of_key(key), key, entry.state)
    headers = answer_headers(winner, located(client, Located(entry.shard, entry.node), token),
                             len(versions), None if on_site else RAW_CSP)
    return _Prepared(entry, Response(status_code=200, headers=headers).raw_headers,
                     winner.data)
