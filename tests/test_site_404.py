"""The built-in 404 page of a site suggests only folders that exist: every link it offers
leads to a page or a listing, never to another 404; on the site's own origin and
path-style (a LAN client of a gateway without a site domain) alike."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import Net
from tests.sites import lan, origin


@pytest.mark.parametrize(("way", "base"), [
    (lambda net, site: origin(net, site), ""),
    (lambda net, site: lan(net), "/sites/{site}")], ids=["origin", "path-style"])
def test_404_suggests_only_parents_that_exist(
        inproc: Net, way: Callable[[Net, str], httpx.Client], base: str) -> None:
    site = f"p404-{uuid.uuid4().hex[:8]}"
    with inproc.http() as api:
        put = api.put(f"/api/v1/objects/{site}/docs/a.html", content=b"<p>a</p>",
                      headers=inproc.auth)
    at = base.format(site=site)
    context = {"X-DWP-Context": put.headers["x-dwp-context"], "Accept": "text/html"}
    with way(inproc, site) as h:
        r = h.get(f"{at}/docs/sub/deeper/missing.html", headers=context)
        assert r.status_code == 404
        links = re.findall(r'<li><a href="([^"]+)">', r.text)
        assert links == [f"{at}/", f"{at}/docs/"]
        for link in links:
            assert h.get(link, headers=context).status_code == 200

    gone = f"nosite-{uuid.uuid4().hex[:8]}"
    with way(inproc, gone) as h:
        r = h.get(f"{base.format(site=gone)}/a/b.html", headers={"Accept": "text/html"})
        assert r.status_code == 404 and re.findall(r'<li><a href="([^"]+)">', r.text) == []
