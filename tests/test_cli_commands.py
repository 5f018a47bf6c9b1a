"""The ``dwp`` commands against the real network: bytes in and out, listings, the page
viewer, conflicts, network status, and the exit codes and messages of failures."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from typer.testing import CliRunner

from browser_cli import config
from browser_cli.main import app
from browser_cli.pages import candidates, link_target
from browser_cli.viewer import render_html
from dwp.core.labels import label_of
from dwp.core.version import content_hash
from tests.conftest import Net, eventually, free_port
from tests.helpers import unique
from tests.sites import origin


def test_put_then_get_is_byte_exact(dwp, tmp_path: Path, net: Net) -> None:
    site = unique("obj")
    data = bytes(range(256)) * 1200 + b"\x00tail"  # several chunks
    src = tmp_path / "blob.bin"
    src.write_bytes(data)
    key = f"{site}/données/blob ü.bin"
    result = dwp("put", str(src), key, "--json")
    assert result.exit_code == 0, result.output
    reply = json.loads(result.stdout)
    assert (reply["key"], reply["size"]) == (key, len(data))

    copy = tmp_path / ("a-copy-with-a-name-long-enough-to-pass-eighty-columns-" * 2 + ".bin")
    got = dwp("get", key, "-o", str(copy))
    assert got.exit_code == 0 and copy.read_bytes() == data
    assert got.stderr == f"{key} -> {copy} (300.0 KiB)\n"  # piped: never wrapped
    folder = tmp_path / "into"
    folder.mkdir()
    assert dwp("get", key, "-o", str(folder)).exit_code == 0
    assert (folder / "blob ü.bin").read_bytes() == data
    assert dwp("get", key).stdout_bytes == data
    unwritable = dwp("get", key, "-o", str(tmp_path / "no" / "such" / "file"))
    assert unwritable.exit_code == 1 and "cannot write" in unwritable.stderr
    assert config.context_for(net.url), "the context token is kept for the next command"


def test_ls_json_search_and_rm(dwp, tmp_path: Path) -> None:
    site = unique("ls")
    page = tmp_path / "p.html"
    page.write_text("<p>x</p>")
    for path in ("index.html", "blog/first.html", "blog/Second.html"):
        assert dwp("put", str(page), f"{site}/{path}").exit_code == 0
    result = dwp("ls", site, "--json")
    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)
    assert [e["key"] for e in entries] == [f"{site}/blog/Second.html",
                                           f"{site}/blog/first.html", f"{site}/index.html"]
    assert set(entries[0]) == {"key", "size", "content_type", "hash", "mtime", "siblings"}
    assert entries[0]["content_type"] == "text/html" and entries[0]["siblings"] == 1

    table = dwp("ls", site)
    assert table.exit_code == 0 and f"{site}/blog/first.html" in table.stdout
    found = json.loads(dwp("search", "SECOND", "--prefix", site, "--json").stdout)
    assert [e["key"] for e in found] == [f"{site}/blog/Second.html"]

    assert dwp("rm", f"{site}/index.html").exit_code == 0
    gone = dwp("get", f"{site}/index.html")
    assert gone.exit_code == 1 and gone.stderr.startswith("dwp: not found")
    assert dwp("rm", f"{site}/index.html").exit_code == 1


def test_ls_follows_cursor_pages(dwp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from browser_cli.http import Gateway

    site = unique("pages")
    small = tmp_path / "s.txt"
    small.write_text("s")
    for i in range(7):
        assert dwp("put", str(small), f"{site}/{i}.txt").exit_code == 0
    real = Gateway.objects

    def paged(self: Gateway, prefix: str = "", page: int = 1000):
        return real(self, prefix, 2)
    monkeypatch.setattr(Gateway, "objects", paged)
    entries = json.loads(dwp("ls", site, "--json").stdout)
    assert [e["key"] for e in entries] == [f"{site}/{i}.txt" for i in range(7)]


SITE_HTML = """<!doctype html><html><head><title>Garden notes</title>
<style>body { color: red }</style></head><body>
<h1>Garden <em>notes</em></h1>
<p>Read the <a href="about.html">about page</a>, the <a href="blog/">blog</a>
or <a href="https://example.org/x">elsewhere</a>.</p>
<ul><li>tomatoes</li><li><strong>basil</strong></li></ul>
<pre>water = 2 * litres</pre><script>alert("no")</script>
</body></html>"""


def test_view_renders_a_page_with_numbered_links(dwp, tmp_path: Path) -> None:
    site = unique("view")
    folder = tmp_path / "site"
    (folder / "blog").mkdir(parents=True)
    (folder / "index.html").write_text(SITE_HTML)
    (folder / "about.html").write_text("<h2>About</h2><p>Back <a href='index.html'>home</a>")
    (folder / "blog" / "index.html").write_text("<h1>Blog</h1>")
    assert dwp("publish", str(folder), "--site", site).exit_code == 0

    result = dwp("view", site)  # a site means its index.html
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "Garden notes" in text and "# Garden notes" in text
    assert "about page[1]" in text and "blog[2]" in text and "elsewhere[3]" in text
    assert "• tomatoes" in text and "water = 2 * litres" in text
    assert "alert" not in text and "color: red" not in text
    assert f"[1] {site}/about.html" in text
    assert f"[2] {site}/blog/" in text
    assert "[3] https://example.org/x" in text

    assert "# Blog" in dwp("view", f"{site}/blog").stdout
    assert "home[1]" in dwp("view", f"{site}/about.html").stdout
    missing = dwp("view", f"{site}/nothing.html")
    assert missing.exit_code == 1 and "not found" in missing.stderr


def test_open_uses_the_system_browser(dwp, net: Net, monkeypatch: pytest.MonkeyPatch,
                                      tmp_path: Path) -> None:
    spaced, plain = unique("my site"), unique("blog")
    page = tmp_path / "p.html"
    page.write_text("<p>x</p>")
    for key in (f"{spaced}/a b.html", f"{plain}/index.html"):
        assert dwp("put", str(page), key).exit_code == 0
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    assert dwp("open", f"{spaced}/a b.html").exit_code == 0
    assert dwp("open", plain).exit_code == 0
    port = urlsplit(net.url).port
    encoded = label_of(spaced)
    assert encoded is not None and encoded.startswith("u--")
    assert opened == [f"http://{encoded}.localhost:{port}/a%20b.html",
                      f"http://{plain}.localhost:{port}/"]
    monkeypatch.setattr("webbrowser.open", lambda url: False)
    assert dwp("open", plain).exit_code == 1


def test_open_says_when_the_page_does_not_exist(dwp, net: Net, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    site = unique("opens")
    page = tmp_path / "p.html"
    page.write_text("<p>x</p>")
    assert dwp("put", str(page), f"{site}/docs/index.html").exit_code == 0
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    missing = dwp("open", f"{site}/nope.html")
    port = urlsplit(net.url).port
    assert missing.exit_code == 1 and missing.stdout == ""
    assert missing.stderr == (f"dwp: not found: site '{site}' has no page '{site}/nope.html' "
                              f"(http://{site}.localhost:{port}/nope.html answers 404)\n")
    assert opened == []  # the browser is not opened on a 404
    assert dwp("open", f"{site}/docs").exit_code == 0  # a folder: it redirects to docs/
    assert opened == [f"http://{site}.localhost:{port}/docs"]


def test_open_without_a_page_opens_the_ui_signed_in(dwp, net: Net,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    result = dwp("open")
    assert result.exit_code == 0, result.output
    assert opened[0].startswith(f"{net.url}/?login=") and result.stdout.strip() == opened[0]
    with httpx.Client() as browser:
        r = browser.get(opened[0])
        assert r.status_code == 303 and "dwp_token" in r.headers["set-cookie"]
        assert browser.get(opened[0]).status_code == 401  # once only
    monkeypatch.setenv("XDG_CONFIG_HOME", str(net.data_dir / "no-config"))
    result = dwp("open")
    assert result.exit_code == 0 and opened[1] == net.url + "/"
    assert "not signed in" in result.stderr


def test_network_status(dwp, net: Net) -> None:
    result = dwp("network", "status", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert len(doc["nodes"]) == 4 and doc["health"] == {"ok": True, "detail": None}
    assert {"name", "epoch", "replicas", "partitions", "shards"} <= set(doc)
    table = dwp("network", "status")
    assert table.exit_code == 0 and "healthy" in table.stdout and "n1" in table.stdout


def test_conflicts_and_resolve(dwp, healed: Net, tmp_path: Path) -> None:
    net, key = healed, f"{unique('conflict')}/page.html"
    with net.http() as h:
        first = h.put(f"/api/v1/objects/{key}", content=b"base", headers=net.auth)
        a, b = net.shard_members(int(first.headers["x-dwp-shard"]))
        eventually(lambda: net.digests_equal())
        assert h.put("/api/v1/faults", json={"partitions": [[a], [b]]},
                     headers=net.auth).status_code == 204
        for node, body in ((a, b"from a"), (b, b"from b")):
            r = h.put(f"/api/v1/objects/{key}", content=body,
                      headers={**net.auth, "X-DWP-Replica": node})
            assert r.status_code == 200, r.text
        h.delete("/api/v1/faults", headers=net.auth)
    eventually(lambda: (json.loads(dwp("conflicts", key.split("/")[0], "--json").stdout)
                        or [{}])[0].get("key") == key)
    found = json.loads(dwp("conflicts", key.split("/")[0], "--json").stdout)
    assert len(found) == 1 and len(found[0]["siblings"]) == 2
    assert set(found[0]["siblings"][0]) == {"index", "size", "content_type", "hash", "mtime"}
    # numbered winner first (dwp.core.replica.live): the newest write, "from b", is #0
    first, second = found[0]["siblings"]
    assert first["mtime"] > second["mtime"]
    assert [first["hash"], second["hash"]] == [content_hash(b).hex()
                                               for b in (b"from b", b"from a")]

    assert dwp("resolve", key).exit_code == 2  # neither --keep nor --file
    assert dwp("resolve", key, "--keep", "5").exit_code == 2
    result = dwp("resolve", key, "--keep", "1", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["hash"] == content_hash(b"from a").hex()
    eventually(lambda: json.loads(dwp("conflicts", key.split("/")[0], "--json").stdout) == [])
    assert dwp("get", key).stdout_bytes == b"from a"


def test_exit_codes_and_messages(dwp, net: Net, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    missing = dwp("get", f"{unique('none')}/x.html")
    assert missing.exit_code == 1 and missing.stderr.count("\n") == 1
    assert dwp("get").exit_code == 2
    assert dwp("no-such-command").exit_code == 2
    bad_key = dwp("get", "site//x")
    assert bad_key.exit_code == 2 and "empty path segment" in bad_key.stderr

    down = dwp("ls", "--gateway", f"http://127.0.0.1:{free_port()}")
    assert down.exit_code == 1
    assert "cannot reach" in down.stderr and "dwp up" in down.stderr
    assert dwp("ls", "--gateway", "ftp://x").exit_code == 2

    file = tmp_path / "f.txt"
    file.write_text("f")
    config.record_token(net.url, "wrong")
    wrong = dwp("put", str(file), f"{unique('auth')}/f.txt")
    assert wrong.exit_code == 1 and "refused the network token" in wrong.stderr
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "empty"))
    none = dwp("put", str(file), f"{unique('auth')}/f.txt")
    assert none.exit_code == 1 and "no network token" in none.stderr


def test_a_context_token_from_another_network_is_dropped(dwp, net: Net, tmp_path: Path) -> None:
    config.record_context(net.url, "bm90IGEgdG9rZW4")
    result = dwp("get", f"{unique('ctx')}/x")
    assert result.exit_code == 1 and "not found" in result.stderr
    assert config.context_for(net.url) != "bm90IGEgdG9rZW4"


def test_put_gives_a_compressed_file_the_type_the_api_gives(dwp, tmp_path: Path) -> None:
    """One function decides the type (``tests/test_content_types.py``): ``.gz`` is gzip."""
    local = tmp_path / "changelog.html.gz"
    local.write_bytes(gzip.compress(b"<h1>changes</h1>", mtime=0))
    result = dwp("put", str(local), f"{unique('ct-cli')}/changelog.html.gz", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["content_type"] == "application/gzip"


@pytest.mark.parametrize("key", ["SITE/../etc/passwd", "SITE/a/./b.html", "SITE/a//b",
                                 "SITE/.."])
def test_dot_segments_are_refused_and_change_nothing(dwp, net: Net, tmp_path: Path,
                                                     key: str) -> None:
    site = unique("dots")
    key = key.replace("SITE", site)
    victim = f"{site}/etc/passwd" if ".." in key else f"{site}/a/b.html"
    local = tmp_path / "f.txt"
    local.write_text("original")
    assert dwp("put", str(local), victim).exit_code == 0
    local.write_text("overwritten")
    for args in (("put", str(local), key), ("rm", key), ("get", key)):
        result = dwp(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith(f"dwp: invalid key {key!r}: the key has ")
    with net.http() as h:
        assert h.get(f"/api/v1/objects/{victim}").content == b"original"


def test_render_html_structure() -> None:
    page = render_html("<title>T</title><h2>Sub</h2><ol><li>a</li><li>b <code>c</code></li>"
                       "</ol><blockquote>q</blockquote><table><tr><th>h1</th><th>h2</th>"
                       "</tr></table><p>x<br>y <img alt='cat'></p>")
    text = page.text.plain
    assert page.title == "T"
    assert "## Sub" in text and "1. a" in text and "2. b c" in text and "│ q" in text
    assert "h1 | h2" in text and "x\ny [image: cat]" in text
    assert render_html("<h1>Only heading</h1>").title == "Only heading"


def test_link_targets_and_candidates() -> None:
    gw = "http://127.0.0.1:8000"
    assert link_target(gw, "s/a/b.html", "../c.html") == ("s/c.html", f"{gw}/sites/s/c.html")
    assert link_target(gw, "s/a/b.html", "d/")[0] == "s/a/d/"  # its index.html or listing
    assert link_target(gw, "s/ü.html", "%C3%A9.html#top")[0] == "s/é.html"
    assert link_target(gw, "s/x.html", "mailto:a@b")[0] is None
    assert link_target(gw, "s/x.html", "https://other.org/")[0] is None
    # a site is served at its origin's root: an absolute path is the site's own
    assert link_target(gw, "s/a/b.html", "/assets/c.css") == ("s/assets/c.css",
                                                              f"{gw}/sites/s/assets/c.css")
    assert link_target(gw, "s/a/b.html", "/docs/")[0] == "s/docs/"
    assert link_target(gw, "s/a/b.html", "//cdn.example/x.js")[0] is None
    assert candidates("site") == ["site/index.html"]
    assert candidates("site/dir/") == ["site/dir/index.html"]
    assert candidates("site/a.html") == ["site/a.html", "site/a.html/index.html"]


def test_the_installed_command_pipes_bytes_and_pages(net: Net, tmp_path: Path) -> None:
    dwp = Path(sys.executable).parent / "dwp"
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "DWP_GATEWAY": net.url, "DWP_TOKEN": net.token}
    site = unique("proc")
    page = tmp_path / "index.html"
    page.write_bytes(b"<h1>Piped</h1><p>see <a href='b.html'>b</a>\xff</p>")

    def call(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([str(dwp), *args], env=env, capture_output=True, timeout=60)
    assert call("put", str(page), f"{site}/index.html").returncode == 0
    assert call("get", f"{site}/index.html").stdout == page.read_bytes()
    shown = call("view", f"{site}/")
    assert shown.returncode == 0 and b"# Piped" in shown.stdout and b"b[1]" in shown.stdout
    assert b"\x1b[" not in shown.stdout, "no colour codes when piped"
    assert call("get", f"{site}/missing").returncode == 1
    assert call("get").returncode == 2


def test_a_folder_argument_means_that_folder(dwp, tmp_path: Path) -> None:
    """`dwp ls garden` is garden/ (and a key named garden), never garden2/ or garden-x/;
    --prefix keeps the string prefix. The same for search and conflicts."""
    site = unique("fold")
    page = tmp_path / "p.html"
    page.write_text("<p>x</p>")
    keys = [site, f"{site}/a.html", f"{site}/notes/b.html", f"{site}-x/c.html",
            f"{site}2/d.html"]
    for key in keys:
        assert dwp("put", str(page), key).exit_code == 0

    def listed(*args: str) -> list[str]:
        result = dwp(*args, "--json")
        assert result.exit_code == 0, result.output
        return [e["key"] for e in json.loads(result.stdout)]
    assert listed("ls", site) == [site, f"{site}/a.html", f"{site}/notes/b.html"]
    assert listed("ls", f"{site}/") == [f"{site}/a.html", f"{site}/notes/b.html"]
    assert listed("ls", f"{site}/notes") == [f"{site}/notes/b.html"]
    assert listed("ls", f"{site}/a.html") == [f"{site}/a.html"]
    assert listed("ls", "--prefix", site) == sorted(keys)
    assert listed("search", "html", "--in", site) == [f"{site}/a.html", f"{site}/notes/b.html"]
    assert listed("search", "html", "--prefix", site) == sorted(keys)[1:]
    assert listed("conflicts", site) == []
    both = dwp("ls", site, "--prefix", site)
    assert both.exit_code == 2 and "a folder or --prefix, not both" in both.output
    empty = dwp("ls", f"{site}/nothing")
    assert empty.exit_code == 0 and empty.stderr == f"no objects in folder '{site}/nothing/'\n"


def test_view_shows_a_folders_listing_as_its_site_does(dwp, net: Net, tmp_path: Path) -> None:
    site = unique("listing")
    page = tmp_path / "p.html"
    page.write_text("<p>x</p>")
    for key in (f"{site}/index.html", f"{site}/notes/basil.html", f"{site}/notes/old/a.html"):
        assert dwp("put", str(page), key).exit_code == 0
    with origin(net, site) as h:  # what a browser shows at the folder
        shown = render_html(h.get("/notes/").text)
    for target in (f"{site}/notes/", f"{site}/notes"):
        result = dwp("view", target)
        assert result.exit_code == 0, result.output
        assert f"Index of /{site}/notes/" in result.stdout
        assert shown.text.plain in result.stdout
        assert f"[1] {site}/  ../" in result.stdout  # the parent folder
        assert f"[2] {site}/notes/basil.html" in result.stdout
        assert f"[3] {site}/notes/old/" in result.stdout
    missing = dwp("view", f"{site}/nothing/")
    assert missing.exit_code == 1 and missing.stderr.startswith("dwp: not found")


def test_sizes_read_the_same_in_the_cli_and_the_web_ui(dwp, net: Net, tmp_path: Path) -> None:
    site = unique("sizes")
    local = tmp_path / "notes.txt"
    local.write_bytes(b"x" * 1700)
    put = dwp("put", str(local), f"{site}/notes.txt")
    assert put.exit_code == 0 and "  1.7 KiB  " in put.stdout
    assert "1.7 KiB" in dwp("ls", site).stdout
    with net.http() as h:
        assert "1.7 KiB" in h.get(f"/ui/browse/{site}/").text


@pytest.mark.parametrize("command", [
    ["publish"], ["put"], ["get"], ["rm"], ["ls"], ["search"], ["view"], ["open"],
    ["conflicts"], ["resolve"], ["history"], ["restore"], ["gc"], ["up"],
    ["network", "status"], ["network", "join"], ["network", "leave"], ["network", "create"],
    ["node", "start"], ["site", "deploy"], ["site", "deploys"], ["site", "promote"],
    ["site", "rollback"], ["site", "rm"]])
def test_help_shows_flags_without_a_value(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    options = [line.split() for line in result.output.splitlines()
               if line.strip().startswith("--")]
    help_line = next(words for words in options if words[0] == "--help")
    assert help_line[1] == "Show", help_line  # the flag, then its help: no value


def test_every_command_that_talks_to_a_gateway_takes_a_network() -> None:
    from typer.main import get_command

    def commands(group: Any, path: str = "dwp") -> Iterator[tuple[str, Any]]:
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                yield from commands(command, f"{path} {name}")
            else:
                yield f"{path} {name}", command

    checked = []
    for name, command in commands(get_command(app)):
        params = {p.name: p for p in command.params}
        if "gateway" in params:
            assert "network" in params, name
            assert params["network"].opts == ["--network"], name
            assert params["network"].envvar == "DWP_NETWORK", name
            checked.append(name)
    assert len(checked) == 22, checked


def test_network_create_prints_text_unless_json(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Piped, a command the output shows stays on one line however long its path."""
    monkeypatch.chdir(tmp_path)
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "club"
    result = CliRunner().invoke(app, ["network", "create", "club", "--nodes", "1",
                                      "--replicas", "1", "--data-dir", str(deep)])
    assert result.exit_code == 0, result.output
    view_id = json.loads((deep / "view.json").read_text())["id"]
    assert result.stdout.splitlines() == [
        f"Created network 'club' (id {view_id}): 1 node, 1 shard x 1 replica, in {deep}",
        f"Its write token is in {deep / 'token'}. Serve it with: dwp up --data-dir {deep}"]
    again = CliRunner().invoke(app, ["network", "create", "club2", "--data-dir",
                                     str(tmp_path / "club2"), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["nodes"] == ["n1", "n2", "n3", "n4"]
