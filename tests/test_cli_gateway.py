"""Which gateway the CLI talks to: a server that is not dwp gets one clear line, and the
two usual spellings of the local gateway find the token ``dwp up`` recorded."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser_cli import config
from tests.conftest import Net


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the CLI's stderr, which the test reads, free of the server's log."""

    def do_PUT(self) -> None:
        """Refuse with an HTML page, as web servers do, after reading the body: closing
        with an unread body resets the connection, and the client may then see the reset
        instead of the answer."""
        if self.headers.get("Transfer-Encoding") == "chunked":
            while size := int(self.rfile.readline().split(b";")[0] or b"0", 16):
                self.rfile.read(size + 2)
            self.rfile.readline()
        else:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_error(405)

    do_DELETE = do_PUT


@contextlib.contextmanager
def plain_web_server(root: Path, handler: type[QuietFiles] = QuietFiles) -> Iterator[str]:
    """Python's own file server: a web server that is not a dwp gateway."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


@pytest.mark.parametrize("args", [("ls",), ("get", "s/a.html"), ("network", "status"),
                                  ("put", "FILE", "s/a.html"), ("rm", "s/a.html"),
                                  ("view", "s/a.html")])
def test_a_server_that_is_not_dwp_gets_one_clear_line(dwp, tmp_path: Path,
                                                      args: tuple[str, ...]) -> None:
    root = tmp_path / "www"
    (root / "api" / "v1").mkdir(parents=True)
    (root / "api" / "v1" / "objects").write_text("<html><body>a static page</body></html>")
    local = tmp_path / "a.html"
    local.write_text("<p>a</p>")
    with plain_web_server(root) as url:
        result = dwp(*[str(local) if a == "FILE" else a for a in args], "--gateway", url)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"dwp: {url} is not a dwp gateway ("), lines
    assert "<" not in lines[0]
    assert "check --gateway or DWP_GATEWAY" in lines[0]


def test_a_redirect_from_a_server_that_is_not_dwp_is_not_followed(
        dwp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway's own 301 to a site's origin is what ``dwp open`` follows; another
    server's redirect (the file server's, for a folder without its slash) is not."""
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    root = tmp_path / "www"
    (root / "sites" / "s" / "a").mkdir(parents=True)
    with plain_web_server(root) as url:
        result = dwp("open", "s/a", "--gateway", url)
    assert result.exit_code == 1 and opened == [], result.output
    assert result.stderr.strip() == (f"dwp: {url} is not a dwp gateway (it answered 301 "
                                     "Moved Permanently, no content type): check --gateway "
                                     "or DWP_GATEWAY")


@pytest.mark.parametrize("spelling", ["http://localhost:{port}", "http://LOCALHOST:{port}/",
                                      "http://127.0.0.1:{port}/"])
def test_localhost_and_127_0_0_1_are_one_gateway_to_the_token_lookup(
        dwp, net: Net, tmp_path: Path, spelling: str) -> None:
    port = net.url.rsplit(":", 1)[1]
    local = tmp_path / "a.txt"
    local.write_text("a")
    result = dwp("put", str(local), "tokens-spelling/a.txt", "--gateway",
                 spelling.format(port=port))
    assert result.exit_code == 0, result.output
    assert config.token_for(spelling.format(port=port)) == net.token


def test_token_lookup_keeps_different_gateways_apart(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("DWP_TOKEN", raising=False)
    config.record_token("http://127.0.0.1:8000", "a")
    config.record_token("http://127.0.0.1:8001", "b")
    assert config.token_for("http://localhost:8000/") == "a"
    assert config.token_for("http://localhost:8001") == "b"
    assert config.token_for("http://localhost") is None


@pytest.mark.parametrize(("value", "says"), [
    ("http://127.0.0.1:8000/?network=club", "has a query: name the network with --network club"),
    ("http://127.0.0.1:8000/?x=1", "has a query: give the gateway's address alone"),
    ("http://127.0.0.1:8000/sites/garden", "has a path: give the gateway's address alone"),
    ("http://127.0.0.1:8000/#top", "has a fragment"),
    ("ftp://x", "is not an http:// or https:// URL of a gateway"),
    ("not a url", "is not an http:// or https:// URL of a gateway"),
    ("http://", "is not an http:// or https:// URL of a gateway"),
    ("http://127.0.0.1:99999", "is not a URL: Port out of range"),
    ("http://[::1", "is not a URL"),
])
@pytest.mark.parametrize("args", [("ls",), ("network", "status"), ("view", "s/a.html"),
                                  ("open", "s/a.html")])
def test_a_bad_gateway_value_is_one_line_and_a_usage_error(
        dwp, args: tuple[str, ...], value: str, says: str) -> None:
    result = dwp(*args, "--gateway", value)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(f"dwp: --gateway {value!r} {says}"), result.stderr
    assert result.stderr.count("\n") == 1


def test_dwp_up_records_a_token_for_each_network_it_serves(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("DWP_TOKEN", raising=False)
    config.record_tokens("http://127.0.0.1:8000", [("local", "a"), ("club", "b")])
    assert config.token_for("http://localhost:8000") == "a"  # the first, unnamed
    assert config.token_for("http://localhost:8000", "local") == "a"
    assert config.token_for("http://localhost:8000", "club") == "b"
    assert config.token_for("http://localhost:8000", "other") is None


class ClaimsToBeDwp(QuietFiles):
    def end_headers(self) -> None:
        self.send_header("X-DWP-Gateway", "1")
        super().end_headers()


def test_an_answer_that_is_not_the_apis_json_is_one_line(dwp, tmp_path: Path) -> None:
    """Even a server that says it is a gateway gets one line when its answer is not JSON."""
    root = tmp_path / "www"
    (root / "api" / "v1").mkdir(parents=True)
    (root / "api" / "v1" / "network").write_text("<html><body>not JSON</body></html>")
    with plain_web_server(root, ClaimsToBeDwp) as url:
        result = dwp("network", "status", "--gateway", url)
    assert result.exit_code == 1, result.output
    assert result.stderr == (f"dwp: {url} answered /api/v1/network with "
                             "application/octet-stream, not dwp's JSON: check --gateway or "
                             "DWP_GATEWAY\n")
