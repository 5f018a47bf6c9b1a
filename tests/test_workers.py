"""``dwp up --workers N``: the pieces that need no Ray (a full run is in the bench)."""

from __future__ import annotations

import json
import socket
from dataclasses import asdict

import pytest

from browser_cli.workers import WorkerPlan
from gateway import GatewaySettings
from gateway.server import claim_port, listening_socket


def test_workers_share_one_port() -> None:
    first = claim_port("127.0.0.1", 0, shared=True)
    port = first.getsockname()[1]
    second = listening_socket("127.0.0.1", port, shared=True)
    try:
        assert second.getsockname()[1] == port
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # the kernel hands the connection to one of them
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("shared", [False, True])
def test_a_busy_port_is_refused_whoever_holds_it(shared: bool) -> None:
    for holder_shares in (False, True):  # another program, or another dwp up's workers
        holder = listening_socket("127.0.0.1", 0, shared=holder_shares)
        try:
            with pytest.raises(OSError):
                claim_port("127.0.0.1", holder.getsockname()[1], shared)
        finally:
            holder.close()


def test_a_plan_survives_the_trip_to_a_worker() -> None:
    settings = GatewaySettings(site_domain="lan.example", allowed_hosts=("nas.home",))
    plan = WorkerPlan("127.0.0.1:6379", "127.0.0.1", 8000, [("local", "secret")], "local",
                      5.0, asdict(settings))
    back = WorkerPlan(**json.loads(json.dumps(asdict(plan))))
    assert GatewaySettings(**back.settings) == settings
    assert [tuple(n) for n in back.networks] == plan.networks
