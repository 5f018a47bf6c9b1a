"""Headless Chromium loads pages of a 200-page site over and over while the site is
switched between two deploys: every load shows the HTML and the stylesheet of one
deploy (``gateway.pinning``), never one's page in the other's style.

The gateway runs on a loopback socket over in-process nodes, on the nodes' own event
loop, so the test writes deploys through the client while Chromium reads."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from gateway import Network, create_app
from gateway.server import config
from tests.conftest import TEST_SETTINGS, eventually
from tests.deploying import deploy, go_live
from tests.helpers import CHROMIUM, browser_fixture  # noqa: F401  (the fixture)
from tests.inprocess import InProcessNetwork, in_process_network

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"Chromium is not installed at {CHROMIUM} "
                                       "(apt-get install chromium)")

PAGES = 200
SWITCHES = 10
LOADS_PER_SWITCH = 3
# The page asks for its stylesheet a moment after its HTML arrives, as pages that load
# parts of themselves by script do: a switch then often falls between the two requests.
PAGE = """<!doctype html><html><head><title>{i}</title>
<script>setTimeout(() => {{ const l = document.createElement("link");
l.rel = "stylesheet"; l.href = "site.css"; document.head.append(l); }}, 60)</script>
</head><body data-deploy="{marker}"><h1>Page {i}</h1></body></html>"""
STYLE = 'body::after {{ content: "{marker}"; }}'
SHOWN = """() => {
  const shown = getComputedStyle(document.body, "::after").content;
  return shown === "none" ? null : [document.body.dataset.deploy, shown.replaceAll('"', "")];
}"""


def files(marker: str) -> dict[str, bytes]:
    pages = {f"p{i}.html": PAGE.format(i=i, marker=marker).encode() for i in range(PAGES)}
    return {**pages, "site.css": STYLE.format(marker=marker).encode()}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, InProcessNetwork]]:
    """A gateway on a loopback port, served on the in-process nodes' loop."""
    with in_process_network(tmp_path_factory.mktemp("deploys")) as network:
        app = create_app([Network(network.client, network.secret, network.membership)],
                         TEST_SETTINGS)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(config(app))
        running = network.portal.start_task_soon(lambda: server.serve(sockets=[sock]))
        eventually(lambda: server.started, 30)
        try:
            yield sock.getsockname()[1], network
        finally:
            server.should_exit = True
            running.result(timeout=30)
            sock.close()


def test_every_load_is_one_deploys_html_and_css(served: tuple[int, InProcessNetwork],
                                                browser: Any) -> None:
    port, network = served
    call, client = network.portal.call, network.client
    site = "switching"
    made = {marker: deploy(call, client, site, files(marker), live=False)
            for marker in ("old", "new")}
    go_live(call, client, site, made["old"])
    loads: list[tuple[str, str]] = []
    failures: list[BaseException] = []

    def switch() -> None:
        """Switch every few loads, at a varying moment of the load under way."""
        try:
            for n in range(SWITCHES):
                seen = len(loads)
                deadline = time.monotonic() + 60
                while len(loads) < seen + LOADS_PER_SWITCH and time.monotonic() < deadline:
                    time.sleep(0.01)
                time.sleep(random.uniform(0, 0.1))
                go_live(call, client, site, made["new" if n % 2 == 0 else "old"])
        except BaseException as exc:  # reported by the test's thread
            failures.append(exc)

    context = browser.new_context()
    page = context.new_page()
    switcher = threading.Thread(target=switch, daemon=True)
    switcher.start()
    deadline = time.monotonic() + 120
    while switcher.is_alive() and time.monotonic() < deadline:
        page.goto(f"http://{site}.localhost:{port}"
                  f"/p{random.randrange(PAGES)}.html")
        loads.append(page.wait_for_function(SHOWN, timeout=10_000).json_value())
    switcher.join(10)
    context.close()
    assert not failures and not switcher.is_alive()
    mixed = [load for load in loads if load[0] != load[1]]
    assert not mixed, f"{len(mixed)} of {len(loads)} loads mixed two deploys: {mixed[:5]}"
    assert {html for html, _ in loads} == {"old", "new"}
