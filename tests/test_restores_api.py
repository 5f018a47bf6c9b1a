"""Restoring a kept version and keeping a sibling through the object API
(``PUT /api/v1/objects/{key}?restore=ID``, ``?keep=HASH``), in process: the context each
write carries (a restore supersedes whatever is current, a keep only what its caller
saw), an edit of a deployed site going live as a deploy, and every refusal a 4xx JSON
error that writes nothing."""

from __future__ import annotations

from typing import Any

import httpx

from dwp.core import deploys
from dwp.core.version import CHUNK_SIZE, content_hash
from tests.conftest import Net
from tests.helpers import put, unique

CONTEXT = "X-DWP-Context"


def url(key: str) -> str:
    return f"/api/v1/objects/{key}"


def history(h: httpx.Client, key: str) -> list[dict[str, Any]]:
    r = h.get(url(key), params={"history": "true"})
    assert r.status_code == 200, r.text
    return list(r.json()["versions"])


def siblings(h: httpx.Client, key: str) -> httpx.Response:
    r = h.get(url(key), params={"siblings": "true"})
    assert r.status_code == 200, r.text
    return r


def in_conflict(h: httpx.Client, net: Net, key: str, *bodies: bytes) -> str:
    """``key`` written once, then once per body with that first write's context: as many
    siblings as bodies. The context of the first write."""
    base = put(h, net, key, b"base").headers[CONTEXT]
    for body in bodies:
        put(h, net, key, body, context=base)
    return base


def test_a_restore_makes_an_old_version_current_over_what_the_caller_never_saw(
        inproc: Net) -> None:
    key = f"{unique('apirestore')}/data.bin"
    old = bytes(range(256)) * (3 * CHUNK_SIZE // 256) + b"tail"  # several chunks
    with inproc.http() as h:
        put(h, inproc, key, old, "application/x-old")
        seen = put(h, inproc, key, b"new", "text/plain").headers[CONTEXT]
        wanted = history(h, key)[1]
        assert wanted["hash"] == content_hash(old).hex()
        put(h, inproc, key, b"someone else's")  # after the caller's last read

        r = h.put(url(key), params={"restore": wanted["version"]},
                  headers={**inproc.auth, CONTEXT: seen})
        assert r.status_code == 200, r.text
        assert r.json() == {"key": key, "size": len(old), "content_type": "application/x-old",
                            "hash": content_hash(old).hex(), "shard": r.json()["shard"],
                            "node": r.json()["node"]}
        assert r.headers["etag"] == f'"{content_hash(old).hex()}"'
        now = h.get(url(key), headers={CONTEXT: r.headers[CONTEXT]})
        assert now.content == old and now.headers["content-type"] == "application/x-old"
        assert "x-dwp-siblings" not in now.headers, "the restore superseded what was current"
        after = history(h, key)
        assert [v["hash"] for v in after] == [content_hash(b).hex() for b in (
            old, b"someone else's", b"new", old)]
        assert after[0]["current"] and after[0]["version"] != wanted["version"]


def test_a_deleted_key_is_restored(inproc: Net) -> None:
    key = f"{unique('apiundelete')}/index.html"
    with inproc.http() as h:
        put(h, inproc, key, b"<h1>kept</h1>")
        assert h.delete(url(key), headers=inproc.auth).status_code == 204
        tombstone, kept = history(h, key)
        assert tombstone["deleted"] and not kept["deleted"]
        r = h.put(url(key), params={"restore": kept["version"]}, headers=inproc.auth)
        assert r.status_code == 200, r.text
        back = h.get(url(key))
        assert back.content == b"<h1>kept</h1>"
        assert back.headers["content-type"].startswith("text/html")


def test_a_keep_replaces_the_siblings_its_context_saw_and_no_other(inproc: Net) -> None:
    key = f"{unique('apikeep')}/notes.md"
    with inproc.http() as h:
        base = in_conflict(h, inproc, key, b"from ann", b"from bob")
        listing = siblings(h, key)
        assert len(listing.json()["siblings"]) == 2
        chosen = next(s for s in listing.json()["siblings"]
                      if s["hash"] == content_hash(b"from ann").hex())
        put(h, inproc, key, b"from cy", context=base)  # after the listing was read

        r = h.put(url(key), params={"keep": chosen["hash"]},
                  headers={**inproc.auth, CONTEXT: listing.headers[CONTEXT]})
        assert r.status_code == 200, r.text
        assert r.json()["hash"] == chosen["hash"] and r.json()["size"] == len(b"from ann")
        left = siblings(h, key).json()["siblings"]
        assert sorted(s["hash"] for s in left) == sorted(
            content_hash(b).hex() for b in (b"from ann", b"from cy")), (
            "the sibling written after the listing stays")

        listing = siblings(h, key)
        r = h.put(url(key), params={"keep": content_hash(b"from cy").hex()},
                  headers={**inproc.auth, CONTEXT: listing.headers[CONTEXT]})
        assert r.status_code == 200, r.text
        now = h.get(url(key))
        assert now.content == b"from cy" and "x-dwp-siblings" not in now.headers


def test_refusals_are_4xx_json_and_write_nothing(inproc: Net) -> None:
    key = f"{unique('apirefuse')}/page.html"
    with inproc.http() as h:
        in_conflict(h, inproc, key, b"one", b"two")
        listing = siblings(h, key)
        hashes = [s["hash"] for s in listing.json()["siblings"]]
        old = history(h, key)[-1]["version"]
        replica = old.rpartition(":")[0]
        auth = {**inproc.auth, CONTEXT: listing.headers[CONTEXT]}
        refused = [
            ({"restore": f"{replica}:999999"}, None, 404, "keeps no version"),
            ({"restore": "not-a-version"}, None, 400, "is not a version id"),
            ({"restore": ""}, None, 400, "is not a version id"),
            ({"keep": "ab" * 32}, None, 404, "has no sibling with hash"),
            ({"keep": "not hex"}, None, 400, "is not a content hash"),
            ({"keep": hashes[0][:-2]}, None, 400, "is not a content hash"),
            ({"keep": hashes[0].upper()}, None, 400, "is not a content hash"),
            ({"restore": old, "keep": hashes[0]}, None, 400, "not both"),
            ({"restore": old}, b"new bytes", 400, "takes no body"),
            ({"keep": hashes[0]}, b"new bytes", 400, "takes no body"),
        ]
        for params, body, status, said in refused:
            r = h.put(url(key), params=params, content=body, headers=auth)
            assert r.status_code == status, (params, r.text)
            assert r.json()["error"] and said in r.json()["detail"], (params, r.json())

        def chunked() -> Any:
            yield b"streamed"
        r = h.put(url(key), params={"keep": hashes[0]}, content=chunked(), headers=auth)
        assert r.status_code == 400 and "takes no body" in r.json()["detail"], r.text
        assert h.put(url(key), params={"keep": hashes[0]}).status_code == 401
        assert h.put(url(f"{key.split('/')[0]}//x"), params={"keep": hashes[0]},
                     headers=auth).status_code == 400

        r = h.put(url(key), params={"restore": history(h, key)[0]["version"]}, headers=auth)
        assert r.status_code == 200, "a current version may be written again"
        h.delete(url(key), headers={**inproc.auth, CONTEXT: r.headers[CONTEXT]})
        tombstone = history(h, key)[0]
        assert tombstone["deleted"]
        r = h.put(url(key), params={"restore": tombstone["version"]}, headers=inproc.auth)
        assert r.status_code == 404 and "is a delete" in r.json()["detail"], r.text
        r = h.put(url(key), params={"keep": hashes[0]}, headers=inproc.auth)
        assert r.status_code == 404, "a deleted key has no sibling to keep"
        assert h.get(url(key)).status_code == 404, "no refusal wrote anything"
        never = f"{unique('apinever')}/x.html"
        assert h.put(url(never), params={"restore": old},
                     headers=inproc.auth).status_code == 404
        assert h.get(url(never)).status_code == 404


def live_files(h: httpx.Client, site: str) -> tuple[str, str, dict[str, bytes]]:
    """The site's one live deploy: its id, its author and its files' hashes."""
    live = h.get(f"/api/v1/sites/{site}/deploys").json()
    assert len(live["live"]) == 1, live
    found = h.get(url(deploys.deploy_key(site, live["live"][0])))
    made = deploys.decode(found.content)
    return made.id, made.author, {f.path: f.hash for f in made.files}


def test_a_restore_and_a_keep_of_a_deployed_page_go_live_as_deploys(inproc: Net) -> None:
    site = unique("apidep")
    page = f"{site}/index.html"
    with inproc.http() as h:
        written = put(h, inproc, page, b"first")
        assert h.post(f"/api/v1/sites/{site}/deploys", json={}, headers={
            **inproc.auth, CONTEXT: written.headers[CONTEXT]}).status_code == 201
        put(h, inproc, page, b"second")
        first = history(h, page)[1]["version"]
        ann = {**inproc.auth, "X-DWP-Author": "ann@laptop"}

        kept_out = h.put(url(page), params={"restore": first, "deploy": "false"}, headers=ann)
        assert kept_out.status_code == 200 and "x-dwp-live" not in kept_out.headers
        assert live_files(h, site)[2] == {"index.html": content_hash(b"second")}

        r = h.put(url(page), params={"restore": first}, headers=ann)
        assert r.status_code == 200, r.text
        deploy_id, author, files = live_files(h, site)
        assert r.headers["x-dwp-live"] == deploy_id and author == "ann@laptop"
        assert files == {"index.html": content_hash(b"first")}

        in_conflict(h, inproc, page, b"ann's", b"bob's")
        listing = siblings(h, page)
        assert live_files(h, site)[2] == {"index.html": content_hash(b"bob's")}
        r = h.put(url(page), params={"keep": content_hash(b"ann's").hex()},
                  headers={**ann, "X-DWP-Author": "bob@desk", CONTEXT: listing.headers[CONTEXT]})
        assert r.status_code == 200, r.text
        deploy_id, author, files = live_files(h, site)
        assert r.headers["x-dwp-live"] == deploy_id and author == "bob@desk"
        assert files == {"index.html": content_hash(b"ann's")}
