"""The built-in 404 page of a site suggests only folders that exist: every link it offers
leads to a page or a listing, never to another 404."""

from __future__ import annotations

import re
import uuid

from tests.conftest import Net


def test_404_suggests_only_parents_that_exist(net: Net) -> None:
    site = f"p404-{uuid.uuid4().hex[:8]}"
    with net.http() as h:
        put = h.put(f"/api/v1/objects/{site}/docs/a.html", content=b"<p>a</p>",
                    headers=net.auth)
        context = {"X-DWP-Context": put.headers["x-dwp-context"], "Accept": "text/html"}
        r = h.get(f"/sites/{site}/docs/sub/deeper/missing.html", headers=context)
        assert r.status_code == 404
        links = re.findall(r'<li><a href="([^"]+)">', r.text)
        assert links == [f"/sites/{site}/", f"/sites/{site}/docs/"]
        for link in links:
            assert h.get(link, headers=context).status_code == 200

        gone = f"nosite-{uuid.uuid4().hex[:8]}"
        r = h.get(f"/sites/{gone}/a/b.html", headers={"Accept": "text/html"})
        assert r.status_code == 404 and re.findall(r'<li><a href="([^"]+)">', r.text) == []
