"""Real generated sites, built by their real generators, published with ``dwp publish``
and driven in headless Chromium on their own origins: MkDocs Material (search in a web
worker over search_index.json, instant navigation by fetch, the palette kept in
localStorage, its own 404.html) and Sphinx (its search), with no console errors."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Net
from tests.helpers import CHROMIUM, browser_fixture, page_fixture  # noqa: F401  (the fixtures)
from tests.sites import origin_host
from tests.test_ui_browser import Failures

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"Chromium is not installed at {CHROMIUM} "
                                       "(apt-get install chromium)")

MKDOCS = """\
site_name: Garden guide
site_url: SITE_URL
theme:
  name: material
  font: false
  features:
    - navigation.instant
  palette:
    - scheme: default
      toggle:
        icon: material/brightness-7
        name: Switch to dark mode
    - scheme: slate
      toggle:
        icon: material/brightness-4
        name: Switch to light mode
plugins:
  - search
"""
PAGES = {
    "index": "# Garden guide\n\nWhat grows where. Read about [tomatoes](tomatoes.md).\n",
    "tomatoes": "# Tomatoes\n\nTomatoes need full sun and daily watering.\n",
    "basil": "# Basil\n\nBasil likes warmth and shelter.\n",
}


class Console:
    """Console errors and failed requests of a page, as a person's devtools show them."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.failures = Failures(page)
        page.on("console", lambda m: m.type == "error" and self.errors.append(
            f"{m.text} at {m.location['url']}"))

    @property
    def problems(self) -> list[str]:
        """All but the browser's own request for /favicon.ico, which a site without one
        answers 404 from any web server."""
        return [p for p in self.errors + self.failures.items
                if not p.endswith("/favicon.ico")]


def publish(folder: Path, site: str, net: Net, tmp_path: Path) -> str:
    """``dwp publish`` as a user runs it; answers the site URL it printed."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "DWP_GATEWAY": net.url, "DWP_TOKEN": net.token}
    done = subprocess.run([str(Path(sys.executable).parent / "dwp"), "publish", str(folder),
                           "--site", site], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.strip().splitlines()[-1]
    assert printed.startswith("Site at "), done.stdout
    return printed.removeprefix("Site at ").rstrip("/")


def build(*command: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", *command], cwd=cwd, check=True, capture_output=True,
                   env={"PATH": "/usr/bin:/bin", "NO_MKDOCS_2_WARNING": "1"}, timeout=120)


def test_mkdocs_material_site_works_on_its_origin(net: Net, page: Any, tmp_path: Path
                                                 ) -> None:
    site = f"mkdocs-{uuid.uuid4().hex[:8]}"
    home = "http://" + origin_host(net, site)
    (tmp_path / "docs").mkdir()
    (tmp_path / "mkdocs.yml").write_text(MKDOCS.replace("SITE_URL", home + "/"))
    for name, text in PAGES.items():
        (tmp_path / "docs" / f"{name}.md").write_text(text)
    build("mkdocs", "build", "--quiet", "--site-dir", "site", cwd=tmp_path)
    assert publish(tmp_path / "site", site, net, tmp_path) == home

    console = Console(page)
    page.goto(f"{net.url}/sites/{site}/")
    assert page.url == home + "/"
    assert page.text_content("article h1") == "Garden guide"

    # search: a web worker loads search_index.json and answers
    page.click("input.md-search__input")
    page.locator("input.md-search__input").press_sequentially("watering")
    page.wait_for_selector(".md-search-result__item >> text=Tomatoes")

    # instant navigation: the next page arrives by fetch, without a reload
    page.keyboard.press("Escape")
    page.evaluate("window.stillHere = true")
    page.click("article a[href*=tomatoes]")
    page.wait_for_url(home + "/tomatoes/")
    page.wait_for_function("document.querySelector('article h1').textContent === 'Tomatoes'")
    assert page.evaluate("window.stillHere") is True

    # the palette toggle is kept in localStorage, across a reload
    assert page.get_attribute("body", "data-md-color-scheme") == "default"
    page.click("label[for=__palette_1]")
    page.wait_for_function("document.body.dataset.mdColorScheme === 'slate'")
    kept = page.evaluate("Object.entries(localStorage)"
                         ".filter(([k]) => k.endsWith('__palette')).map(([, v]) => v)")
    assert len(kept) == 1 and '"slate"' in kept[0]
    page.wait_for_load_state("networkidle")  # a reload cancels what still loads
    page.reload()
    assert page.get_attribute("body", "data-md-color-scheme") == "slate"
    assert console.problems == []

    # its own 404 page, styled by its own assets (in a new tab: nothing left loading)
    page = page.context.new_page()
    console = Console(page)
    response = page.goto(home + "/no/such/page/")
    assert response.status == 404
    assert "404 - Not found" in page.text_content("article")
    assert page.eval_on_selector(".md-header", "e => getComputedStyle(e).position") == "sticky"
    assert console.problems == [
        "Failed to load resource: the server responded with a status of 404 (Not Found) "
        f"at {home}/no/such/page/", f"404 {home}/no/such/page/"]


def test_sphinx_site_search_works_on_its_origin(net: Net, page: Any, tmp_path: Path
                                                ) -> None:
    site = f"sphinx-{uuid.uuid4().hex[:8]}"
    source = tmp_path / "source"
    source.mkdir()
    (source / "conf.py").write_text('project = "Garden notes"\nhtml_theme = "alabaster"\n')
    (source / "index.rst").write_text("Garden notes\n============\n\n.. toctree::\n\n"
                                      "   tomatoes\n\nWhat grows where.\n")
    (source / "tomatoes.rst").write_text("Tomatoes\n========\n\n"
                                         "Tomatoes need full sun and daily watering.\n")
    build("sphinx", "-q", "-b", "html", "-d", str(tmp_path / "doctrees"), str(source),
          str(tmp_path / "html"), cwd=tmp_path)
    home = publish(tmp_path / "html", site, net, tmp_path)
    assert home == "http://" + origin_host(net, site)

    console = Console(page)
    page.goto(home + "/")
    page.fill("input[name=q]", "watering")
    page.press("input[name=q]", "Enter")
    page.wait_for_url(home + "/search.html?q=watering")
    found = page.wait_for_selector("#search-results ul.search li a")
    assert found.text_content() == "Tomatoes"
    page.wait_for_selector("#search-results li p.context >> text=daily watering")
    found.click()
    page.wait_for_url(f"{home}/tomatoes.html**")
    assert page.text_content("h1").startswith("Tomatoes")
    assert console.problems == []
