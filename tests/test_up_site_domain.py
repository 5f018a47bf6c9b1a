"""``dwp up --site-domain NAME`` end to end: a real ``dwp up`` serves each site on
``{site}.localhost`` and ``{site}.NAME``, and sends LAN clients to the latter (and the
network it creates keeps as many versions a key as ``--history`` says, and as many
deploys a site as ``--keep-deploys`` says)."""

from __future__ import annotations

from pathlib import Path

import httpx
from typer.testing import CliRunner

from browser_cli.main import app
from tests.conftest import free_port
from tests.sites import LAN_HOST, NAVIGATE
from tests.test_durability import Up, ups  # noqa: F401 (the fixture)


def test_dwp_up_with_a_site_domain(tmp_path: Path, ups: list[Up]) -> None:  # noqa: F811
    data_dir, port = tmp_path / "net", free_port()
    ups.append(up := Up(data_dir, port, "--site-domain", "dwp.lan", "--history", "4",
                        "--keep-deploys", "3", "--allow-host", LAN_HOST))
    up.wait_ready()
    assert f"Sites at http://SITE.localhost:{port}/ and http://SITE.dwp.lan:{port}/" in (
        up.log.read_text())
    token = (data_dir / "token").read_text().strip()
    with httpx.Client(base_url=up.url, timeout=60) as h:
        r = h.put("/api/v1/objects/garden/index.html", content=b"<h1>Garden</h1>",
                  headers={"Authorization": f"Bearer {token}", "Content-Type": "text/html"})
        assert r.status_code == 200
        r = h.get("/sites/garden/", headers={"Host": f"{LAN_HOST}:{port}", **NAVIGATE})
        assert r.headers["location"] == f"http://garden.dwp.lan:{port}/"
        assert h.get("/sites/garden/", headers=NAVIGATE).headers["location"] == (
            f"http://garden.localhost:{port}/")
        for host in (f"garden.dwp.lan:{port}", f"garden.localhost:{port}"):
            assert h.get("/", headers={"Host": host}).content == b"<h1>Garden</h1>"
        kept = h.get("/api/v1/objects/garden/index.html", params={"history": "true"})
        assert kept.json()["limit"] == 4
        auth = {"Authorization": f"Bearer {token}"}
        assert h.post("/api/v1/sites/garden/deploys", json={}, headers=auth).status_code == 201
        assert h.get("/api/v1/sites/garden/deploys").json()["limit"] == 3


def test_dwp_up_refuses_a_site_domain_that_is_not_a_dns_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["up", "--data-dir", str(tmp_path / "net"),
                                      "--site-domain", "my lan!"])
    assert result.exit_code == 2
    assert "is not a DNS name" in " ".join(result.output.replace("│", " ").split())
    assert not (tmp_path / "net").exists()
