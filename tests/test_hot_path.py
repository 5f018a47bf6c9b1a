"""The hot read path (``gateway.hot``) answers exactly as the routes do: the same
status, headers in the same order, and body, for every request it takes; and it leaves
every other request to the routes."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gateway import GatewaySettings, Network, create_app
from gateway.hot import HotReads
from tests.conftest import TEST_MAX_UPLOAD, eventually
from tests.deploying import deploy
from tests.inprocess import URL, InProcessNetwork, PortalTransport, in_process_network

SITE_HOST = {"Host": "hot.localhost:8000"}


@dataclass
class Pair:
    fast: httpx.Client
    slow: httpx.Client
    auth: dict[str, str]
    apps: tuple[Any, Any]
    network: InProcessNetwork

    def served(self) -> int:
        """How many answers the fast app's hot path gave."""
        layer = self.apps[0].middleware_stack
        while not isinstance(layer, HotReads):
            layer = layer.app
        return layer.served

    def both(self, method: str, url: str, **kwargs: Any) -> tuple[httpx.Response, httpx.Response]:
        return (self.fast.request(method, url, **kwargs),
                self.slow.request(method, url, **kwargs))

    def alike(self, method: str, url: str, *, hot: bool, **kwargs: Any) -> httpx.Response:
        """The fast app's answer, which must be the slow one's byte for byte; ``hot``:
        whether the fast app's hot path gave it (else its routes did)."""
        before = self.served()
        fast, slow = self.both(method, url, **kwargs)
        assert self.served() == before + hot
        same(fast, slow)
        return fast


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Two gateway apps over one network and one client (one read cache): one with the
    hot path, one without."""
    with in_process_network(tmp_path_factory.mktemp("hot")) as network:
        network.client.reads.ttl = 600.0  # no entry expires between the two requests
        apps = tuple(create_app([Network(network.client, network.secret, network.membership)],
                                GatewaySettings(TEST_MAX_UPLOAD, fault_injection=True,
                                                hot_path=hot))
                     for hot in (True, False))
        clients = [httpx.Client(base_url=URL, transport=PortalTransport(app, network.portal))
                   for app in apps]
        clients[0].get("/api/v1/network")  # builds the app's middleware stack
        yield Pair(clients[0], clients[1], {"Authorization": f"Bearer {network.secret}"}, apps,
                   network)
        for c in clients:
            c.close()


def same(a: httpx.Response, b: httpx.Response) -> None:
    assert a.status_code == b.status_code
    assert a.headers.raw == b.headers.raw
    assert a.content == b.content


def put(pair: Pair, key: str, body: bytes, **headers: str) -> None:
    """Write ``key`` only, as a publish uploads: a deployed site's page stays its deploy's."""
    r = pair.slow.put(f"/api/v1/objects/{key}", content=body, params={"deploy": "false"},
                      headers={**pair.auth, **headers})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_an_object_hit_is_answered_as_the_route_answers(pair: Pair, method: str) -> None:
    put(pair, "hot/obj.bin", b"\x00\x01" * 500, **{"Content-Type": "application/x-thing"})
    pair.slow.get("/api/v1/objects/hot/obj.bin")  # the miss fills the cache
    fast = pair.alike(method, "/api/v1/objects/hot/obj.bin", hot=True)
    assert fast.headers["content-security-policy"] == "sandbox"
    assert fast.headers["x-dwp-context"] and fast.headers["etag"]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_page_hit_on_its_sites_origin_is_answered_as_the_route_answers(
        pair: Pair, method: str) -> None:
    put(pair, "hot/page.html", b"<h1>hot</h1>", **{"Content-Type": "text/html"})
    pair.slow.get("/page.html", headers=SITE_HOST)
    fast = pair.alike(method, "/page.html", hot=True, headers=SITE_HOST)
    assert "content-security-policy" not in fast.headers  # a page on its own origin
    assert fast.headers["x-dwp-gateway"] == "1"


@pytest.mark.parametrize("path", ["/", "/docs/"])
def test_a_directory_index_hit_is_answered_as_the_route_answers(pair: Pair, path: str) -> None:
    put(pair, f"hot{path}index.html", b"<h1>index</h1>", **{"Content-Type": "text/html"})
    pair.slow.get(path, headers=SITE_HOST)
    fast = pair.alike("GET", path, hot=True, headers=SITE_HOST)
    assert fast.content == b"<h1>index</h1>"


def test_a_deployed_sites_page_comes_from_its_deploy_never_a_newer_key(pair: Pair) -> None:
    host = {"Host": "hotdep.localhost:8000"}
    put(pair, "hotdep/index.html", b"key one", **{"Content-Type": "text/html"})
    pair.slow.get("/", headers=host)
    assert pair.alike("GET", "/", hot=True, headers=host).content == b"key one"
    deploy(pair.network.portal.call, pair.network.client, "hotdep", {"index.html": b"deploy"})
    put(pair, "hotdep/index.html", b"key two", **{"Content-Type": "text/html"})
    pair.slow.get("/api/v1/objects/hotdep/index.html")  # the newer key is in the cache
    assert pair.alike("GET", "/", hot=False, headers=host).content == b"deploy"
    assert pair.alike("GET", "/", hot=False, headers=host).content == b"deploy"
    for client in (pair.fast, pair.slow):  # the deploy's pin: httpx keeps it for every host
        client.cookies.clear()


def test_the_same_state_gets_the_same_token_and_a_new_state_a_new_answer(pair: Pair) -> None:
    put(pair, "hot/changing.txt", b"one")
    pair.slow.get("/api/v1/objects/hot/changing.txt")
    first = pair.fast.get("/api/v1/objects/hot/changing.txt")
    again = pair.fast.get("/api/v1/objects/hot/changing.txt")
    assert first.headers.raw == again.headers.raw
    put(pair, "hot/changing.txt", b"two")
    pair.slow.get("/api/v1/objects/hot/changing.txt")
    fast, slow = pair.both("GET", "/api/v1/objects/hot/changing.txt")
    same(fast, slow)
    assert fast.content == b"two"
    assert fast.headers["etag"] != first.headers["etag"]


def test_siblings_are_counted_as_the_route_counts_them(pair: Pair) -> None:
    key = "hot/conflict.txt"
    first = pair.slow.put(f"/api/v1/objects/{key}", content=b"base", headers=pair.auth)
    shard = first.headers["x-dwp-shard"]
    a, b = next(s for s in pair.slow.get("/api/v1/network").json()["shards"]
                if str(s["id"]) == shard)["replicas"][:2]
    assert pair.slow.put("/api/v1/faults", json={"partitions": [[a], [b]]},
                         headers=pair.auth).status_code == 204
    try:
        put(pair, key, b"from a", **{"X-DWP-Replica": a})
        put(pair, key, b"from b", **{"X-DWP-Replica": b})
    finally:
        pair.slow.delete("/api/v1/faults", headers=pair.auth)
    eventually(lambda: all(pair.slow.get(f"/api/v1/objects/{key}", headers={
        "X-DWP-Replica": n}).headers.get("x-dwp-siblings") == "2" for n in (a, b)))
    pair.slow.get(f"/api/v1/objects/{key}")
    fast = pair.alike("GET", f"/api/v1/objects/{key}", hot=True)
    assert fast.headers["x-dwp-siblings"] == "2"


@pytest.mark.parametrize(("method", "condition", "status"), [
    ("GET", "{etag}", 304), ("HEAD", "{etag}", 304), ("GET", "W/{etag}", 304),
    ("GET", '"other", {etag}', 304), ("GET", "*", 304), ("GET", '"other"', 200),
    ("HEAD", '"other"', 200)])
def test_a_conditional_hit_is_answered_as_the_route_answers(
        pair: Pair, method: str, condition: str, status: int) -> None:
    put(pair, "hot/cond.html", b"<p>cond</p>", **{"Content-Type": "text/html"})
    etag = pair.slow.get("/cond.html", headers=SITE_HOST).headers["etag"]
    headers = {**SITE_HOST, "If-None-Match": condition.format(etag=etag)}
    fast = pair.alike(method, "/cond.html", hot=True, headers=headers)
    assert fast.status_code == status


@pytest.mark.parametrize("headers", [
    {"X-DWP-Context": "not-a-token"}, {"Range": "bytes=0-3"},
    {"If-Modified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"}, {"Cookie": "dwp_context=x"},
    {"X-DWP-Network": "nope"}, {"X-DWP-Replica": "n1"}])
def test_requests_that_need_more_than_the_winner_go_to_the_routes(
        pair: Pair, headers: dict[str, str]) -> None:
    put(pair, "hot/declined.txt", b"declined")
    pair.slow.get("/api/v1/objects/hot/declined.txt")
    before = pair.served()
    fast, slow = pair.both("GET", "/api/v1/objects/hot/declined.txt", headers=headers)
    assert pair.served() == before
    assert fast.status_code == slow.status_code
    assert fast.content == slow.content


@pytest.mark.parametrize("url", ["/api/v1/objects/hot/declined.txt?siblings=true",
                                 "/api/v1/objects/hot/big.bin", "/api/v1/objects/hot/gone",
                                 "/api/v1/objects/hot//bad", "/sites/hot/declined.txt"])
def test_what_the_hot_path_does_not_hold_goes_to_the_routes(pair: Pair, url: str) -> None:
    put(pair, "hot/declined.txt", b"declined")
    put(pair, "hot/big.bin", b"b" * 100_000)  # chunked: streamed by the route
    put(pair, "hot/gone", b"soon deleted")
    assert pair.slow.delete("/api/v1/objects/hot/gone", headers=pair.auth).status_code == 204
    for key in ("hot/declined.txt", "hot/big.bin", "hot/gone"):
        pair.slow.get(f"/api/v1/objects/{key}")
    pair.alike("GET", url, hot=False)


def test_an_unknown_site_network_goes_to_the_routes(pair: Pair) -> None:
    pair.alike("GET", "/page.html", hot=False, headers={"Host": "hot.elsewhere.localhost"})


def test_an_escaped_path_goes_to_the_routes(pair: Pair) -> None:
    put(pair, "hot/escaped.txt", b"escaped")
    pair.slow.get("/api/v1/objects/hot/escaped.txt")
    pair.alike("GET", "/api/v1/objects/hot/%65scaped.txt", hot=False)


def _count(client: httpx.Client, method: str, route: str) -> float:
    text = client.get("/metrics").text
    line = next((ln for ln in text.splitlines() if ln.startswith(
        f'dwp_http_requests_total{{method="{method}",route="{route}",status="200"}}')), None)
    return float(line.rsplit(" ", 1)[1]) if line else 0.0


@pytest.mark.parametrize(("url", "headers", "route"), [
    ("/api/v1/objects/hot/counted.txt", {}, "/api/v1/objects"),
    ("/counted.txt", SITE_HOST, "/sites")])
def test_a_hot_answer_is_counted_as_the_app_counts_it(
        pair: Pair, url: str, headers: dict[str, str], route: str) -> None:
    put(pair, "hot/counted.txt", b"counted")
    pair.slow.get(url, headers=headers)
    served = pair.served()
    for client in (pair.fast, pair.slow):
        before = _count(client, "GET", route)
        assert client.get(url, headers=headers).status_code == 200
        assert _count(client, "GET", route) == before + 1
    assert pair.served() == served + 1  # the fast app's answer was the hot path's


def test_a_site_with_headers_rules_is_left_to_the_routes(pair: Pair) -> None:
    """The hot path sends no site's ``_headers``: it answers only for a site known to
    have none, and the routes answer the rest with the rules applied."""
    host = {"Host": "hotrules.localhost:8000"}
    put(pair, "hotrules/page.html", b"<h1>ruled</h1>", **{"Content-Type": "text/html"})
    put(pair, "hotrules/_headers", b"/*\n  X-Frame-Options: DENY\n")
    pair.slow.get("/page.html", headers=host)
    fast = pair.alike("GET", "/page.html", hot=False, headers=host)
    assert fast.headers["x-frame-options"] == "DENY"


def test_a_file_with_a_compressed_sibling_is_left_to_the_routes(pair: Pair) -> None:
    """The hot path sends no ``.gz``/``.br`` sibling: it answers only for a file known to
    have none, and the routes answer the rest with the coding negotiated."""
    put(pair, "hot/packed.js", b"run();" * 200, **{"Content-Type": "text/javascript"})
    put(pair, "hot/packed.js.gz", gzip.compress(b"run();" * 200, mtime=0))
    gz = {**SITE_HOST, "Accept-Encoding": "gzip"}
    pair.slow.get("/packed.js", headers=gz)
    fast = pair.alike("GET", "/packed.js", hot=False, headers=gz)
    assert fast.headers["content-encoding"] == "gzip"


def test_a_deleted_headers_file_gives_the_site_back_to_the_hot_path(pair: Pair) -> None:
    host = {"Host": "hotdel.localhost:8000"}
    put(pair, "hotdel/page.html", b"<h1>page</h1>", **{"Content-Type": "text/html"})
    put(pair, "hotdel/_headers", b"/*\n  X-Frame-Options: DENY\n")
    assert pair.slow.get("/page.html", headers=host).headers["x-frame-options"] == "DENY"
    assert pair.slow.delete("/api/v1/objects/hotdel/_headers",
                            headers=pair.auth).status_code == 204
    pair.slow.get("/page.html", headers=host)  # the routes read the delete
    fast = pair.alike("GET", "/page.html", hot=True, headers=host)
    assert "x-frame-options" not in fast.headers
