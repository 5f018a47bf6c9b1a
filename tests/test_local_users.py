"""What another user of the same machine gets: no token from the gateway, none from the
files (a running network's token, view and stores are 0600); and the Ray token that
``dwp node start --token`` keeps, where this machine's later commands find it."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from browser_cli.main import app
from tests.conftest import Net, free_port

RUNUSER = shutil.which("runuser")
CURL = shutil.which("curl")


@pytest.mark.parametrize("path", ["/", "/?network=club", "/ui/login"])
def test_a_request_without_token_or_cookie_gets_no_token(net: Net, path: str) -> None:
    """What any local process can send: it names 127.0.0.1 and comes from it."""
    with httpx.Client(base_url=net.url, timeout=60) as h:
        r = h.get(path)
        assert r.status_code == 200 and "set-cookie" not in r.headers
        assert net.token not in r.text


@pytest.mark.skipif(os.geteuid() != 0 or not RUNUSER or not CURL,
                    reason="needs root, runuser and curl to act as another local user; "
                           "the test above sends the same request without them")
def test_another_local_user_gets_no_token(net: Net) -> None:
    for path in ("/", "/?network=club"):
        seen = subprocess.run([RUNUSER, "-u", "nobody", "--", CURL, "-si", net.url + path],
                              capture_output=True, text=True, timeout=60)
        assert seen.returncode == 0 and seen.stdout.startswith("HTTP/1.1 200"), seen
        assert "dwp_token" not in seen.stdout and net.token not in seen.stdout


def test_a_networks_secrets_are_its_owners_alone(net: Net) -> None:
    nodes = net.data_dir / "nodes"
    files = [net.data_dir / "token", net.data_dir / "view.json",
             *nodes.glob("*/replica.db*"), *nodes.glob("*/lock")]
    assert len(files) > 6
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for node in nodes.iterdir():
        assert stat.S_IMODE(node.stat().st_mode) == 0o700, node


def test_node_start_keeps_the_ray_token_for_later_commands(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    ran: list[list[str]] = []
    monkeypatch.setattr("subprocess.run", lambda command, **_: ran.append(command) or
                        subprocess.CompletedProcess(command, 0))
    result = CliRunner().invoke(app, ["node", "start", "--address", "10.0.0.1:6379",
                                      "--token", "cluster-token", "--no-register"])
    assert result.exit_code == 0, result.output
    kept = tmp_path / ".ray" / "auth_token"
    assert kept.read_text() == "cluster-token" and stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert f"Ray's auth token kept in {kept} (mode 0600)" in result.stderr
    assert ran and ran[0][:2] == ["ray", "start"]


def test_a_missing_ray_token_is_one_line_saying_where_to_put_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    (tmp_path / "write-token").write_text("w")
    result = CliRunner().invoke(app, [
        "up", "--address", "10.0.0.1:6379", "--network", "family", "--port", str(free_port()),
        "--token-file", str(tmp_path / "write-token")])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert lines[0].startswith("dwp: no Ray auth token on this machine for the cluster at "
                               "10.0.0.1:6379: put the head's ~/.ray/auth_token in "
                               f"{tmp_path}/.ray/auth_token here (mode 0600)")
    assert "dwp node start --address 10.0.0.1:6379 --token TOKEN" in lines[0]


def test_the_clis_token_record_is_made_private_when_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from browser_cli.config import token_for

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("DWP_TOKEN", raising=False)
    record = tmp_path / "dwp" / "tokens.json"
    record.parent.mkdir()
    record.write_text('{"http://127.0.0.1:8000": "secret"}')
    os.chmod(record, 0o644)  # as an older dwp, or a copy by hand, may have left it
    assert token_for("http://127.0.0.1:8000") == "secret"
    assert stat.S_IMODE(record.stat().st_mode) == 0o600


def test_the_ray_token_a_local_ray_writes_is_made_private(tmp_path: Path) -> None:
    """Ray 2.60 makes ``~/.ray/auth_token`` (mode 0644) when it starts a local cluster
    with token auth; ``dwp up`` starts it through ``init_ray``, which makes it private."""
    started = subprocess.run(
        [sys.executable, "-c", "from dwp.local import init_ray; import ray; "
                               "init_ray(object_store_mb=80); ray.shutdown()"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "HOME": str(tmp_path), "RAY_AUTH_MODE": "token"})
    assert started.returncode == 0, started.stderr[-3000:]
    token = tmp_path / ".ray" / "auth_token"
    assert token.exists() and stat.S_IMODE(token.stat().st_mode) == 0o600
