"""One gateway, several networks on one Ray cluster: each in its own namespace with its
own token; a request picks its network by header, query or cookie."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dwp.local import start_network
from gateway import Network
from tests.conftest import RayCluster, gateway


@pytest.fixture(scope="module")
def two(ray_runtime: RayCluster, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[tuple[str, dict[str, str]]]:
    networks, secrets = [], {}
    for name in ("alpha", "beta"):
        data_dir: Path = tmp_path_factory.mktemp(name)
        client, membership = start_network(data_dir, name=name, nodes=2, replicas=2,
                                           anti_entropy_interval=1.0)
        secrets[name] = (data_dir / "token").read_text().strip()
        networks.append(Network(client, secrets[name], membership))
    with gateway(networks) as url:
        yield url, secrets


def test_each_network_keeps_its_own_data_and_token(two: tuple[str, dict[str, str]]) -> None:
    url, secrets = two
    with httpx.Client(base_url=url, timeout=60) as h:
        for name in ("alpha", "beta"):
            r = h.put("/api/v1/objects/s/page.txt", content=name.encode(), headers={
                "Authorization": f"Bearer {secrets[name]}", "X-DWP-Network": name})
            assert r.status_code == 200, r.text
        assert h.get("/api/v1/objects/s/page.txt").content == b"alpha"  # the default
        assert h.get("/api/v1/objects/s/page.txt",
                     headers={"X-DWP-Network": "beta"}).content == b"beta"
        assert h.get("/api/v1/objects/s/page.txt", params={"network": "beta"}).content == b"beta"
        assert h.get("/api/v1/network", params={"network": "beta"}).json()["name"] == "beta"
        wrong = h.put("/api/v1/objects/s/x.txt", content=b"x", headers={
            "Authorization": f"Bearer {secrets['alpha']}", "X-DWP-Network": "beta"})
        assert wrong.status_code == 401
        unknown = h.get("/api/v1/network", headers={"X-DWP-Network": "gamma"})
        assert unknown.status_code == 404 and "alpha" in unknown.json()["detail"]
