"""The UI's network forms and switcher over real HTTP, on small networks of their own
(the shared ``net`` keeps its membership): add and remove a node, a change that cannot
complete shown as a readable 409, and a switcher that moves pages, cookies and writes to
the chosen network."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import ray

from dwp.local import start_network
from dwp.node.actor import actor_name
from gateway import Network, signin
from tests.conftest import RayCluster, eventually, gateway
from tests.sites import NAVIGATE

HTML = {"Accept": "text/html"}


@dataclass
class Pair:
    """One gateway serving two fresh two-node networks, ``a`` (the default) and ``b``."""

    url: str
    a: Network
    b: Network

    def ui(self, *networks: Network) -> httpx.Client:
        """A client signed in to ``networks`` (default: both) through the one-time link
        ``dwp up`` prints, naming the UI's origin on its requests as a browser does."""
        code = signin.mint({n.name: n.secret for n in networks or (self.a, self.b)},
                           time.time())
        with httpx.Client(base_url=self.url) as first:
            assert first.get("/", params={"login": code}).status_code == 303
            return httpx.Client(base_url=self.url, timeout=180, cookies=first.cookies,
                                headers={"Origin": self.url})

    def api(self, network: Network) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, headers={
            "X-DWP-Network": network.name, "Authorization": f"Bearer {network.secret}"})

    def node_ids(self, network: Network) -> set[str]:
        with self.api(network) as h:
            return {n["id"] for n in h.get("/api/v1/network").json()["nodes"]}


def fresh(data_dir: Path, prefix: str) -> Network:
    client, membership = start_network(data_dir, name=f"{prefix}-{uuid.uuid4().hex[:6]}",
                                       nodes=2, replicas=2, anti_entropy_interval=1.0)
    return Network(client, (data_dir / "token").read_text().strip(), membership)


@pytest.fixture(scope="module")
def pair(ray_runtime: RayCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    a = fresh(tmp_path_factory.mktemp("uinet-a"), "uia")
    b = fresh(tmp_path_factory.mktemp("uinet-b"), "uib")
    with gateway([a, b]) as url:
        yield Pair(url, a, b)


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Each cookie the response sets, with its attributes as one lower-case string."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        name = header.split("=", 1)[0]
        found[name] = header.lower()
    return found


def test_add_then_remove_a_node_through_the_forms(pair: Pair) -> None:
    before = pair.node_ids(pair.a)
    with pair.ui() as h:
        page = h.get("/").text
        assert "Add node" in page and "1 shard \u00d7 2 replicas" in page
        assert "<details class=\"panel\" id=\"network\">" in page  # healthy: closed
        node_page = h.get("/ui/node/n1").text
        assert ">Remove</button>" in node_page
        assert "Remove dead node" not in node_page, "every node is up: none is dead"
        r = h.post("/ui/network/add", data={"host": ""})
        assert r.status_code == 303, r.text
        added = pair.node_ids(pair.a) - before
        assert len(added) == 1
        node = added.pop()
        assert r.headers["location"] == f"/?added={node}#network"
        page = h.get(r.headers["location"]).text
        assert f"Node <code>{node}</code> joined" in page and f"<code>{node}</code>" in page
        assert "1 shard \u00d7 3 replicas" in page  # the replicas that exist
        assert "<details class=\"panel\" id=\"network\" open>" in page

        r = h.post(f"/ui/network/remove/{node}", data={"force": "0"})
        assert r.status_code == 303, r.text
        assert pair.node_ids(pair.a) == before
        assert f"Node <code>{node}</code> left" in h.get(r.headers["location"]).text


def test_remove_dead_node_with_force(pair: Pair) -> None:
    before = pair.node_ids(pair.a)
    with pair.ui() as h:
        assert h.post("/ui/network/add", data={"host": " "}).status_code == 303
        node = (pair.node_ids(pair.a) - before).pop()
        client = pair.a.client
        ray.kill(ray.get_actor(actor_name(node), namespace=client.transport.namespace),
                 no_restart=True)
        with pair.api(pair.a) as api:
            eventually(lambda: any(n["id"] == node and n["status"] == "down"
                                   for n in api.get("/api/v1/network").json()["nodes"]), 60)
        page = h.get("/").text
        assert f"degraded: {node} down" in page and 'id="network" open>' in page
        assert "Remove dead node" not in h.get("/ui/node/n1").text
        page = h.get(f"/ui/node/{node}").text
        assert page.count(">Remove dead node</button>") == 1
        assert f"Remove node {node} as dead?" in page
        r = h.post(f"/ui/network/remove/{node}", data={"force": "0"}, headers=HTML)
        assert r.status_code == 409 and f"removing node {node} failed" in r.text
        assert "unreachable" in r.text and "force" in r.text
        r = h.post(f"/ui/network/remove/{node}", data={"force": "1"})
        assert r.status_code == 303, r.text
        assert pair.node_ids(pair.a) == before


def test_a_change_that_cannot_complete_is_a_readable_409(pair: Pair) -> None:
    with pair.ui() as h:
        r = h.post("/ui/network/remove/n1", data={"force": "0"}, headers=HTML)
        assert r.status_code == 409 and r.headers["content-type"].startswith("text/html")
        assert "view change failed" in r.text and "removing node n1 failed" in r.text
        assert "cannot hold 2 replicas" in r.text
        r = h.post("/ui/network/remove/n9", data={"force": "1"})
        assert r.status_code == 409 and r.json()["error"] == "view change failed"
        assert "n9" in r.json()["detail"] and "not in the network" in r.json()["detail"]
        r = h.post("/ui/network/add", data={"host": "bad\x01host"}, headers=HTML)
        assert r.status_code == 400 and "host name" in r.text
    assert len(pair.node_ids(pair.a)) == 2


def test_network_forms_need_the_token_and_the_gateways_own_pages(pair: Pair) -> None:
    before = pair.node_ids(pair.a)
    with httpx.Client(base_url=pair.url, timeout=60) as anonymous:
        r = anonymous.post("/ui/network/remove/n1", data={"force": "0"}, headers=HTML)
        assert r.status_code == 401 and "Sign in" in r.text
        page = anonymous.get("/").text
        assert "Remove dead node" not in page and "to add or remove nodes" in page
    with pair.ui() as h:
        for headers in ({"Origin": "null"}, {"Origin": "http://evil.example"},
                        {"Sec-Fetch-Site": "cross-site"}):
            r = h.post("/ui/network/add", data={"host": ""}, headers=headers)
            assert r.status_code == 403, headers
    assert pair.node_ids(pair.a) == before


def test_switcher_moves_pages_cookies_and_writes(pair: Pair) -> None:
    a, b = pair.a, pair.b
    only_a, only_b = f"sitea-{uuid.uuid4().hex[:6]}", f"siteb-{uuid.uuid4().hex[:6]}"
    for network, site in ((a, only_a), (b, only_b)):
        with pair.api(network) as api:
            api.put(f"/api/v1/objects/{site}/index.html", content=b"x").raise_for_status()
    with pair.ui() as h:
        page = h.get("/").text
        assert f'<option value="{a.name}" selected>' in page
        assert f'<option value="{b.name}">' in page and only_a in page and only_b not in page

        r = h.post("/ui/network/select", data={"network": b.name})
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookies = set_cookies(r)
        assert cookies["dwp_network"].startswith(f"dwp_network={b.name};".lower())
        assert "samesite=strict" in cookies["dwp_network"]
        assert "dwp_token" not in cookies  # the sign-in already holds both tokens
        assert h.cookies["dwp_network"] == b.name

        page = h.get("/").text
        assert f'<span class="name">{b.name}</span>' in page
        assert only_b in page and only_a not in page
        assert f'<option value="{b.name}" selected>' in page
        assert only_b in h.get(f"/ui/browse/{only_b}/").text
        assert only_b in h.get("/ui/search", params={"q": "site"}).text
        assert only_a not in h.get("/ui/search", params={"q": "site"}).text

        key = f"{only_b}/notes.txt"
        r = h.post(f"/ui/edit/{key}", data={"content": "for b", "context": ""})
        assert r.status_code == 303, r.text
        with pair.api(b) as api:
            assert api.get(f"/api/v1/objects/{key}").content == b"for b"
        with pair.api(a) as api:
            assert api.get(f"/api/v1/objects/{key}").status_code == 404

        r = h.post("/ui/network/select", data={"network": "nowhere"}, headers=HTML)
        assert r.status_code == 404 and a.name in r.text
        r = h.post("/ui/network/select", data={"network": a.name})
        assert h.cookies["dwp_network"] == a.name and only_a in h.get("/").text


def test_switching_to_a_network_not_signed_in_to_offers_the_sign_in(pair: Pair) -> None:
    key = f"signed-{uuid.uuid4().hex[:6]}/a.txt"
    with pair.ui(pair.a) as h:
        assert h.post("/ui/network/select", data={"network": pair.b.name}).status_code == 303
        assert "Sign in to write" in h.get("/").text
        r = h.post(f"/ui/edit/{key}", data={"content": "x"})
        assert r.status_code == 401 and pair.b.name in r.json()["detail"]
        r = h.post("/ui/login", data={"token": pair.b.secret})
        assert r.status_code == 303 and h.cookies["dwp_network"] == pair.b.name
        assert h.post(f"/ui/edit/{key}", data={"content": "b"}).status_code == 303
        h.post("/ui/network/select", data={"network": pair.a.name})
        assert h.post(f"/ui/edit/{key}", data={"content": "a"}).status_code == 303
    for network, text in ((pair.a, b"a"), (pair.b, b"b")):
        with pair.api(network) as api:
            assert api.get(f"/api/v1/objects/{key}").content == text


def test_a_link_naming_a_network_changes_nothing(pair: Pair) -> None:
    with pair.ui(pair.a) as h:
        r = h.get("/", params={"network": pair.b.name})
        assert f'<span class="name">{pair.a.name}</span>' in r.text
        assert "set-cookie" not in r.headers and h.cookies.get("dwp_network") == pair.a.name
        assert f'<option value="{pair.a.name}" selected>' in h.get(
            "/ui/search", params={"network": pair.b.name}).text
    with httpx.Client(base_url=pair.url, timeout=60) as other:
        r = other.post("/ui/network/select", data={"network": pair.b.name})
        assert r.status_code == 303 and "dwp_token" not in set_cookies(r)
        assert set_cookies(r)["dwp_network"].startswith("dwp_network=")


def test_a_stale_network_cookie_gets_a_page_to_switch(pair: Pair) -> None:
    with httpx.Client(base_url=pair.url, timeout=60, cookies={"dwp_network": "gone"}) as h:
        r = h.get("/", headers=HTML)
        assert r.status_code == 404 and "unknown network" in r.text
        assert 'action="/ui/network/select"' in r.text and pair.a.name in r.text


def test_each_networks_sites_have_their_own_origins(pair: Pair) -> None:
    site = f"twin-{uuid.uuid4().hex[:6]}"
    for network in (pair.a, pair.b):
        with pair.api(network) as h:
            r = h.put(f"/api/v1/objects/{site}/index.html", content=network.name.encode())
            assert r.status_code == 200
    port = urlsplit(pair.url).port
    a_host, b_host = f"{site}.localhost:{port}", f"{site}.{pair.b.name}.localhost:{port}"
    with httpx.Client(base_url=pair.url, headers=NAVIGATE) as h:
        assert h.get(f"/sites/{site}/").headers["location"] == f"http://{a_host}/"
        r = h.get(f"/sites/{site}/", headers={"X-DWP-Network": pair.b.name})
        assert r.headers["location"] == f"http://{b_host}/"
        assert h.get("/", headers={"Host": a_host}).content == pair.a.name.encode()
        assert h.get("/", headers={"Host": b_host}).content == pair.b.name.encode()
        # on a site's origin the host alone names the network, not the site's own query
        r = h.get("/", params={"network": pair.b.name}, headers={"Host": a_host})
        assert r.content == pair.a.name.encode()
        r = h.get("/", headers={"Host": f"{site}.nonet.localhost:{port}"})
        assert r.status_code == 404 and r.json()["error"] == "unknown network"
    with httpx.Client(base_url=pair.url, cookies={"dwp_network": pair.b.name}) as h:
        r = h.get("/ui/search", params={"q": site})
        assert f'href="http://{b_host}/index.html"' in r.text
