"""The UI reads what its user just wrote: UI writes keep their context token in a
cookie, and the pages the user opens next read from replicas that have seen it."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Net
from tests.test_replication import cut, heal, keys_of_shard, pinned
from tests.test_ui import ui  # noqa: F401  (the fixture)


def test_a_ui_write_sets_the_context_cookie_and_pages_honour_it(
        inproc: Net, ui: httpx.Client) -> None:  # noqa: F811
    a, lagging = inproc.shard_members(0)[:2]
    key = keys_of_shard(inproc, 0, 1, "uictx")[0]
    cut(inproc, [a], [lagging])
    try:
        r = ui.put(f"/api/v1/objects/{key}", content=b"<p>mine</p>",
                   headers={"Content-Type": "text/html", **pinned(a)})
        assert r.status_code == 200
        cookie = r.headers["set-cookie"].lower()
        assert cookie.startswith("dwp_context=") and "httponly" in cookie
        assert "samesite=strict" in cookie
        # the lagging replica has not got the write; with the cookie it is not used
        page = ui.get(f"/api/v1/objects/{key}", headers=pinned(lagging))
        assert page.status_code == 503
        listing = ui.get(f"/ui/browse/{key.rsplit('/', 1)[0]}/", headers={"Accept": "text/html"})
        assert listing.status_code == 200 and key.rsplit("/", 1)[1] in listing.text
    finally:
        heal(inproc)


def test_a_bearer_write_sets_no_cookie_and_a_stale_cookie_is_ignored(inproc: Net) -> None:
    with inproc.http() as h:
        r = h.put(f"/api/v1/objects/ctx-{uuid.uuid4().hex[:6]}/x.txt", content=b"x",
                  headers=inproc.auth)
        assert r.status_code == 200 and "set-cookie" not in r.headers
    with inproc.http(cookies={"dwp_context": "not-a-token"}) as h:
        assert h.get("/").status_code == 200
