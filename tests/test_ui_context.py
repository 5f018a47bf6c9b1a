"""The UI reads what its user just wrote: UI writes keep their context token in the
gateway under the id in a small cookie, whatever the network's size, and the pages the
user opens next read from replicas that have seen it."""

from __future__ import annotations

import uuid

import httpx
import pytest

from dwp.core.token import Token
from gateway.ui_contexts import Contexts
from tests.conftest import Net, eventually
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


BROWSER_COOKIE_LIMIT = 4096
LARGE_SHARDS = 160


def large_past() -> Token:
    """A UI's causal past on a network of 160 shards of 2 replicas: a token of about
    7 KB, under MAX_TOKEN_CHARS and far over a browser's 4 KB cookie limit. Its nodes
    (n1000 up) never held a partition of the test network, so every replica vouches for
    them (and a blind write keeps none of them in the key's context)."""
    return Token({s: {f"n{1000 + 2 * s + r}.{s:06x}": 1000 + s for r in range(2)}
                  for s in range(LARGE_SHARDS)}).compact()


def context_cookie(r: httpx.Response) -> str:
    """The context cookie's value a response sets (and that every cookie it sets would
    fit a browser)."""
    cookies = r.headers.get_list("set-cookie")
    assert all(len(c.encode()) < BROWSER_COOKIE_LIMIT for c in cookies), cookies
    found = [c.split(";", 1)[0].partition("=")[2] for c in cookies
             if c.startswith("dwp_context=")]
    assert len(found) == 1, cookies
    return found[0]


def test_a_ui_write_with_a_large_past_sets_small_cookies_and_keeps_the_past(
        inproc: Net, ui: httpx.Client) -> None:  # noqa: F811
    past = inproc.client.tokens.encode(large_past())
    a, lagging = inproc.shard_members(0)[:2]
    key = keys_of_shard(inproc, 0, 1, "uibig")[0]
    cut(inproc, [a], [lagging])
    try:
        r = ui.put(f"/api/v1/objects/{key}", content=b"big past",
                   headers={"Content-Type": "text/plain", "X-DWP-Context": past,
                            **pinned(a)})
        assert r.status_code == 200, r.text
        assert len(r.headers["x-dwp-context"]) > BROWSER_COOKIE_LIMIT
        context_cookie(r)
        assert ui.get(f"/api/v1/objects/{key}", headers=pinned(lagging)).status_code == 503
        read = ui.get(f"/api/v1/objects/{key}", headers=pinned(a))
        assert read.status_code == 200 and read.content == b"big past"
        seen = inproc.client.tokens.decode(read.headers["x-dwp-context"]).need()
        assert all(seen.get(r, 0) >= c for r, c in large_past().need().items())
    finally:
        heal(inproc)


def test_an_unknown_context_id_reads_as_none_and_the_next_write_gets_a_new_one(
        inproc: Net, ui: httpx.Client) -> None:  # noqa: F811
    """As after a gateway restart or an eviction: the UI works, without a past, until
    its next write."""
    gone = "forgotten-" + uuid.uuid4().hex
    host = next(c.domain for c in ui.cookies.jar if c.name == "dwp_token")
    ui.cookies.set("dwp_context", gone, domain=host)  # where the gateway's would go
    assert ui.get("/", headers={"Accept": "text/html"}).status_code == 200
    a, lagging = inproc.shard_members(0)[:2]
    key = keys_of_shard(inproc, 0, 1, "uigone")[0]
    cut(inproc, [a], [lagging])
    try:
        r = ui.put(f"/api/v1/objects/{key}", content=b"after restart", headers=pinned(a))
        assert r.status_code == 200, r.text
        assert context_cookie(r) not in ("", gone)
        assert ui.get(f"/api/v1/objects/{key}", headers=pinned(lagging)).status_code == 503
    finally:
        heal(inproc)


@pytest.mark.parametrize("lost", [True, False], ids=["missing", "stale"])
def test_a_ui_write_keeps_what_its_context_never_saw_as_a_sibling(
        inproc: Net, ui: httpx.Client, lost: bool) -> None:  # noqa: F811
    """A missing context makes a UI write blind (it supersedes only what its coordinator
    has seen) and a stale one supersedes only what it saw: either way a concurrent
    version at another replica survives beside it."""
    a, b = inproc.shard_members(0)[:2]
    key = keys_of_shard(inproc, 0, 1, "uiblind")[0]
    assert ui.put(f"/api/v1/objects/{key}", content=b"first").status_code == 200
    eventually(inproc.digests_equal)
    cut(inproc, [a], [b])
    try:
        assert ui.put(f"/api/v1/objects/{key}", content=b"elsewhere",
                      headers={**inproc.auth, **pinned(b)}).status_code == 200
        if lost:
            ui.cookies.delete("dwp_context")
        assert ui.put(f"/api/v1/objects/{key}", content=b"from the ui",
                      headers=pinned(a)).status_code == 200
    finally:
        heal(inproc)
    with inproc.http() as h:
        def siblings(node: str) -> set[bytes]:
            r = h.get(f"/api/v1/objects/{key}?siblings=true", headers=pinned(node))
            return {h.get(s["url"], headers=pinned(node)).content
                    for s in r.json()["siblings"]}
        for node in (a, b):
            assert eventually(lambda n=node: siblings(n) == {b"elsewhere", b"from the ui"})


def test_the_context_store_drops_the_least_recently_used_and_issues_its_own_ids() -> None:
    store = Contexts(cap=2)
    first = store.keep(None, "t1")
    second = store.keep("chosen-by-a-client", "t2")
    assert second != "chosen-by-a-client" and len({first, second}) == 2
    assert store.get(first) == "t1"  # now the most recently used
    third = store.keep(None, "t3")
    assert len(store) == 2 and store.get(second) is None
    assert store.keep(first, "t1b") == first and store.get(first) == "t1b"
    assert store.get(third) == "t3" and store.get(None) is None
