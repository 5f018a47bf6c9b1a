"""The network panel in a real headless Chromium (Debian's): it opens from its one-line
summary; adding a node through the form shows that it is working, then the new status;
a node's page removes it; the switcher shows each network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway import Network
from tests.conftest import RayCluster, networks_served
from tests.test_ui_browser import ARGS, CHROMIUM, Failures

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"Chromium is not installed at {CHROMIUM} "
                                       "(apt-get install chromium)")


@pytest.fixture(scope="module")
def served(ray_runtime: RayCluster, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, list[Network]]]:
    """A gateway for two fresh two-node networks; the first is the default."""
    with networks_served(tmp_path_factory, "home-lab", "family") as served:
        yield served


@pytest.fixture
def page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        yield context.new_page()
        browser.close()


def test_add_then_remove_a_node_through_the_forms(served: tuple[str, list[Network]],
                                                  page: Any) -> None:
    url, (first, second) = served
    with httpx.Client(base_url=url) as h:
        h.put("/api/v1/objects/photos/index.html", content=b"<h1>Photos</h1>",
              headers={"Authorization": f"Bearer {first.secret}"}).raise_for_status()
    failures = Failures(page)
    page.on("dialog", lambda dialog: dialog.accept())  # Remove asks to confirm
    page.goto(url + "/")
    assert page.text_content("#network .name") == first.name
    assert not page.is_visible("table.nodes")  # healthy: the panel is one line
    assert page.text_content("#network .health") == "healthy"
    page.click("#network > summary")
    assert page.is_visible("table.nodes")
    assert page.eval_on_selector_all("form.switch option", "os => os.map(o => o.value)") == [
        first.name, second.name]
    before = page.eval_on_selector_all("table.nodes tbody tr", "rows => rows.length")

    shown = page.evaluate("""async () => {
        document.querySelector("form.add-node button").click();
        await new Promise((tick) => setTimeout(tick, 0));
        const box = document.getElementById("working");
        return {hidden: box.hidden, text: box.textContent,
                disabled: document.querySelector("form.add-node button").disabled};
    }""")  # read in the same turn as the click: the change may finish within a second
    assert shown["hidden"] is False and shown["disabled"] is True
    assert "Adding a node" in shown["text"]
    page.wait_for_selector("text=joined", timeout=180_000)
    assert page.eval_on_selector_all("table.nodes tbody tr", "rows => rows.length") == before + 1
    added = page.text_content(".notice code")
    assert page.is_visible(f"table.nodes td code:text-is('{added}')")
    with httpx.Client(base_url=url) as h:
        status = h.get("/api/v1/network").json()
    assert added in {n["id"] for n in status["nodes"]} and len(status["nodes"]) == before + 1

    page.click(f"table.nodes a.node[href='/ui/node/{added}']")
    page.wait_for_url(f"{url}/ui/node/{added}")
    assert page.text_content("h1 .state") == "up"
    assert page.locator("button:text('Remove dead node')").count() == 0  # it is up
    page.click("button:text-is('Remove')")
    page.wait_for_selector(f"text=Node {added} left", timeout=180_000)
    assert page.eval_on_selector_all("table.nodes tbody tr", "rows => rows.length") == before

    page.select_option("form.switch select", second.name)
    page.click("form.switch button")
    page.wait_for_selector(f"#network .name:text-is('{second.name}')")
    assert "photos" not in page.text_content("#sites")
    assert failures.items == []
