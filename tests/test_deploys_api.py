"""A site's deploys over the API, in process (the gateway app over real nodes): a publish
makes a deploy of the site's keys and switches to it in one write; previews, promote,
rollback, aging out, refusals, and two switches at once ending as a conflict someone
resolves (docs/architecture.md, "Deploys")."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dwp.core import deploys
from dwp.core.deploys import Manifest
from dwp.core.version import Version, content_hash
from tests.conftest import Net, served_in_process
from tests.test_ui import make_zip

CONTEXT = "X-DWP-Context"


def new_site() -> str:
    return f"dep-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def h(inproc: Net) -> Iterator[httpx.Client]:
    with writer(inproc) as client:
        yield client


@contextlib.contextmanager
def writer(net: Net) -> Iterator[httpx.Client]:
    """A writer that sends back the context each answer gives, as the CLI does, so it
    reads what it wrote."""
    def keep(response: httpx.Response) -> None:
        if CONTEXT in response.headers:
            client.headers[CONTEXT] = response.headers[CONTEXT]
    with net.http(headers=net.auth, event_hooks={"response": [keep]}) as client:
        yield client


def put_files(h: httpx.Client, site: str, files: dict[str, bytes]) -> dict[str, str]:
    """Write the site's keys as `dwp publish` uploads them (no deploy per file); their
    hashes by path."""
    hashes = {}
    for path, body in files.items():
        r = h.put(f"/api/v1/objects/{site}/{path}", content=body, params={"deploy": "false"})
        assert r.status_code == 200, r.text
        hashes[path] = r.json()["hash"]
    return hashes


def deploy(h: httpx.Client, site: str, status: int = 201, **body: Any) -> httpx.Response:
    r = h.post(f"/api/v1/sites/{site}/deploys", json=body)
    assert r.status_code == status, r.text
    return r


def listed(h: httpx.Client, site: str) -> dict[str, Any]:
    r = h.get(f"/api/v1/sites/{site}/deploys")
    assert r.status_code == 200, r.text
    return dict(r.json())


def manifest(h: httpx.Client, site: str, deploy_id: str) -> Manifest:
    r = h.get(f"/api/v1/objects/{deploys.deploy_key(site, deploy_id)}")
    assert r.status_code == 200, r.text
    return deploys.decode(r.content)


def body_of(inproc: Net, f: deploys.File) -> bytes:
    """A file's bytes as its manifest's chunks hold them."""
    version = Version(f.content_type, f.size, f.hash, f.mtime, chunks=f.chunks)

    async def read() -> bytes:
        return b"".join([p async for p in inproc.client.body(version)])
    return bytes(inproc.transport.portal.call(read))  # type: ignore[attr-defined]


def test_a_publish_snapshots_every_file_as_chunks_and_goes_live(inproc: Net,
                                                                 h: httpx.Client) -> None:
    site = new_site()
    files = {"index.html": b"<h1>one</h1>", "big.bin": os.urandom(200_000), "empty": b"",
             "a/b.css": b"p{}"}
    hashes = put_files(h, site, files)
    made = deploy(h, site, files=hashes).json()
    assert made["live"] is True and made["conflict"] == []
    assert (made["files"], made["bytes"]) == (4, sum(map(len, files.values())))
    assert made["url"] == f"http://{site}.localhost:8000/"
    assert made["preview"] == f"http://{made['id']}.{site}.localhost:8000/"
    shown = listed(h, site)
    assert shown["live"] == [made["id"]]
    assert [(d["id"], d["live"], d["files"]) for d in shown["deploys"]] == [
        (made["id"], True, 4)]
    m = manifest(h, site, made["id"])
    assert [f.path for f in m.files] == sorted(files)
    for f in m.files:
        assert f.chunks and f.hash == content_hash(files[f.path])
        assert body_of(inproc, f) == files[f.path]


def test_a_publish_that_changed_nothing_answers_the_live_deploy(h: httpx.Client) -> None:
    site = new_site()
    hashes = put_files(h, site, {"index.html": b"one"})
    first = deploy(h, site, files=hashes).json()
    again = deploy(h, site, 200, files=hashes).json()
    assert (again["id"], again["new"], again["live"]) == (first["id"], False, True)
    assert [d["id"] for d in listed(h, site)["deploys"]] == [first["id"]]
    preview = deploy(h, site, preview=True).json()
    assert preview["new"] is True and preview["id"] != first["id"]


def test_a_preview_is_kept_but_not_live(h: httpx.Client) -> None:
    site = new_site()
    put_files(h, site, {"index.html": b"one"})
    first = deploy(h, site).json()
    put_files(h, site, {"index.html": b"two"})
    preview = deploy(h, site, preview=True).json()
    assert preview["live"] is False
    assert preview["preview"] == f"http://{preview['id']}.{site}.localhost:8000/"
    shown = listed(h, site)
    assert shown["live"] == [first["id"]]
    assert [d["id"] for d in shown["deploys"]] == [preview["id"], first["id"]]


def test_promote_and_rollback_switch_the_live_deploy(h: httpx.Client) -> None:
    site = new_site()
    put_files(h, site, {"index.html": b"one"})
    first = deploy(h, site).json()["id"]
    put_files(h, site, {"index.html": b"two"})
    second = deploy(h, site).json()["id"]
    r = h.put(f"/api/v1/sites/{site}/live", json={"deploy": first})
    assert r.status_code == 200, r.text
    assert r.json()["live"] == [first] and listed(h, site)["live"] == [first]
    assert h.put(f"/api/v1/sites/{site}/live", json={"deploy": second}).json()["live"] == [
        second]
    missing = h.put(f"/api/v1/sites/{site}/live", json={"deploy": "a" * 12})
    assert missing.status_code == 404 and "keeps no deploy" in missing.json()["detail"]


def test_a_file_written_meanwhile_fails_the_deploy_naming_it(h: httpx.Client) -> None:
    site = new_site()
    hashes = put_files(h, site, {"index.html": b"mine", "style.css": b"p{}"})
    put_files(h, site, {"index.html": b"someone else's"})
    r = deploy(h, site, 409, files=hashes)
    assert r.json()["error"] == "changed meanwhile"
    assert f"{site}/index.html" in r.json()["detail"]
    assert h.get(f"/api/v1/sites/{site}/deploys").status_code == 404


@pytest.mark.parametrize("key", [".live/x", ".deploy/x/aaaaaaaaaaaa"])
def test_plain_writes_of_deploy_keys_are_refused(inproc: Net, h: httpx.Client,
                                                 key: str) -> None:
    for method in ("PUT", "DELETE"):
        r = h.request(method, f"/api/v1/objects/{key}", content=b"aaaaaaaaaaaa")
        assert r.status_code == 400 and "dwp publish" in r.json()["detail"], r.text
    with inproc.ui() as ui:
        r = ui.post(f"/ui/edit/{key}", data={"content": "x"})
        assert r.status_code == 400 and "dwp publish" in r.json()["detail"], r.text


def test_writes_need_the_token_and_names_are_checked(inproc: Net, h: httpx.Client) -> None:
    site = new_site()
    with inproc.http() as anonymous:
        assert anonymous.post(f"/api/v1/sites/{site}/deploys", json={}).status_code == 401
        assert anonymous.put(f"/api/v1/sites/{site}/live",
                             json={"deploy": "a" * 12}).status_code == 401
        assert anonymous.delete(f"/api/v1/sites/{site}").status_code == 401
    r = h.post("/api/v1/sites/Docs/deploys", json={})
    assert r.status_code == 400 and "lowercase" in r.json()["detail"]
    assert h.post(f"/api/v1/sites/{site}/deploys", json={}).status_code == 404  # no files


def test_the_sites_list_shows_no_deploy_keys(inproc: Net, h: httpx.Client) -> None:
    site = new_site()
    put_files(h, site, {"index.html": b"one"})
    deploy(h, site)
    home = h.get("/")
    assert site in home.text
    assert ".deploy" not in home.text and ".live" not in home.text


def test_past_ten_deploys_the_oldest_age_out_but_never_the_live_one(h: httpx.Client) -> None:
    site = new_site()
    put_files(h, site, {"index.html": b"0"})
    live = deploy(h, site).json()["id"]
    previews = []
    for i in range(1, deploys.DEFAULT_KEEP_DEPLOYS + 2):
        put_files(h, site, {"index.html": str(i).encode()})
        previews.append(deploy(h, site, preview=True).json()["id"])
    shown = listed(h, site)
    assert shown["live"] == [live] and shown["limit"] == deploys.DEFAULT_KEEP_DEPLOYS
    assert [d["id"] for d in shown["deploys"]] == [*reversed(previews[1:]), live]
    gone = h.get(f"/api/v1/objects/{deploys.deploy_key(site, previews[0])}")
    assert gone.status_code == 404


def test_a_network_made_to_keep_two_deploys_ages_out_the_third(tmp_path: Path) -> None:
    """``dwp up --keep-deploys 2``: the network's view says how many, not a constant."""
    with served_in_process(tmp_path / "net", keep_deploys=2) as net, writer(net) as h:
        site = new_site()
        put_files(h, site, {"index.html": b"0"})
        live = deploy(h, site).json()["id"]
        previews = []
        for i in range(1, 5):
            put_files(h, site, {"index.html": str(i).encode()})
            previews.append(deploy(h, site, preview=True).json()["id"])
        shown = listed(h, site)
        assert shown["limit"] == 2
        assert [d["id"] for d in shown["deploys"]] == [*reversed(previews[2:]), live]
        for gone in previews[:2]:
            assert h.get(f"/api/v1/objects/{deploys.deploy_key(site, gone)}"
                         ).status_code == 404


def test_two_switches_from_one_past_are_a_conflict_a_promote_that_saw_both_resolves(
        h: httpx.Client) -> None:
    site = new_site()
    put_files(h, site, {"index.html": b"zero"})
    deploy(h, site)
    past = h.get(f"/api/v1/sites/{site}/deploys").headers[CONTEXT]
    put_files(h, site, {"index.html": b"ann's"})
    ann = deploy(h, site, live_context=past)
    assert ann.json()["conflict"] == []
    put_files(h, site, {"index.html": b"bob's"})
    bob = deploy(h, site, live_context=past).json()
    both = {ann.json()["id"], bob["id"]}
    assert bob["live"] is True and set(bob["conflict"]) == both
    shown = h.get(f"/api/v1/sites/{site}/deploys")
    assert set(shown.json()["live"]) == both
    saw_one = h.put(f"/api/v1/sites/{site}/live", json={"deploy": ann.json()["id"]},
                    headers={CONTEXT: ann.headers[CONTEXT]})
    assert set(saw_one.json()["live"]) == both  # it replaced ann's switch only
    saw_both = h.get(f"/api/v1/sites/{site}/deploys").headers[CONTEXT]
    r = h.put(f"/api/v1/sites/{site}/live", json={"deploy": bob["id"]},
              headers={CONTEXT: saw_both})
    assert r.json()["live"] == [bob["id"]] and listed(h, site)["live"] == [bob["id"]]


def test_rolling_back_a_thousand_file_site_is_one_write(inproc: Net, h: httpx.Client,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    site = new_site()
    old = {f"p/{i:04}.html": f"old {i}".encode() for i in range(1000)}
    put_files(h, site, old)
    before = deploy(h, site).json()["id"]
    put_files(h, site, {path: b"new" + body for path, body in old.items()})
    deploy(h, site)
    writes: list[str] = []
    for name in ("put", "delete", "store_chunks"):
        real = getattr(inproc.client, name)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            writes.append(f"{_name} {args[0] if _name != 'store_chunks' else ''}")
            return _real(*args, **kw)
        monkeypatch.setattr(inproc.client, name, counted)
    r = h.put(f"/api/v1/sites/{site}/live", json={"deploy": before})
    assert r.status_code == 200, r.text
    assert writes == [f"put {deploys.live_key(site)}"]
    monkeypatch.undo()
    m = manifest(h, site, listed(h, site)["live"][0])
    assert {f.path: f.hash for f in m.files} == {p: content_hash(b) for p, b in old.items()}
    for f in m.files[::97]:
        assert body_of(inproc, f) == old[f.path]


def test_removing_a_site_deletes_its_keys_and_live_deploy(h: httpx.Client) -> None:
    site = new_site()
    put_files(h, site, {"index.html": b"one", "a/b.txt": b"two"})
    made = deploy(h, site).json()["id"]
    r = h.delete(f"/api/v1/sites/{site}")
    assert r.status_code == 200, r.text
    assert r.json() == {"site": site, "deleted": 2, "live": True}
    assert h.get(f"/api/v1/objects/{site}/index.html").status_code == 404
    assert h.get(f"/api/v1/objects/{site}/index.html?history=true").json()["versions"]
    assert listed(h, site)["live"] == [] and listed(h, site)["deploys"][0]["id"] == made
    assert h.delete(f"/api/v1/sites/{site}").status_code == 404


def test_the_ui_form_makes_a_kept_deploy_live(inproc: Net, h: httpx.Client) -> None:
    site = new_site()
    put_files(h, site, {"index.html": b"one"})
    first = deploy(h, site).json()["id"]
    put_files(h, site, {"index.html": b"two"})
    deploy(h, site)
    with inproc.ui() as ui:
        page = ui.get(f"/ui/browse/{site}/")
        assert page.status_code == 200 and f'data-deploy="{first}"' in page.text
        r = ui.post(f"/ui/live/{site}", data={"deploy": first, "context": ""})
        assert r.status_code == 303 and r.headers["location"] == (
            f"/ui/browse/{site}/?live={first}#deploys")
        assert ui.post(f"/ui/live/{site}", data={"deploy": "a" * 12}).status_code == 404
    assert listed(h, site)["live"] == [first]


def test_an_edit_while_two_deploys_are_live_stays_in_the_keys(h: httpx.Client) -> None:
    """An edit has no one live deploy to build on during a conflict: it changes the key,
    names both live deploys, and makes none."""
    site = new_site()
    put_files(h, site, {"index.html": b"zero"})
    deploy(h, site)
    past = h.get(f"/api/v1/sites/{site}/deploys").headers[CONTEXT]
    for text in (b"ann's", b"bob's"):
        put_files(h, site, {"index.html": text})
        deploy(h, site, live_context=past)
    both = listed(h, site)
    r = h.put(f"/api/v1/objects/{site}/page.html", content=b"edit")
    assert r.status_code == 200, r.text
    assert set(r.headers["X-DWP-Live"].split()) == set(both["live"])
    assert listed(h, site) == both
    assert h.get(f"/api/v1/objects/{site}/page.html").content == b"edit"


def test_ui_edits_go_live_and_the_zip_upload_writes_keys_only(inproc: Net,
                                                               h: httpx.Client) -> None:
    """Saving, restoring and deleting a page in the UI each make a deploy from the live
    one; a zip unpacked by the publish page writes keys, and the page deploys after."""
    site = new_site()
    put_files(h, site, {"index.html": b"one", "old.html": b"old"})
    first = deploy(h, site).json()["id"]
    with inproc.ui() as ui:
        saved = ui.post(f"/ui/edit/{site}/index.html", data={"content": "two"})
        assert saved.status_code == 303, saved.text
        after_save = listed(h, site)
        assert after_save["live"] != [first] and after_save["deploys"][0]["author"] == "web UI"
        kept = h.get(f"/api/v1/objects/{site}/index.html?history=true").json()["versions"]
        restored = ui.post(f"/ui/restore/{site}/index.html",
                           data={"version": kept[-1]["version"]})
        assert restored.status_code == 303, restored.text
        gone = ui.post(f"/ui/delete/{site}/old.html", data={"context": ""})
        assert gone.status_code == 303, gone.text
        live = listed(h, site)["live"]
        files = {f.path: f.hash for f in manifest(h, site, live[0]).files}
        assert files == {"index.html": content_hash(b"one")}
        zipped = ui.post(f"/ui/zip/{site}", content=make_zip({"z.html": b"zip"}))
        assert zipped.status_code == 200, zipped.text
        assert listed(h, site)["live"] == live
    assert len(listed(h, site)["deploys"]) == 4


def test_a_plain_writer_of_a_site_without_deploys_asks_no_replica_for_its_live_key(
        inproc: Net, monkeypatch: pytest.MonkeyPatch) -> None:
    """The edit's read of ``.live/{site}`` is made with the writer's past before its
    write: a writer with none (wrk, curl) is answered by the gateway's record that the
    key is missing, so a write costs no second round trip."""
    site = new_site()
    monkeypatch.setattr(inproc.client.reads, "ttl", 600.0)  # the record outlives the test
    with inproc.http(headers=inproc.auth) as plain:
        assert plain.put(f"/api/v1/objects/{site}/a", content=b"0").status_code == 200
        reads: list[str] = []
        real = inproc.client.get

        def counted(key: str, *args: Any, **kw: Any) -> Any:
            reads.append(key)
            return real(key, *args, **kw)
        monkeypatch.setattr(inproc.client, "get", counted)
        for i in range(1, 4):
            r = plain.put(f"/api/v1/objects/{site}/a", content=str(i).encode())
            assert r.status_code == 200 and "X-DWP-Live" not in r.headers
    assert reads == []


def test_an_edit_pinned_to_a_replica_switches_the_live_deploy_unpinned(
        inproc: Net, h: httpx.Client) -> None:
    """``X-DWP-Replica`` pins the page's write; ``.live/{site}`` may be in another shard,
    which that replica does not hold, so the switch goes where its own key lives."""
    site = new_site()
    put_files(h, site, {"index.html": b"one"})
    first = deploy(h, site).json()["id"]
    live_shard = inproc.client.shard_of_key(deploys.live_key(site))
    path = next(p for p in (f"p{i}.html" for i in range(100))
                if inproc.client.shard_of_key(f"{site}/{p}") != live_shard)
    pinned = inproc.client.view.shards[inproc.client.shard_of_key(f"{site}/{path}")][0]
    r = h.put(f"/api/v1/objects/{site}/{path}", content=b"pinned",
              headers={"X-DWP-Replica": pinned})
    assert r.status_code == 200, r.text
    assert r.headers["X-DWP-Node"] == pinned and r.headers["X-DWP-Live"] != first
    assert h.get(f"/sites/{site}/{path}").content == b"pinned"
