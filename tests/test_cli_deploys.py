"""``dwp publish`` makes a deploy; ``dwp site deploys|promote|rollback|rm`` against the
real network."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from typer.testing import Result

from browser_cli import publish as publish_module
from tests.conftest import Net

Dwp = Callable[..., Result]


def site_name() -> str:
    return f"dep-{uuid.uuid4().hex[:8]}"


def publish(dwp: Dwp, folder: Path, site: str, text: str, *flags: str) -> dict[str, Any]:
    folder.mkdir(exist_ok=True)
    (folder / "index.html").write_text(text)
    result = dwp("publish", str(folder), "--site", site, "--json", *flags)
    assert result.exit_code == 0, result.output
    made: dict[str, Any] = json.loads(result.stdout)["deploy"]
    return made


def listed(dwp: Dwp, site: str) -> dict[str, Any]:
    result = dwp("site", "deploys", site, "--json")
    assert result.exit_code == 0, result.output
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def test_publish_goes_live_and_preview_does_not(dwp: Dwp, net: Net, tmp_path: Path) -> None:
    site, folder = site_name(), tmp_path / "site"
    port = urlsplit(net.url).port
    first = publish(dwp, folder, site, "one")
    assert first["live"] is True and first["files"] == 1
    (folder / "index.html").write_text("two")
    result = dwp("publish", str(folder), "--site", site, "--preview")
    assert result.exit_code == 0, result.output
    preview = listed(dwp, site)["deploys"][0]["id"]
    assert (f"Preview of deploy {preview} at http://{preview}.{site}.localhost:{port}/; "
            f"`dwp site promote {site} {preview}` makes it live") in result.stdout
    assert listed(dwp, site)["live"] == [first["id"]]
    table = dwp("site", "deploys", site)
    assert table.exit_code == 0, table.output
    rows = [line.split() for line in table.stdout.splitlines()]
    assert rows[0] == ["DEPLOY", "TIME", "WHO", "FILES", "BYTES", "LIVE"]
    assert [r[0] for r in rows[1:]] == [preview, first["id"]]
    assert rows[2][-1] == "live" and rows[1][-1] != "live"
    assert "@" in rows[1][3]  # who: user@host


def test_promote_rollback_and_nothing_to_roll_back_to(dwp: Dwp, tmp_path: Path) -> None:
    site, folder = site_name(), tmp_path / "site"
    first = publish(dwp, folder, site, "one")["id"]
    lone = dwp("site", "rollback", site)
    assert lone.exit_code == 2
    assert f"keeps no deploy older than the live one ({first})" in lone.stderr
    second = publish(dwp, folder, site, "two")["id"]
    back = dwp("site", "rollback", site)
    assert back.exit_code == 0, back.output
    assert f"Deploy {first} of site '{site}' is live" in back.stdout
    assert listed(dwp, site)["live"] == [first]
    again = dwp("site", "promote", site, second)
    assert again.exit_code == 0, again.output
    assert listed(dwp, site)["live"] == [second]
    named = dwp("site", "rollback", site, first)
    assert named.exit_code == 0 and listed(dwp, site)["live"] == [first]
    unknown = dwp("site", "promote", site, "a" * 12)
    assert unknown.exit_code == 1 and "keeps no deploy 'aaaaaaaaaaaa'" in unknown.stderr


def test_two_publishes_at_once_are_a_conflict_promote_resolves(
        dwp: Dwp, net: Net, tmp_path: Path, monkeypatch: Any) -> None:
    site, folder = site_name(), tmp_path / "site"
    publish(dwp, folder, site, "zero")
    with httpx.Client(base_url=net.url, timeout=60) as h:
        past = h.get(f"/api/v1/sites/{site}/deploys").headers["X-DWP-Context"]
    ann = publish(dwp, folder, site, "ann's")

    async def read_before_ann(*_: Any) -> tuple[None, str]:
        return None, past  # bob read the deploys before ann's switch
    (folder / "index.html").write_text("bob's")
    with monkeypatch.context() as patched:
        patched.setattr(publish_module, "deploys_of", read_before_ann)
        bob = dwp("publish", str(folder), "--site", site)
    assert bob.exit_code == 0, bob.output
    both = listed(dwp, site)["live"]
    assert len(both) == 2 and ann["id"] in both
    named = f"`dwp site promote {site} {both[0]}`"
    assert named in bob.stderr and "conflict" in bob.stderr
    shown = dwp("site", "deploys", site)
    assert named in shown.stderr
    resolved = dwp("site", "promote", site, ann["id"])
    assert resolved.exit_code == 0, resolved.output
    assert listed(dwp, site)["live"] == [ann["id"]]


def test_site_rm_removes_keys_and_live_deploy(dwp: Dwp, tmp_path: Path) -> None:
    site, folder = site_name(), tmp_path / "site"
    publish(dwp, folder, site, "one")
    result = dwp("site", "rm", site)
    assert result.exit_code == 0, result.output
    assert f"removed site '{site}': 1 key deleted" in result.stderr
    assert json.loads(dwp("ls", f"{site}/", "--json").stdout) == []
    assert listed(dwp, site)["live"] == []
    assert dwp("site", "rm", site).exit_code == 1
    bad = dwp("site", "deploys", "Docs")
    assert bad.exit_code == 2 and "lowercase" in bad.stderr


def test_nothing_goes_live_when_a_file_failed(dwp: Dwp, tmp_path: Path) -> None:
    site, folder = site_name(), tmp_path / "site"
    folder.mkdir()
    (folder / "index.html").write_text("one")
    (folder / "gone.html").symlink_to(tmp_path / "nowhere.html")
    result = dwp("publish", str(folder), "--site", site, "--follow-symlinks", "--json")
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["deploy"] is None
    assert dwp("site", "deploys", site).exit_code == 1


def test_an_edit_with_put_or_rm_goes_live_as_a_deploy_from_the_live_one(
        dwp: Dwp, net: Net, tmp_path: Path) -> None:
    """``dwp put`` and ``dwp rm`` of a deployed site's page make a new deploy from the
    live one, live at once; after a rollback an edit builds on the rolled-back deploy,
    not on the keys the rollback left behind."""
    site, folder = site_name(), tmp_path / "site"
    first = publish(dwp, folder, site, "one")["id"]
    (folder / "index.html").write_text("two")
    assert dwp("publish", str(folder), "--site", site).exit_code == 0
    rolled = dwp("site", "rollback", site, first)
    assert rolled.exit_code == 0, rolled.output
    page = tmp_path / "other.html"
    page.write_text("other")
    with httpx.Client(base_url=net.url, timeout=60) as h:
        def served(path: str) -> httpx.Response:
            return h.get(f"/sites/{site}/{path}")
        put = dwp("put", str(page), f"{site}/other.html")
        assert put.exit_code == 0, put.output
        made = listed(dwp, site)
        assert made["live"] != [first] and len(made["deploys"]) == 3
        assert f"site '{site}': deploy {made['live'][0]} is live" in put.stderr
        assert served("other.html").text == "other" and served("index.html").text == "one"
        assert made["deploys"][0]["author"] and made["deploys"][0]["files"] == 2
        removed = dwp("rm", f"{site}/other.html")
        assert removed.exit_code == 0, removed.output
        after = listed(dwp, site)["live"]
        assert after != made["live"] and f"deploy {after[0]} is live" in removed.stderr
        assert served("other.html").status_code == 404
        assert served("index.html").text == "one"


def test_site_deploy_deploys_keys_written_without_one(dwp: Dwp, net: Net,
                                                      tmp_path: Path) -> None:
    """Keys written with ``?deploy=false`` (as a publish uploads) are in the site's keys,
    not live, until ``dwp site deploy`` (or ``--preview``) deploys them as they stand."""
    site, folder = site_name(), tmp_path / "site"
    first = publish(dwp, folder, site, "one")["id"]
    with httpx.Client(base_url=net.url, timeout=60) as h:
        written = h.put(f"/api/v1/objects/{site}/index.html", content=b"two",
                        params={"deploy": "false"},
                        headers={"Authorization": f"Bearer {net.token}"})
        assert written.status_code == 200 and "X-DWP-Live" not in written.headers

        def served() -> str:
            return h.get(f"/sites/{site}/index.html").text
        assert served() == "one"
        preview = dwp("site", "deploy", site, "--preview", "--json")
        assert preview.exit_code == 0, preview.output
        assert json.loads(preview.stdout)["live"] is False and served() == "one"
        done = dwp("site", "deploy", site)
        assert done.exit_code == 0, done.output
        made = listed(dwp, site)
        assert made["live"] != [first] and f"Deploy {made['live'][0]} is live" in done.stdout
        assert served() == "two"