"""The home page's sites: each added up (files, bytes, newest write) while the key space
read stays within its budget; past it, sites are named, marked as not counted."""

from __future__ import annotations

from pathlib import Path

from dwp.core.token import Token
from gateway.catalog import SiteSummary, site_summaries
from tests.inprocess import in_process_network


def test_site_summaries_add_up_each_site_within_a_budget(tmp_path: Path) -> None:
    with in_process_network(tmp_path) as network:
        async def scenario() -> tuple[list[SiteSummary], list[SiteSummary]]:
            token = Token()
            for key, size in (("alpha/a", 10), ("alpha/b/c", 20), ("alpha/d", 30),
                              ("beta/x", 1), ("beta/y", 2), ("beta/z", 3), ("gamma/g", 5)):
                written = await network.client.put(key, b"x" * size, "text/plain", token)
                token = written.token
            whole = await site_summaries(network.client, token)
            cut = await site_summaries(network.client, token, budget=4, page_size=2)
            return whole, cut
        whole, cut = network.portal.call(scenario)
    assert [(s.name, s.files, s.bytes, s.complete) for s in whole] == [
        ("alpha", 3, 60, True), ("beta", 3, 6, True), ("gamma", 1, 5, True)]
    assert all(s.updated is not None for s in whole)
    # Four keys read (alpha's three, beta's first): beta's count is a lower bound, and
    # gamma is named only.
    assert [(s.name, s.files, s.bytes, s.complete) for s in cut] == [
        ("alpha", 3, 60, True), ("beta", 1, 1, False), ("gamma", 0, 0, False)]
    assert cut[1].updated is None and cut[2].updated is None
