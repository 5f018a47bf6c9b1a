"""The gateway: a FastAPI app over one NetworkClient."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from gateway import errors, network, objects, sites, ui, ui_forms
from gateway.metrics import MetricsMiddleware
from gateway.networks import Network

DEFAULT_MAX_UPLOAD = 1 << 30


@dataclass(frozen=True)
class GatewaySettings:
    max_upload: int = DEFAULT_MAX_UPLOAD
    fault_injection: bool = False


def create_app(networks: Sequence[Network], settings: GatewaySettings) -> FastAPI:
    """The app over one or more networks (the first is the default)."""
    app = FastAPI(title="dwp gateway", version="1",
                  description="Distributed Web Pages: browse and publish pages stored on "
                              "a network of trusted peers.")
    app.state.networks = {n.name: n for n in networks}
    app.state.settings = settings
    errors.install(app)
    app.include_router(objects.router)
    app.include_router(network.router)
    app.include_router(sites.router)
    app.include_router(ui.router)
    app.include_router(ui_forms.router)
    app.mount("/static", StaticFiles(packages=[("gateway", "static")]), name="static")
    if settings.fault_injection:
        app.include_router(network.faults_router)
    app.add_middleware(MetricsMiddleware)
    return app
