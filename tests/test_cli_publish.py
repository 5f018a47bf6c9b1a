"""``dwp publish`` against the real network: a few hundred files, then only what changed."""

from __future__ import annotations

import gzip
import json
import os
import random
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import brotli
import pytest
from typer.testing import Result

from browser_cli import compress
from browser_cli import publish as publish_module
from browser_cli.publish import LocalFile, Plan, Scan, Written, fold_keys, plan
from dwp.core.version import content_hash
from tests.conftest import Net
from tests.helpers import cli
from tests.sites import origin


@pytest.fixture
def dwp(net: Net, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """The ``dwp`` command with the token in ``DWP_TOKEN`` (nothing recorded)."""
    invoke = cli(net.url, tmp_path, monkeypatch)
    monkeypatch.setenv("DWP_TOKEN", net.token)
    return invoke


def site_name() -> str:
    return f"pub-{uuid.uuid4().hex[:8]}"


def make_tree(root: Path, count: int = 300) -> dict[str, bytes]:
    """Nested folders, unicode names, sizes from empty to past the chunk size."""
    rng = random.Random(5)
    folders = ["", "css", "img", "blog/2024", "blog/2025/été", "文档/深/层", "a b/c d"]
    sizes = [0, 1, 100, 5_000, 20_000, 70_000, 200_000]
    files: dict[str, bytes] = {}
    for i in range(count):
        folder = folders[i % len(folders)]
        name = f"{'ñandú-' if i % 5 == 0 else 'page'}{i}.{'html' if i % 3 else 'bin'}"
        rel = f"{folder}/{name}" if folder else name
        data = rng.randbytes(sizes[i % len(sizes)] if i % 50 else 1_000_000)
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files[rel] = data
    return files


def publish(dwp, folder: Path, site: str, *flags: str) -> dict:
    result = dwp("publish", str(folder), "--site", site, "--json", *flags)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def listing(dwp, site: str) -> dict[str, dict]:
    result = dwp("ls", f"{site}/", "--json")
    assert result.exit_code == 0, result.output
    return {e["key"]: e for e in json.loads(result.stdout)}


def test_publish_uploads_then_skips_then_mirrors(dwp, tmp_path: Path) -> None:
    folder, site = tmp_path / "tree", site_name()
    files = make_tree(folder)
    first = publish(dwp, folder, site)
    assert sorted(first["uploaded"]) == sorted(f"{site}/{rel}" for rel in files)
    assert first["unchanged"] == 0 and first["failed"] == [] and first["deleted"] == []
    assert first["bytes"] == sum(len(d) for d in files.values())
    stored = listing(dwp, site)
    assert set(stored) == {f"{site}/{rel}" for rel in files}
    for rel, data in files.items():
        entry = stored[f"{site}/{rel}"]
        assert (entry["size"], entry["hash"]) == (len(data), content_hash(data).hex())

    again = publish(dwp, folder, site)
    assert again["uploaded"] == [] and again["unchanged"] == len(files)

    changed = next(rel for rel in files if rel.startswith("blog/2025/"))
    (folder / changed).write_bytes(b"<p>new</p>")
    third = publish(dwp, folder, site)
    assert third["uploaded"] == [f"{site}/{changed}"]
    assert third["unchanged"] == len(files) - 1

    gone = next(rel for rel in files if rel.startswith("文档/"))
    (folder / gone).unlink()
    kept = publish(dwp, folder, site)
    assert kept["deleted"] == [] and f"{site}/{gone}" in listing(dwp, site)
    dry = publish(dwp, folder, site, "--delete", "--dry-run")
    assert dry["dry_run"] and dry["deleted"] == [f"{site}/{gone}"] and dry["uploaded"] == []
    assert f"{site}/{gone}" in listing(dwp, site)
    mirrored = publish(dwp, folder, site, "--delete")
    assert mirrored["deleted"] == [f"{site}/{gone}"] and mirrored["uploaded"] == []
    assert f"{site}/{gone}" not in listing(dwp, site)
    assert dwp("get", f"{site}/{gone}").exit_code == 1


def test_publish_reports_symlinks_and_unreadable_files(dwp, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    folder, site = tmp_path / "tree", site_name()
    folder.mkdir()
    (folder / "index.html").write_text("<h1>hi</h1>")
    (folder / "link.html").symlink_to(folder / "index.html")
    (folder / "linked-dir").symlink_to(tmp_path)
    os.mkfifo(folder / "pipe")
    result = dwp("publish", str(folder), "--site", site, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["uploaded"] == [f"{site}/index.html"]
    assert {s["path"] for s in summary["skipped"]} == {"link.html", "linked-dir", "pipe"}

    secret = folder / "secret.txt"
    secret.write_text("no")
    secret.chmod(0)
    if os.access(secret, os.R_OK):  # root reads anything: make the read fail instead
        real = publish_module.hash_file

        def refuse(path: Path) -> str:
            if path.name == "secret.txt":
                raise PermissionError(13, "Permission denied", str(path))
            return real(path)
        monkeypatch.setattr(publish_module, "hash_file", refuse)
    result = dwp("publish", str(folder), "--site", site)
    assert result.exit_code == 1
    assert "secret.txt" in result.stderr and "unreadable" in result.stderr
    assert "1 failed" in result.stdout


def test_publish_usage_errors(dwp, tmp_path: Path) -> None:
    assert dwp("publish", str(tmp_path / "missing"), "--site", "x").exit_code == 2
    assert dwp("publish", str(tmp_path), "--site", "a/b").exit_code == 2
    assert dwp("publish", str(tmp_path)).exit_code == 2


def local(key: str, digest: str = "h") -> LocalFile:
    return LocalFile(Path(key), key.split("/", 1)[1], key, 1, digest)


def test_plan_uploads_changed_and_conflicted_and_keeps_problem_paths() -> None:
    found = Scan(files=[local("s/same"), local("s/changed"), local("s/conflict"),
                        local("s/new")], kept=["s/unreadable", "s/linkdir"])
    entry = {"hash": "h", "siblings": 1}
    remote = {"s/same": entry, "s/changed": {**entry, "hash": "old"},
              "s/conflict": {**entry, "siblings": 2}, "s/gone": entry,
              "s/unreadable": entry, "s/linkdir/x": entry}
    todo = plan(found, remote, mirror=True)
    assert [f.key for f in todo.upload] == ["s/changed", "s/conflict", "s/new"]
    assert [f.key for f in todo.unchanged] == ["s/same"]
    assert todo.delete == ["s/gone"]
    assert plan(found, remote, mirror=False).delete == []


def test_fold_keys_covers_each_replicas_latest_writes() -> None:
    writes = [Written("a", "0", "n1", sent=0, done=0), Written("b", "0", "n1", sent=0, done=1),
              Written("c", "1", "n2", sent=0, done=2), Written("d", "0", "n1", sent=2, done=3),
              Written("e", "0", "n3", sent=1, done=4)]
    # on n1, d was sent last, after a and b were acknowledged: d alone covers them
    assert fold_keys(writes) == ["c", "d", "e"]
    assert fold_keys([]) == []


def test_publish_prints_the_site_origin_url(dwp, net: Net, tmp_path: Path) -> None:
    folder, site = tmp_path / "tree", site_name()
    folder.mkdir()
    (folder / "index.html").write_text("<h1>hi</h1>")
    port = urlsplit(net.url).port
    assert publish(dwp, folder, site)["url"] == f"http://{site}.localhost:{port}/"
    result = dwp("publish", str(folder), "--site", site)
    assert result.exit_code == 0, result.output
    assert f"Site at http://{site}.localhost:{port}/" in result.stdout


@pytest.mark.parametrize(("name", "broken", "said", "mended"), [
    ("_redirects", "# moved pages\n/old /new.html 301\n/lost /x.html 418\n",
     ["_redirects line 3 ('/lost /x.html 418')", "the status must be one of 200, 301"],
     "/old /new.html 301\n/app/* /app/index.html 200\n"),
    ("_headers", "/*\n  X-Frame-Options: DENY\n  Set-Cookie: id=1\n",
     ["_headers line 3 ('Set-Cookie: id=1'): set-cookie is refused", "nothing was published"],
     "/*\n  X-Frame-Options: DENY\n")])
def test_publish_refuses_a_broken_rules_file_naming_the_line(
        dwp, tmp_path: Path, name: str, broken: str, said: list[str], mended: str) -> None:
    folder, site = tmp_path / "tree", site_name()
    folder.mkdir()
    (folder / "index.html").write_text("<h1>hi</h1>")
    (folder / name).write_text(broken)
    result = dwp("publish", str(folder), "--site", site)
    assert result.exit_code == 2
    for words in said:
        assert words in result.stderr
    assert dwp("ls", f"{site}/").stdout.strip() == ""
    (folder / name).write_text(mended)
    assert publish(dwp, folder, site)["uploaded"] == [f"{site}/{name}", f"{site}/index.html"]


def test_publish_refuses_a_site_name_no_origin_can_hold(dwp, tmp_path: Path) -> None:
    folder = tmp_path / "tree"
    folder.mkdir()
    (folder / "index.html").write_text("<h1>hi</h1>")
    result = dwp("publish", str(folder), "--site", "ä" * 19)
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "cannot be a web origin" in message and "this name has 38" in message
    assert dwp("publish", str(folder), "--site", "ä" * 18, "--dry-run").exit_code == 0

    plain = "a" * 67  # its own label if short enough: the limit is 63 characters
    result = dwp("publish", str(folder), "--site", plain)
    message = " ".join(result.output.split())
    assert result.exit_code == 2 and "has 67 characters" in message
    assert "one DNS label of at most 63" in message and "bytes" not in message
    assert dwp("publish", str(folder), "--site", "a" * 63, "--dry-run").exit_code == 0


def test_publish_refuses_uppercase_naming_the_lowercase_site(dwp, net: Net,
                                                             tmp_path: Path) -> None:
    folder, site = tmp_path / "tree", site_name()
    folder.mkdir()
    (folder / "index.html").write_text("<h1>hi</h1>")
    upper = site.replace("pub", "Pub")
    result = dwp("publish", str(folder), "--site", upper)
    assert result.exit_code == 2
    assert f"use --site {site}" in " ".join(result.output.split())
    assert dwp("ls", upper, "--json").stdout.strip() == "[]"  # nothing was published
    assert publish(dwp, folder, site)["uploaded"] == [f"{site}/index.html"]


def sphinx_like_tree(root: Path, outside: Path) -> None:
    """A build whose ``_static/jquery.js`` links a shared copy, as Debian's Sphinx
    packages do, a linked folder, and (with ``outside``) a link leaving the tree."""
    (root / "shared").mkdir(parents=True)
    (root / "shared" / "jquery.js").write_bytes(b"/* jquery */")
    (root / "_static").mkdir()
    (root / "_static" / "jquery.js").symlink_to("../shared/jquery.js")
    (root / "docs").mkdir()
    (root / "docs" / "index.html").write_bytes(b"<h1>docs</h1>")
    (root / "latest").symlink_to("docs")
    (root / "docs" / "home").symlink_to("..")  # a loop: never walked round
    (root / "escape.txt").symlink_to(outside)


def test_scan_follows_links_that_stay_in_the_tree(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    sphinx_like_tree(tmp_path / "tree", outside)
    found = publish_module.scan(tmp_path / "tree", "s", follow_symlinks=True)
    assert sorted(f.rel for f in found.files) == [
        "_static/jquery.js", "docs/index.html", "latest/index.html", "shared/jquery.js"]
    jquery = next(f for f in found.files if f.rel == "_static/jquery.js")
    assert jquery.hash == content_hash(b"/* jquery */").hex() and jquery.size == 12
    failed = {p.rel: p.reason for p in found.problems if p.failed}
    assert failed == {
        "escape.txt": f"a symlink leading outside the folder (to {outside}), not followed",
        "docs/home": "a symlink to a folder it is in (to ..), not followed",
        "latest/home": "a symlink to a folder it is in (to ..), not followed"}
    assert [p for p in found.problems if not p.failed] == []


def test_scan_without_follow_skips_links_saying_why_once(tmp_path: Path) -> None:
    sphinx_like_tree(tmp_path / "tree", tmp_path)
    found = publish_module.scan(tmp_path / "tree", "s")
    assert sorted(f.rel for f in found.files) == ["docs/index.html", "shared/jquery.js"]
    reasons = {p.rel: p.reason for p in found.problems}
    assert set(reasons) == {"_static/jquery.js", "latest", "docs/home", "escape.txt"}
    assert set(reasons.values()) == {publish_module.SYMLINK_SKIPPED}
    assert "skipped" not in publish_module.SYMLINK_SKIPPED  # printed after "skipped X:"


def test_publish_follow_symlinks(dwp, tmp_path: Path) -> None:
    folder, site = tmp_path / "tree", site_name()
    sphinx_like_tree(folder, tmp_path / "outside.txt")
    (tmp_path / "outside.txt").write_text("secret")
    result = dwp("publish", str(folder), "--site", site, "--follow-symlinks")
    assert result.exit_code == 1, result.output
    assert ("failed escape.txt: a symlink leading outside the folder (to "
            f"{tmp_path / 'outside.txt'}), not followed") in " ".join(result.stderr.split())
    (folder / "escape.txt").unlink()
    (folder / "docs" / "home").unlink()
    summary = publish(dwp, folder, site, "--follow-symlinks")
    assert summary["skipped"] == [] and summary["failed"] == []
    got = dwp("get", f"{site}/_static/jquery.js", "-o", str(tmp_path / "got.js"))
    assert got.exit_code == 0, got.output
    assert (tmp_path / "got.js").read_bytes() == b"/* jquery */"
    assert f"{site}/latest/index.html" in listing(dwp, site)
    assert f"{site}/escape.txt" not in listing(dwp, site)


@pytest.mark.parametrize("name, text", [
    ("index.html", True), ("a/style.css", True), ("app.js", True), ("search.json", True),
    ("feed.xml", True), ("logo.svg", True), ("notes.txt", True), ("data.csv", True),
    ("photo.jpg", False), ("font.woff2", False), ("archive.zip", False),
    ("page.html.gz", False), ("no-suffix", False),
])
def test_which_files_are_text(name: str, text: bool) -> None:
    assert compress.is_text(name) is text


def test_siblings_go_after_their_files_and_again_with_them(tmp_path: Path) -> None:
    def local(key: str) -> LocalFile:
        return LocalFile(tmp_path / key, key, key, 1, "h")
    upload = [local("s/a.js.gz"), local("s/a.js"), local("s/b.js.br"), local("s/c.gz")]
    first, later = compress.after_their_files(upload)
    assert [f.key for f in first] == ["s/a.js", "s/b.js.br", "s/c.gz"]  # b.js, c: not sent
    assert [f.key for f in later] == ["s/a.js.gz"]
    todo = publish_module.with_fresh_siblings(
        Plan([local("s/a.js")], [local("s/a.js.br"), local("s/b.js.gz")], []))
    assert [f.key for f in todo.upload] == ["s/a.js", "s/a.js.br"]
    assert [f.key for f in todo.unchanged] == ["s/b.js.gz"]


def test_publish_compress(dwp, net: Net, tmp_path: Path) -> None:
    folder, site = tmp_path / "tree", site_name()
    page = ("<p>" + "the quick brown fox " * 300 + "</p>").encode()
    index = json.dumps([{"title": f"page {i}", "text": "words " * 30} for i in range(500)]
                       ).encode()
    files = {"index.html": page, "search/search_index.json": index, "small.css": b"p{}",
             "photo.jpg": random.Random(1).randbytes(5000), "own.txt": page,
             "own.txt.gz": b"the folder's own"}
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    summary = publish(dwp, folder, site, "--compress")
    made = {f"{rel}{suffix}" for rel in ("index.html", "search/search_index.json")
            for suffix in (".gz", ".br")} | {"own.txt.br"}
    assert set(summary["uploaded"]) == {f"{site}/{rel}" for rel in {*files, *made}}
    for rel in made:
        got = dwp("get", f"{site}/{rel}", "-o", str(tmp_path / "got"))
        assert got.exit_code == 0, got.output
        packed = (tmp_path / "got").read_bytes()
        original = files[rel[:-3]]
        assert len(packed) < len(original)
        assert (gzip.decompress(packed) if rel.endswith(".gz")
                else brotli.decompress(packed)) == original
    with origin(net, site, headers={"Accept-Encoding": "br"}) as h:
        r = h.get("/search/search_index.json")
        assert r.headers["content-encoding"] == "br" and r.content == index
    assert publish(dwp, folder, site, "--compress")["uploaded"] == []  # deterministic
    (folder / "index.html").write_bytes(page + b"<p>more</p>")
    again = publish(dwp, folder, site, "--compress")["uploaded"]
    assert sorted(again) == [f"{site}/index.html", f"{site}/index.html.br",
                             f"{site}/index.html.gz"]
    with origin(net, site, headers={"Accept-Encoding": "gzip"}) as h:
        r = h.get("/")
        assert r.headers["content-encoding"] == "gzip"
        assert r.content == page + b"<p>more</p>"
