"""Every page of the web UI in a real Chromium at 1280 and at 420 px (a phone), from a
fresh network holding plain demo sites, as a newcomer sees them after `make up` and a
first publish: the home page leads with the sites and sums up the network in one line;
at 420 px no page is wider than the screen and no number, size or date breaks inside.

With DWP_SCREENSHOTS=1 the 1280 px shots (and the home page at 420 px) replace those in
docs/screenshots, which README.md and docs/web.md show.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from dwp.core.sizes import human_size
from dwp.local import start_network
from gateway import Network
from tests.conftest import RayCluster, gateway
from tests.helpers import CHROMIUM, browser_fixture  # noqa: F401  (the fixture)
from tests.test_ui_browser import Failures, sign_in_to_all

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"Chromium is not installed at {CHROMIUM} "
                                       "(apt-get install chromium)")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
WIDTHS = {"wide": 1280, "narrow": 420}
KEPT_NARROW = ("home",)  # the 420 px shots docs/ shows; the others are looked at, not kept

GARDEN_CSS = b"""body { font-family: Georgia, serif; max-width: 40rem; margin: 2rem auto;
  padding: 0 1rem; color: #23301f; background: #fbfaf4; }
h1 { color: #3d6b2f; border-bottom: 2px solid #cfe0b8; padding-bottom: .3rem; }
a { color: #3d6b2f; } img { max-width: 100%; border-radius: 8px; }
li { margin: .3rem 0; }"""
PLANT = b"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 320 160">
<rect width="320" height="160" fill="#e8f1dc"/><rect y="120" width="320" height="40"
fill="#8a6a43"/><path d="M160 120 C150 80 120 70 100 60 C130 60 150 80 160 100 C170 70
190 55 225 50 C200 70 175 85 160 120" fill="#4f8a3a"/><circle cx="265" cy="35" r="18"
fill="#f2c94c"/></svg>"""
DEMO = {
    "garden": {
        "index.html": b"""<!doctype html><html><head><meta charset="utf-8">
<title>Garden notes</title><link rel="stylesheet" href="style.css"></head><body>
<h1>Garden notes</h1><p>What grows where, and when to water it.</p>
<img src="plant.svg" alt="A seedling in the sun">
<ul><li><a href="notes/tomatoes.html">Tomatoes</a></li>
<li><a href="notes/basil.html">Basil</a></li></ul>
<p>Rule of thumb: water = 2 * litres a day in summer.</p></body></html>""",
        "style.css": GARDEN_CSS,
        "plant.svg": PLANT,
        "notes/tomatoes.html": b"<h1>Tomatoes</h1><p>Stake them early.</p>",
        "notes/basil.html": b"<h1>Basil</h1><p>Pinch the flowers.</p>",
    },
    "recipes": {
        "index.html": b"<h1>Recipes</h1><ul><li><a href='bread.html'>Bread</a></li>"
                      b"<li><a href='soup.html'>Soup</a></li></ul>",
        "bread.html": b"<h1>Bread</h1><p>500 g flour, 350 g water, 10 g salt, yeast.</p>",
        "soup.html": b"<h1>Soup</h1><p>Leeks, potatoes, stock.</p>",
    },
    "photos": {"index.html": b"<h1>Photos</h1>", "2026/summer.svg": PLANT},
}


@dataclass
class Demo:
    url: str
    local: Network
    club: Network
    states: dict[int, Any] = field(default_factory=dict)  # signed-in cookies, by width

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60,
                            headers={"Authorization": f"Bearer {self.local.secret}"})

    def signed_in(self, chromium: Any, width: int) -> Any:
        """A page in a browser of its own, ``width`` px wide, signed in through the link
        `dwp up` prints (to both networks)."""
        page = chromium.new_context(viewport={"width": width, "height": 860}).new_page()
        sign_in_to_all(page, self.url, [self.local, self.club])
        return page

    def signed_in_blank(self, chromium: Any, width: int) -> Any:
        """A blank page in a browser of its own, ``width`` px wide, holding the cookies
        the sign-in link set at that width: signing in once per width, not per page."""
        if width not in self.states:
            page = self.signed_in(chromium, width)
            self.states[width] = page.context.storage_state()
            page.context.close()
        context = chromium.new_context(viewport={"width": width, "height": 860},
                                       storage_state=self.states[width])
        return context.new_page()


@pytest.fixture(scope="module")
def demo(ray_runtime: RayCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`dwp up --data-dir .dwp --data-dir club` on a fresh machine, then the demo sites
    published: networks named as `make up` and the README name them."""
    networks = []
    for name, nodes in (("local", 4), ("club", 2)):
        data_dir = tmp_path_factory.mktemp(name)
        client, membership = start_network(data_dir, name=name, nodes=nodes, replicas=2,
                                           anti_entropy_interval=1.0)
        networks.append(Network(client, (data_dir / "token").read_text().strip(), membership))
    with gateway(networks) as url:
        served = Demo(url, *networks)
        with served.http() as h:
            for site, files in DEMO.items():
                for path, data in files.items():
                    h.put(f"/api/v1/objects/{site}/{path}", content=data).raise_for_status()
        yield served


# What must stay on one line: cells marked as numbers, dates, times, states, buttons, a
# search hit's type and size, and any cell that holds only a count, a size or a date.
LAYOUT = """() => {
  const whole = /^(\\d[\\d,]*|\\d+(\\.\\d)? (B|KiB|MiB|GiB|TiB))\\+?$|^\\d{4}-\\d\\d-\\d\\d$/;
  const split = [];
  const whole_cells = "td, .num, .nowrap, time, .hits .meta, .state, button";
  for (const cell of document.querySelectorAll(whole_cells)) {
    const text = cell.textContent.trim();
    if (cell.tagName === "TD" && !cell.matches(".num") && !whole.test(text)) continue;
    const range = document.createRange();
    range.selectNodeContents(cell);
    const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
    if (lines.size > 1) split.push(text);
  }
  return {width: document.documentElement.scrollWidth, split};
}"""


def shoot(demo: Demo, chromium: Any, url: str, name: str, folder: Path,
          before: Any = None) -> None:
    """``url`` at each width into ``folder/{name}[-narrow].png``, signed in, checking the
    layout."""
    for kind, width in WIDTHS.items():
        page = demo.signed_in_blank(chromium, width)
        failures = Failures(page)
        page.goto(url)
        if before is not None:
            before(page)
        layout = page.evaluate(LAYOUT)
        assert layout["split"] == [], (name, width, layout)
        if name != "site":  # a published page's layout is its author's
            assert layout["width"] <= width, (name, width, layout)
        page.screenshot(path=str(folder / f"{name}{'' if kind == 'wide' else '-narrow'}.png"),
                        full_page=True)
        expected = [f"404 {url}"] if name == "not-found" else []
        assert failures.items == expected, (name, failures.items)
        page.context.close()


def test_every_page_at_1280_and_420_px(demo: Demo, browser: Any,
                                       tmp_path: Path) -> None:
    conflict, history = "garden/notes/basil.html", "recipes/bread.html"
    with demo.http() as h:
        context = h.get(f"/api/v1/objects/{conflict}").headers["x-dwp-context"]
        for text in (b"<h1>Basil</h1><p>Pinch the flowers. (Alice)</p>",
                     b"<h1>Basil</h1><p>Pinch the flowers; keep it warm. (Bob)</p>"):
            h.put(f"/api/v1/objects/{conflict}", content=text,
                  headers={"X-DWP-Context": context}).raise_for_status()
        h.put(f"/api/v1/objects/{history}", content=b"<h1>Bread</h1><p>Oops, erased.</p>"
              ).raise_for_status()
        versions = h.get(f"/api/v1/objects/{history}", params={"history": "true"}).json()
        first = versions["versions"][-1]["version"]

    page = demo.signed_in(browser, WIDTHS["wide"])
    page.on("dialog", lambda dialog: dialog.accept())  # Restore asks to confirm
    page.goto(f"{demo.url}/ui/object/{history}")
    page.click(f"tr[data-version='{first}'] button:text('Restore')")
    page.wait_for_selector("text=it is the current version again")
    after_restore = page.url  # the details page, saying what was restored
    page.context.close()

    def opened(page: Any) -> None:
        page.click("#network > summary")

    url = demo.url
    shots = [("home", "/", None), ("network", "/", opened), ("node", "/ui/node/n1", None),
             ("browse", "/ui/browse/garden/", None),
             ("details-conflict", f"/ui/object/{conflict}", None),
             ("edit", "/ui/edit/garden/index.html", None),
             ("publish", "/ui/publish?site=garden", None), ("search", "/ui/search?q=notes", None),
             ("site", "/sites/garden/", None), ("listing", "/sites/garden/notes/", None),
             ("not-found", "/sites/garden/missing.html", None)]
    for name, path, before in shots:
        target = url + path
        if name == "not-found":
            target = f"http://garden.localhost:{url.rsplit(':', 1)[1]}/missing.html"
        shoot(demo, browser, target, name, tmp_path, before)
    shoot(demo, browser, after_restore, "details-history", tmp_path)
    with demo.http() as h:
        assert b"500 g flour" in h.get(f"/api/v1/objects/{history}").content

    kept = {shot.name for shot in tmp_path.glob("*.png")
            if not shot.stem.endswith("-narrow")
            or shot.stem.removesuffix("-narrow") in KEPT_NARROW}
    assert shown_in_docs() <= kept, "every screenshot the docs show is taken here"
    if os.environ.get("DWP_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for name in kept:
            shutil.copy(tmp_path / name, SCREENSHOTS / name)


def shown_in_docs() -> set[str]:
    """The screenshots README.md and docs/*.md show."""
    root = SCREENSHOTS.parent.parent
    return {name for doc in [root / "README.md", *sorted((root / "docs").glob("*.md"))]
            for name in re.findall(r"screenshots/([\w-]+\.png)", doc.read_text())}


def test_the_home_page_leads_with_the_sites(demo: Demo, browser: Any) -> None:
    """At 1280 and 420 px: the sites first, each with its files, size, last publish and a
    link to its origin; then the network as one closed line (health, nodes up, shards,
    epoch) that opens to the node table; no node action on the home page itself."""
    port = urlsplit(demo.url).port
    with demo.http() as h:
        listed = {site: h.get("/api/v1/objects", params={"prefix": f"{site}/"}).json()
                  ["objects"] for site in sorted(DEMO)}
    rows = [[site, str(len(entries)), human_size(sum(e["size"] for e in entries)),
             datetime.fromtimestamp(max(e["mtime"] for e in entries), UTC)
             .strftime("%Y-%m-%d"), "open ↗"] for site, entries in listed.items()]
    for width in WIDTHS.values():
        page = demo.signed_in(browser, width)
        assert page.locator("#sites").bounding_box()["y"] < page.locator(
            "#network").bounding_box()["y"]
        assert page.eval_on_selector_all("table.sites thead th", "hs => hs.map(h => "
                                         "h.textContent.trim())") == [
            "Site", "Files", "Size", "Last publish UTC", "Open"]
        shown = page.eval_on_selector_all("table.sites tbody tr", "rs => rs.map(r => "
                                          "[...r.cells].map(c => c.innerText.trim()))")
        assert [[*r[:3], r[3][:10], r[4]] for r in shown] == rows, width  # the date
        assert page.eval_on_selector_all("table.sites td.open a", "as => as.map(a => a.href)"
                                         ) == [f"http://{s}.localhost:{port}/" for s in listed]

        summary = page.locator("#network > summary")
        assert " ".join(summary.text_content().split()) == (
            "Network local healthy 4 of 4 nodes up 2 shards \u00d7 2 replicas epoch 1")
        if width == WIDTHS["wide"]:  # one line: every part beside every other
            boxes = page.eval_on_selector_all("#network > summary span", "ss => ss.map(s => "
                                              "[s.getBoundingClientRect().top, "
                                              "s.getBoundingClientRect().bottom])")
            assert max(top for top, _ in boxes) < min(bottom for _, bottom in boxes), boxes
        assert not page.is_visible("table.nodes")
        summary.click()
        assert page.eval_on_selector_all("table.nodes thead th", "hs => hs.map(h => "
                                         "h.textContent)") == [
            "Node", "Status", "Shard", "Keys", "Live", "Disk"]
        assert page.locator("table.nodes tbody tr").count() == 4
        assert "need not start at 0 or run without gaps" in page.text_content("p.shard-ids")
        assert page.locator("button:text-is('Add node')").count() == 1  # signed in
        assert page.locator("button:has-text('Remove')").count() == 0  # on each node's page
        page.click("table.nodes a.node[href='/ui/node/n1']")
        page.wait_for_url(f"{demo.url}/ui/node/n1")
        assert page.locator("button:text-is('Remove')").count() == 1
        page.context.close()
