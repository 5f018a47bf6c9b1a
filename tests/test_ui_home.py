"""The home page's one-line network summary, in process: counts agree with their number,
as the CLI's do ("1 shard x 1 replica", never "1 replicas")."""

from __future__ import annotations

from pathlib import Path

from gateway import GatewaySettings, Network, create_app
from tests.conftest import TEST_MAX_UPLOAD, Net
from tests.inprocess import URL, PortalTransport, in_process_network


def test_a_one_replica_network_is_summed_up_in_the_singular(tmp_path: Path) -> None:
    with in_process_network(tmp_path, nodes=1, replicas=1) as network:
        app = create_app([Network(network.client, network.secret, network.membership)],
                         GatewaySettings(TEST_MAX_UPLOAD))
        net = Net(URL, network.secret, tmp_path, network.client,
                  PortalTransport(app, network.portal))
        with net.http() as h:
            page = h.get("/").text
    summary = page[page.index("<summary>"):page.index("</summary>")]
    assert "1 of 1 node up" in summary and "1 shard \u00d7 1 replica<" in summary
