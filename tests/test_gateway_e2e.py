"""The gateway end to end: Ray actors behind uvicorn on a loopback port. Only what a
real HTTP server or a real HTTP client shows is tested here (request heads sent raw, a
stalled client, streaming without holding a file, wget); what the gateway answers is
tested in process (``tests/test_objects_api.py``, ``tests/test_sites*.py``)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tracemalloc
from pathlib import Path

import pytest

from gateway import server
from gateway.server import HEAD_SECONDS, MAX_HEAD_BYTES
from tests.conftest import TEST_MAX_UPLOAD, Net
from tests.helpers import put, unique
from tests.sites import origin, origin_host


def raw_status(net: Net, request: str) -> int:
    """Send a request head the way a misbehaving client would; answer its status."""
    host, port = net.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request.encode())
        return int(sock.recv(4096).split(b" ", 2)[1])


def test_put_get_roundtrip(net: Net) -> None:
    key = f"{unique('smoke')}/a.txt"
    with net.http() as h:
        r = h.put(f"/api/v1/objects/{key}", content=b"hi", headers=net.auth)
        assert r.status_code == 200, r.text
        assert h.get(f"/api/v1/objects/{key}").content == b"hi"


def test_a_head_declaring_too_much_is_413_and_leaves_the_old_value(net: Net) -> None:
    key = f"{unique('api')}/big.bin"
    with net.http() as h:
        h.put(f"/api/v1/objects/{key}", content=b"old", headers=net.auth)
        assert raw_status(net, f"PUT /api/v1/objects/{key} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          f"Authorization: Bearer {net.token}\r\n"
                          f"Content-Length: {TEST_MAX_UPLOAD + 1}\r\n\r\n") == 413
        assert h.get(f"/api/v1/objects/{key}").content == b"old"


def test_a_head_over_the_limit_is_431_and_the_connection_closed(net: Net) -> None:
    filler = "".join(f"X-Filler-{i}: {'a' * 1000}\r\n" for i in range(MAX_HEAD_BYTES // 1000 + 2))
    with connect(net) as sock:
        with contextlib.suppress(OSError):  # the server may close before it has read all
            sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n{filler}\r\n".encode())
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"x-dwp-gateway: 1" in answer and b'"error"' in answer
    with connect(net) as sock:  # just under the limit is served
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     f"X-Filler: {'a' * (MAX_HEAD_BYTES // 2)}\r\n\r\n".encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")


def test_a_head_sent_slowly_is_cut_off(net: Net, monkeypatch: pytest.MonkeyPatch) -> None:
    """A byte a second would hold a connection for good without a bound on the head's
    time; the gateway answers 408 and closes it (a bounded wait, not a timing claim: the
    bound is cut to 2 s here, so the test does not sit out the real 10)."""
    monkeypatch.setattr(server, "HEAD_SECONDS", 2.0)
    trickle = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 1000
    with connect(net) as sock:
        sock.settimeout(1.0)
        answer = b""
        for byte in trickle[:int(HEAD_SECONDS) * 6]:
            try:
                sock.sendall(bytes([byte]))
                answer += sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if answer:
                break
        sock.settimeout(30)
        answer += read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]


def connect(net: Net) -> socket.socket:
    host, port = net.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def read_all(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection."""
    data = b""
    while piece := sock.recv(65536):
        data += piece
    return data


def test_a_slow_client_does_not_hold_up_others_and_writes_nothing(net: Net) -> None:
    """A client that stalls mid-body ties up only its own request."""
    key = f"{unique('api')}/slow.bin"
    host, port = net.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as slow:
        slow.sendall(f"PUT /api/v1/objects/{key} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     f"Authorization: Bearer {net.token}\r\nContent-Length: 100000\r\n\r\n"
                     "only part of it".encode())
        with net.http() as h:
            for _ in range(5):
                assert h.get("/healthz").status_code == 200
            assert h.put(f"/api/v1/objects/{key}.other", content=b"x",
                         headers=net.auth).status_code == 200
    with net.http() as h:
        assert h.get(f"/api/v1/objects/{key}").status_code == 404


def test_a_large_file_streams_without_being_held_in_memory(net: Net) -> None:
    name = unique("big")
    data = bytes(range(256)) * (12 * 4096)  # 12 MiB, 192 chunks
    with net.http() as h:
        put(h, net, f"{name}/blob.bin", data)
    with origin(net, name) as h:
        tracemalloc.start()
        try:
            received = 0
            with h.stream("GET", "/blob.bin") as s:
                assert s.headers["content-length"] == str(len(data))
                for piece in s.iter_bytes():
                    received += len(piece)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert received == len(data)
        assert peak < len(data) // 3, f"peak {peak} bytes while streaming {len(data)}"


@pytest.mark.skipif(shutil.which("wget") is None, reason="wget is not installed")
def test_a_second_wget_mirror_revalidates_and_downloads_nothing(net: Net,
                                                                tmp_path: Path) -> None:
    site = unique("mirror")
    pages = {"index.html": b'<a href="a.html">a</a> <a href="docs/">docs</a>'
                           b'<link rel="stylesheet" href="style.css">',
             "a.html": b"<p>a</p>", "style.css": b"p{}", "docs/index.html": b"<p>docs</p>"}
    with net.http() as h:
        for name, body in pages.items():
            put(h, net, f"{site}/{name}", body)
    wget = ["wget", "--server-response", "--no-host-directories", "--header",
            f"Host: {origin_host(net, site)}", "--directory-prefix", str(tmp_path)]

    def run(*args: str) -> str:
        done = subprocess.run([*wget, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stderr
    first = run("--mirror", net.url + "/")
    assert first.count("HTTP/1.1 200 OK") == len(pages)
    assert {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()
            } == set(pages)
    # wget stops at a 304 for the root page (as it does against python -m http.server);
    # asked for every file, it revalidates each and downloads none
    second = run("--mirror", net.url + "/")
    assert second.count("HTTP/1.1 304 Not Modified") == 1 and "200 OK" not in second
    every = [net.url + "/" + name.removesuffix("index.html") for name in pages]
    third = run("--timestamping", "--force-directories", *every)
    assert third.count("HTTP/1.1 304 Not Modified") == len(pages), third
    assert "200 OK" not in third


@pytest.mark.skipif(shutil.which("wget") is None, reason="wget is not installed")
def test_wget_mirror_of_a_path_url_is_the_source_tree(net: Net, tmp_path: Path) -> None:
    """wget sends no Sec-Fetch-* header and cannot resolve ``{site}.localhost``: the path
    URL is served in place, and relative links (HTML and CSS) take it through the site."""
    site = unique("wget")
    source = tmp_path / "source"
    files = {"index.html": b'<link rel="stylesheet" href="style.css"><a href="a.html">a</a>'
                           b' <a href="docs/">docs</a> <img src="img/logo.png">',
             "a.html": b'<a href="docs/deep/page.html">deep</a>',
             "style.css": b"body{background:url(img/bg.png)}",
             "img/logo.png": bytes(range(256)) * 4, "img/bg.png": b"\x89PNG\r\n\x1a\n\x00",
             "docs/index.html": b'<a href="../a.html">up</a> <a href="notes.txt">notes</a>',
             "docs/notes.txt": "caf\u00e9\n".encode(),
             "docs/deep/page.html": b'<a href="../../index.html">home</a>'
                                    b'<script src="../../app.js"></script>',
             "app.js": b"console.log('hi')"}
    with net.http() as h:
        for name, body in files.items():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes(body)
            put(h, net, f"{site}/{name}", body)
    mirror = tmp_path / "mirror"
    done = subprocess.run(["wget", "--mirror", "--directory-prefix", str(mirror),
                           f"{net.url}/sites/{site}/"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    host = net.url.removeprefix("http://")
    got = mirror / host / "sites" / site
    assert {p.relative_to(mirror).as_posix() for p in mirror.rglob("*") if p.is_file()} == {
        f"{host}/sites/{site}/{name}" for name in files}
    assert all((got / name).read_bytes() == (source / name).read_bytes() for name in files)
