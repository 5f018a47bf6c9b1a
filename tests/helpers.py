"""What many test modules need, written once: a unique name, a write over HTTP, the
``dwp`` command in process, and a headless Chromium (Debian's, never a downloaded one).

The browser fixtures, ``browser`` and ``page``, are registered in a module by importing
``browser_fixture`` and ``page_fixture`` (under names of their own, so a parameter named
``page`` does not shadow an import); the rest are plain functions.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from typer.testing import CliRunner, Result

if TYPE_CHECKING:
    from tests.conftest import Net

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def unique(name: str) -> str:
    """A name no other test (or earlier run on the same network) has used."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def put(h: httpx.Client, net: Net, key: str, body: bytes, ctype: str | None = None,
        context: str | None = None, **headers: str) -> httpx.Response:
    """Write ``key`` through the objects API with the network's token; it must succeed."""
    headers = {**net.auth, **headers}
    if ctype:
        headers["Content-Type"] = ctype
    if context:
        headers["X-DWP-Context"] = context
    r = h.put(f"/api/v1/objects/{key}", content=body, headers=headers)
    assert r.status_code == 200, r.text
    return r


def cli(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """The ``dwp`` command, in process, against the gateway at ``url``, with a config dir
    of the test's own and no token or network from the environment: the caller records
    the token(s) as ``dwp up`` does, or sets ``DWP_TOKEN``."""
    from browser_cli.main import app

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("DWP_GATEWAY", url)
    monkeypatch.delenv("DWP_TOKEN", raising=False)
    monkeypatch.delenv("DWP_NETWORK", raising=False)

    def invoke(*args: str, input: str | None = None,
               env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(app, list(args), input=input, env=env)
    return invoke


@pytest.fixture(scope="module", name="browser")
def browser_fixture() -> Iterator[Any]:
    """One Chromium per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture(name="page")
def page_fixture(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies, no storage) and its page, for one test."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    yield context.new_page()
    context.close()
