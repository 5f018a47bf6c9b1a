"""The network panel in a real headless Chromium (Debian's): it opens from its one-line
summary; adding a node through the form shows that it is working, then the new status;
a node's page removes it; the switcher shows each network; a hostile site cannot switch
the UI's network or get a token."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway import Network, signin
from tests.conftest import RayCluster, networks_served
from tests.helpers import CHROMIUM, browser_fixture, page_fixture  # noqa: F401  (the fixtures)
from tests.test_ui_browser import Failures, sign_in_to_all

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"Chromium is not installed at {CHROMIUM} "
                                       "(apt-get install chromium)")


@pytest.fixture(scope="module")
def served(ray_runtime: RayCluster, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, list[Network]]]:
    """A gateway for two fresh two-node networks; the first is the default."""
    with networks_served(tmp_path_factory, "home-lab", "family") as served:
        yield served


SWITCHER = """<!doctype html><html><head><meta charset="utf-8"><title>switcher</title></head>
<body><iframe name="sink"></iframe>
<form id="switch" method="post" action="UI/ui/network/select" target="sink">
<input name="network" value="OTHER"></form>
<script>
document.getElementById("switch").submit();
document.querySelector("iframe").addEventListener("load", () => {
  location.href = "UI/?network=OTHER";  // then take the person to the UI
});
</script></body></html>"""


def test_a_hostile_site_cannot_switch_the_network_or_get_a_token(
        served: tuple[str, list[Network]], page: Any) -> None:
    url, (first, second) = served
    site = f"switcher-{uuid.uuid4().hex[:6]}"
    with httpx.Client(base_url=url) as h:
        h.put(f"/api/v1/objects/{site}/index.html", headers={
            "Authorization": f"Bearer {first.secret}", "Content-Type": "text/html"},
            content=SWITCHER.replace("UI", url).replace("OTHER", second.name).encode()
        ).raise_for_status()
    page.goto(f"{url}/?login=" + signin.mint({first.name: first.secret}, time.time()))
    before = {c["name"]: c["value"] for c in page.context.cookies()}
    assert before["dwp_network"] == first.name
    responses: list[tuple[str, int]] = []
    page.on("response", lambda r: responses.append((r.url, r.status)))
    page.goto(f"{url}/sites/{site}/")
    page.wait_for_url(f"{url}/?network={second.name}")
    page.wait_for_load_state("networkidle")
    assert (f"{url}/ui/network/select", 403) in responses
    assert page.text_content("#network .name") == first.name
    after = {c["name"]: c["value"] for c in page.context.cookies()}
    assert after == before, json.dumps([before, after])
    with httpx.Client(base_url=url, cookies=after) as h:  # the cookie: no token of the other
        r = h.put(f"/api/v1/objects/{site}/x.txt", content=b"x",
                  headers={"Origin": url, "X-DWP-Network": second.name})
        assert r.status_code == 401


def test_add_then_remove_a_node_through_the_forms(served: tuple[str, list[Network]],
                                                  page: Any) -> None:
    url, (first, second) = served
    with httpx.Client(base_url=url) as h:
        h.put("/api/v1/objects/photos/index.html", content=b"<h1>Photos</h1>",
              headers={"Authorization": f"Bearer {first.secret}"}).raise_for_status()
    failures = Failures(page)
    page.on("dialog", lambda dialog: dialog.accept())  # Remove asks to confirm
    sign_in_to_all(page, url, [first, second])
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
