"""Prometheus metrics: a pure ASGI middleware (no per-request task) and /metrics."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dwp.client.status import NetworkStatus

REGISTRY = CollectorRegistry()
REQUESTS = Counter("dwp_http_requests_total", "HTTP requests answered",
                   ["method", "route", "status"], registry=REGISTRY)
LATENCY = Histogram("dwp_http_request_seconds", "Time to the response's first byte",
                    ["method", "route"], registry=REGISTRY)
BYTES = Gauge("dwp_bytes", "Bytes a node stores, by kind (live, history, garbage, disk)",
              ["network", "node", "kind"], registry=REGISTRY)
CONTENT_TYPE = CONTENT_TYPE_LATEST


def set_bytes(status: NetworkStatus) -> None:
    """Gauges from ``NetworkClient.status``; a node that did not answer keeps none."""
    for node in status.nodes:
        for kind, value in (asdict(node.bytes) if node.bytes else {}).items():
            BYTES.labels(status.name, node.id, kind).set(value)


def route_of(path: str) -> str:
    """A low-cardinality label: the first two path segments."""
    parts = path.strip("/").split("/")
    return "/" + "/".join(parts[:3] if parts[0] == "api" else parts[:1])


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        method, route = scope["method"], route_of(scope["path"])

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                REQUESTS.labels(method, route, str(message["status"])).inc()
                LATENCY.labels(method, route).observe(time.perf_counter() - start)
            await send(message)

        await self.app(scope, receive, send_wrapper)


def generate_latest() -> Any:
    return _generate(REGISTRY)
