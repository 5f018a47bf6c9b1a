"""``dwp up --workers N``: the pieces that need no Ray (a full run is in the bench)."""

from __future__ import annotations

import json
import socket
from dataclasses import asdict

from browser_cli.workers import WorkerPlan, listening_socket
from gateway import GatewaySettings


def test_workers_share_one_port() -> None:
    first = listening_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = listening_socket("127.0.0.1", port)
    try:
        assert second.getsockname()[1] == port
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # the kernel hands the connection to one of them
    finally:
        first.close()
        second.close()


def test_a_plan_survives_the_trip_to_a_worker() -> None:
    plan = WorkerPlan("127.0.0.1:6379", "127.0.0.1", 8000, [("local", "secret")], "local",
                      5.0, asdict(GatewaySettings(site_domain="lan.example")))
    back = WorkerPlan(**json.loads(json.dumps(asdict(plan))))
    assert GatewaySettings(**back.settings) == GatewaySettings(site_domain="lan.example")
    assert [tuple(n) for n in back.networks] == plan.networks
