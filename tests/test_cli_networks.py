"""One gateway, two networks (`dwp up --data-dir .dwp --data-dir ~/club`): every command
reaches either with `--network NAME` or `DWP_NETWORK`, with the token `dwp up` recorded
for that network, and keeps a context token per network."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from typer.testing import Result

from browser_cli import config
from gateway import Network
from tests.conftest import RayCluster, networks_served
from tests.helpers import cli

Served = tuple[str, list[Network]]


@pytest.fixture(scope="module")
def served(ray_runtime: RayCluster, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Served]:
    with networks_served(tmp_path_factory, "home", "club") as served:
        yield served


@pytest.fixture
def dwp(served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> Callable[..., Result]:
    """The CLI with the tokens recorded as `dwp up` records them for its networks."""
    url, networks = served
    invoke = cli(url, tmp_path, monkeypatch)
    config.record_tokens(url, [(n.name, n.secret) for n in networks])
    return invoke


def test_each_command_reaches_the_network_it_names(dwp, served: Served,
                                                   tmp_path: Path) -> None:
    url, (home, club) = served
    site = f"members-{uuid.uuid4().hex[:6]}"
    page = tmp_path / "index.html"
    page.write_text("<h1>Club members</h1>")
    assert dwp("put", str(page), f"{site}/index.html", "--network", club.name).exit_code == 0

    def keys(*args: str, env: dict[str, str] | None = None) -> list[str]:
        result = dwp("ls", site, "--json", *args, env=env)
        assert result.exit_code == 0, result.output
        return [e["key"] for e in json.loads(result.stdout)]
    assert keys("--network", club.name) == [f"{site}/index.html"]
    assert keys(env={"DWP_NETWORK": club.name}) == [f"{site}/index.html"]
    assert keys() == [] and keys("--network", home.name) == []

    shown = dwp("view", site, "--network", club.name)
    assert shown.exit_code == 0 and "# Club members" in shown.stdout
    status = json.loads(dwp("network", "status", "--json", "--network", club.name).stdout)
    assert status["name"] == club.name
    assert config.context_for(url, club.name) and not config.context_for(url)
    assert dwp("rm", f"{site}/index.html", env={"DWP_NETWORK": club.name}).exit_code == 0
    assert keys("--network", club.name) == []


def test_open_names_the_networks_origin(dwp, served: Served, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    url, (_, club) = served
    site = f"garden-{uuid.uuid4().hex[:6]}"
    page = tmp_path / "index.html"
    page.write_text("<h1>Garden</h1>")
    assert dwp("put", str(page), f"{site}/index.html", "--network", club.name).exit_code == 0
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda target: opened.append(target) or True)
    assert dwp("open", site, "--network", club.name).exit_code == 0
    assert opened == [f"http://{site}.{club.name}.localhost:{urlsplit(url).port}/"]
    assert dwp("open", site).exit_code == 1  # not a site of the first network


def test_a_network_the_gateway_does_not_serve_is_one_line(dwp, served: Served) -> None:
    _, (home, club) = served
    result = dwp("ls", "--network", "nope")
    assert result.exit_code == 1
    assert result.stderr == (f"dwp: not found: this gateway serves no network named 'nope'; "
                             f"it serves: {home.name}, {club.name}\n")


def test_open_signs_the_ui_in_to_the_network_it_names(dwp, served: Served,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    url, (_, club) = served
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda target: opened.append(target) or True)
    assert dwp("open", "--network", club.name).exit_code == 0
    with httpx.Client(base_url=url) as browser:
        assert browser.get(opened[0]).status_code == 303
        home = browser.get("/").text
    assert f'<span class="name">{club.name}</span>' in home  # the network it signed in to
    assert "Sign in to write" not in home
