"""The hot read path: cache hits answered before any other layer of the gateway.

A GET or HEAD of a page (or a directory's ``index.html``) on its site's origin or of
``/api/v1/objects/{key}``, from a reader that sent no token, cookie, query, range or
condition other than If-None-Match, asks the client's read cache only; when it holds
the key with a small (inline) winner (and, on a site's origin, the site is known to
have no live deploy and no ``_headers``, and the file no ``.br``/``.gz`` sibling:
``gateway.presence``; a preview origin always goes on),
the answer (200, or 304 when the ETag matches) is the one the app would send, byte
for byte: its header lists are built once per cached state by the functions the
routes use (``gateway.responses``), token included (a reader with no past gets the
same token for the same state), with the stamp ``gateway.identity`` adds, and it is
counted in the metrics as the app counts it.
Everything else, and every miss, goes on to the app, whose layers then do their own
work: this one sits outside them (inside Starlette's error handler), so a hit costs no
routing and no middleware. What those layers decide for a hit is decided here the same
way: whether the gateway answers for the Host at all (``gateway.hosts``; one Host
header only), the site a host names (``gateway.origins.site_of_host``), and the raw path
check (``gateway.paths``), which a path without escapes passes exactly when its key is
valid.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from dwp.client.cache import CachedRead
from dwp.client.network import Located, NetworkClient
from dwp.core import deploys, headers
from dwp.core.keys import InvalidKey, validate_key
from dwp.core.replica import live
from dwp.core.token import Token, TokenError
from gateway import encodings, identity, metrics
from gateway.context import Network
from gateway.hosts import HostRule, local_address
from gateway.origins import NoSuchSite, domains, site_of_host
from gateway.presence import absences
from gateway.responses import RAW_CSP, answer_headers, etag_matches, located

OBJECTS = "/api/v1/objects/"
# A request with any of these may need more than the cached winner's 200: the app.
DECLINE = frozenset({b"x-dwp-context", b"x-dwp-replica", b"x-dwp-network", b"cookie",
                     b"range", b"if-range", b"if-modified-since"})
MAX_ENTRIES = 10_000
Site = tuple[str, str | None] | None  # (site, network) a host names; None: the UI/API
NO_SITE = ("", None)  # no site, or a host not served: the app answers 404 or 421


@dataclass(frozen=True)
class _Prepared:
    entry: CachedRead  # the cached state this answer was built from
    headers: list[tuple[bytes, bytes]]
    unchanged: list[tuple[bytes, bytes]]  # the 304's: the same, without Content-Length
    etag: str
    body: bytes
    route: str  # its metrics label (gateway.metrics.route_of)


class HotReads:
    def __init__(self, app: ASGIApp, networks: Mapping[str, Network],
                 site_domain: str | None, hosts: HostRule) -> None:
        self.app = app
        self.networks = networks
        self.first: str = next(iter(networks), "")  # "": an app with no network
        self.domains = domains(site_domain)
        self.hosts = hosts
        self._sites: dict[tuple[bytes, str | None], Site] = {}
        self._prepared: dict[tuple[str, bool, str], _Prepared] = {}
        self._meters: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.served = 0  # answers given here (tests check the path was taken)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] in ("GET", "HEAD")
                and not scope.get("query_string")):
            started = time.perf_counter()
            found = self._lookup(scope)
            if found is not None:
                prepared, if_none_match = found
                status, headers, body = 200, prepared.headers, prepared.body
                if if_none_match is not None and etag_matches(
                        if_none_match.decode("latin-1"), prepared.etag):
                    status, headers, body = 304, prepared.unchanged, b""
                self.served += 1
                requests, latency = self._meters_of(scope["method"], prepared.route, status)
                requests.inc()
                latency.observe(time.perf_counter() - started)
                await send({"type": "http.response.start", "status": status,
                            "headers": headers})
                await send({"type": "http.response.body",
                            "body": b"" if scope["method"] == "HEAD" else body})
                return
        await self.app(scope, receive, send)

    def _lookup(self, scope: Scope) -> tuple[_Prepared, bytes | None] | None:
        """The prepared answer for this request and its If-None-Match, or None: not one
        for this path."""
        raw: bytes | None = scope.get("raw_path")
        if raw is None or b"%" in raw or not raw.isascii():
            return None  # escapes: gateway.paths decides on the raw bytes
        host: bytes | None = None
        if_none_match: bytes | None = None
        for name, value in scope["headers"]:
            if name in DECLINE:
                return None
            if name == b"host":
                if host is not None:
                    return None  # two: the app refuses it
                host = value
            elif name == b"if-none-match":
                if if_none_match is not None:
                    return None  # repeated: the app joins them
                if_none_match = value
        found = self._site(host or b"", local_address(scope))
        path: str = scope["path"]
        if found is NO_SITE:
            return None
        if found is not None:
            site, network = found
            key, name, on_site = site + path, network or self.first, True
            if path.endswith("/"):
                key += "index.html"  # a directory: its index (else a listing, not here)
        elif path.startswith(OBJECTS):
            key, name, on_site = path[len(OBJECTS):], self.first, False
        else:
            return None
        net = self.networks.get(name)
        if net is None:
            return None
        if on_site and not all(map(absences(net.client).known_missing, [
                deploys.live_key(site), f"{site}/{headers.NAME}",
                *(k for _, k in encodings.sibling_keys(key))])):
            return None  # a live deploy, _headers, .br or .gz may change the answer
        entry = net.client.reads.lookup(key, {})
        if entry is None:
            return None
        slot = (name, on_site, key)
        prepared = self._prepared.get(slot)
        if prepared is None or prepared.entry is not entry:
            prepared = _prepare(net.client, key, entry, on_site)
            if prepared is None:
                return None
            _bounded_put(self._prepared, slot, prepared)
        return prepared, if_none_match

    def _meters_of(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        """The request counter and latency histogram MetricsMiddleware would use."""
        meters = self._meters.get((method, route, status))
        if meters is None:
            meters = (metrics.REQUESTS.labels(method, route, str(status)),
                      metrics.LATENCY.labels(method, route))
            self._meters[(method, route, status)] = meters
        return meters

    def _site(self, host: bytes, local: str | None) -> Site:
        """What ``host`` names, seen on a connection to ``local``: a site, the UI/API
        (None), or NO_SITE (no site, or a name the gateway does not answer for)."""
        found = self._sites.get((host, local), False)
        if found is False:
            found = self._named(host.decode("latin-1"), local)
            _bounded_put(self._sites, (host, local), found)
        return found  # type: ignore[return-value]

    def _named(self, name: str, local: str | None) -> Site:
        if not self.hosts.serves(name, local):
            return NO_SITE
        try:
            named = site_of_host(name, self.domains, self.networks)
        except NoSuchSite:
            return NO_SITE
        if named is None:
            return None
        if named.deploy is not None:
            return NO_SITE  # a preview serves a deploy, never a key: the app answers it
        return named.site, named.network


def _bounded_put(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= MAX_ENTRIES:
        cache.clear()
    cache[key] = value


def _prepare(client: NetworkClient, key: str, entry: CachedRead, on_site: bool
             ) -> _Prepared | None:
    """What the app answers a reader with no token for this cached state, or None when
    that is not a plain 200 with the body at hand (no live version, a chunked body)."""
    try:
        validate_key(key)
    except InvalidKey:
        return None
    versions = live(entry.state)
    winner = versions[0] if versions else None
    if winner is None or winner.data is None:
        return None
    token = client.token_after(Token(), key, entry.state)
    try:
        where = located(client, Located(entry.shard, entry.node), token)
    except TokenError:
        return None  # a token over the size limit: the route answers the error
    headers = answer_headers(winner, where, len(versions), None if on_site else RAW_CSP)
    stamp = (identity.HEADER, identity.VERSION)
    raw = [*Response(status_code=200, headers=headers).raw_headers, stamp]
    del headers["Content-Length"]  # as version_response does for a 304
    unchanged = [*Response(status_code=304, headers=headers).raw_headers, stamp]
    route = metrics.route_of(f"/sites/{key}" if on_site else OBJECTS + key)
    return _Prepared(entry, raw, unchanged, winner.etag, winner.data, route)
