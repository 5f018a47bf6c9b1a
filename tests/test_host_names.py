"""The gateway answers only for the Host names it serves (DNS rebinding), in process: a
foreign name gets 421 on the UI, the API, ``/metrics`` and the hot path; loopback names,
the address a connection came in on, the site domain and its sites, and ``--allow-host``
names are served. The UI and ``/docs`` cannot be framed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from gateway import GatewaySettings, Network, create_app
from gateway.hosts import HostRule
from tests.conftest import TEST_MAX_UPLOAD, Net
from tests.inprocess import PortalTransport

REBIND = "rebind.attacker.test:8000"
PATHS = ["/", "/ui/search?q=a", "/api/v1/objects?prefix=", "/api/v1/network", "/metrics",
         "/healthz", "/docs", "/openapi.json"]


@pytest.fixture(scope="module")
def page(inproc: Net) -> str:
    key = f"hosts-{uuid.uuid4().hex[:8]}/index.html"
    with inproc.http(headers=inproc.auth) as h:
        h.put(f"/api/v1/objects/{key}", content=b"<p>mine</p>").raise_for_status()
        assert h.get(f"/api/v1/objects/{key}").status_code == 200  # cached: the hot path
    return key


@pytest.fixture(scope="module")
def lan_gateway(inproc: Net) -> Iterator[PortalTransport]:
    """The same network behind a gateway with a site domain and an --allow-host name."""
    assert inproc.transport is not None
    portal = inproc.transport.portal  # type: ignore[attr-defined]
    app = create_app([Network(inproc.client, inproc.token)], GatewaySettings(
        TEST_MAX_UPLOAD, site_domain="family.lan", allowed_hosts=("nas.home", "10.0.0.7")))
    yield PortalTransport(app, portal)


def test_a_foreign_host_gets_421_everywhere(inproc: Net, page: str) -> None:
    with inproc.http(headers={"Host": REBIND}) as h:
        for path in [*PATHS, f"/api/v1/objects/{page}", f"/api/v1/objects/{page}?history=true"]:
            r = h.get(path)
            assert r.status_code == 421, (path, r.status_code)
            assert "rebind.attacker.test" in r.json()["detail"]
            assert "\n" not in r.json()["detail"]
            assert r.headers["x-dwp-gateway"] == "1"
        r = h.put(f"/api/v1/objects/{page}", content=b"x", headers=inproc.auth)
        assert r.status_code == 421
    with inproc.http() as h:
        assert h.get(f"/api/v1/objects/{page}").content == b"<p>mine</p>"


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "LOCALHOST", "[::1]:8000",
                                  "127.1.2.3:8000"])
def test_loopback_names_are_served(inproc: Net, page: str, host: str) -> None:
    with inproc.http(headers={"Host": host}) as h:
        assert h.get("/api/v1/network").status_code == 200
        assert h.get(f"/api/v1/objects/{page}").status_code == 200


def test_the_address_a_connection_came_to_is_served_and_no_other(inproc: Net) -> None:
    assert inproc.transport is not None
    with httpx.Client(base_url="http://192.0.2.10:8000", transport=inproc.transport) as h:
        assert h.get("/api/v1/network").status_code == 200  # Host: 192.0.2.10:8000
        r = h.get("/api/v1/network", headers={"Host": "192.0.2.99:8000"})
        assert r.status_code == 421


def test_site_domain_its_sites_and_allowed_names_are_served(
        lan_gateway: PortalTransport, page: str) -> None:
    site, _, path = page.partition("/")
    with httpx.Client(base_url="http://127.0.0.1:8000", transport=lan_gateway) as h:
        for host in ("family.lan", "nas.home:8000", "10.0.0.7:8000", "NAS.HOME"):
            assert h.get("/api/v1/network", headers={"Host": host}).status_code == 200, host
        r = h.get("/" + path, headers={"Host": f"{site}.family.lan:8000"})
        assert r.status_code == 200 and r.content == b"<p>mine</p>"
        for host in ("evil.lan", "nas.home.evil", "family.lan.evil", "10.0.0.8"):
            assert h.get("/api/v1/network", headers={"Host": host}).status_code == 421, host


def test_host_rule() -> None:
    rule = HostRule("family.lan", ["nas.home", "::2"])
    assert rule.serves("", None)  # HTTP/1.0: the address the connection came to
    assert rule.serves("[::1]:8000", None) and rule.serves("[::2]", None)
    assert rule.serves("garden.localhost:8000", None) and rule.serves("x.family.lan", None)
    assert rule.serves("192.168.1.5:8000", "192.168.1.5")
    assert not rule.serves("192.168.1.5:8000", "127.0.0.1")
    assert not rule.serves("localhost.evil", None) and not rule.serves("evilfamily.lan", None)


def test_ui_and_docs_cannot_be_framed(inproc: Net) -> None:
    with inproc.http() as h:
        for path in ("/", "/ui/login", "/docs"):
            csp = h.get(path).headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp, path
