"""The gateway: a FastAPI app over one or more networks' NetworkClients."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles

from dwp.client import gc
from gateway import (
    auth,
    deploys,
    docs,
    errors,
    network,
    objects,
    signin,
    sites,
    ui,
    ui_forms,
    uploads,
)
from gateway.context import Network
from gateway.hosts import HostRule, ServedHosts
from gateway.hot import HotReads
from gateway.identity import Identify
from gateway.metrics import MetricsMiddleware
from gateway.models import ErrorBody
from gateway.origins import SiteHosts
from gateway.paths import PathCheck
from gateway.ui_contexts import Contexts

DEFAULT_MAX_UPLOAD = 1 << 30
DEFAULT_GC_INTERVAL = 600.0
log = logging.getLogger("dwp.gateway")
# Any route can meet these: bad input (a key, a token, a parameter), an unknown network
# named by X-DWP-Network, and no replica able to answer.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Bad input; the detail says which rule"},
    404: {"model": ErrorBody, "description": "Not found, or no such network"},
    503: {"model": ErrorBody, "description": "No replica could answer; retry"},
}


@dataclass(frozen=True)
class GatewaySettings:
    max_upload: int = DEFAULT_MAX_UPLOAD
    fault_injection: bool = False
    site_domain: str | None = None  # sites also at {label}.{site_domain}, for a LAN
    gc_interval: float = DEFAULT_GC_INTERVAL  # seconds between collection rounds; 0: none
    gc_grace: float = gc.GRACE_SECONDS  # a chunk younger than this is never collected
    hot_path: bool = True  # cache hits answered before routing (gateway.hot)
    allowed_hosts: tuple[str, ...] = ()  # more Host names to answer for (gateway.hosts)

    def __post_init__(self) -> None:  # a list, from a worker's plan: one spelling, a tuple
        object.__setattr__(self, "allowed_hosts", tuple(self.allowed_hosts))


def create_app(networks: Sequence[Network], settings: GatewaySettings) -> FastAPI:
    """The app over one or more networks (the first is the default)."""
    app = FastAPI(title="dwp gateway", version="1", responses=COMMON_ERRORS,
                  docs_url=None, redoc_url=None,
                  lifespan=lambda _: collecting(networks, settings),
                  description="Distributed Web Pages: browse and publish pages stored on "
                              "a network of trusted peers.")
    app.state.networks = {n.name: n for n in networks}
    app.state.settings = settings
    app.state.contexts = Contexts()
    app.state.signins = signin.Redeemed()
    errors.install(app)
    app.include_router(objects.router)
    app.include_router(deploys.router)
    app.include_router(network.router)
    app.include_router(auth.router)
    app.include_router(sites.router)
    app.include_router(ui.router)
    app.include_router(ui_forms.router)
    app.include_router(uploads.router)
    docs.install(app)
    app.mount("/static", StaticFiles(packages=[("gateway", "static")]), name="static")
    if settings.fault_injection:
        app.include_router(network.faults_router)
    app.add_middleware(PathCheck)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(SiteHosts, site_domain=settings.site_domain)
    hosts = HostRule(settings.site_domain, settings.allowed_hosts)
    app.add_middleware(ServedHosts, rule=hosts)
    app.add_middleware(Identify)  # it stamps what SiteHosts and ServedHosts answer, too
    if settings.hot_path:  # outermost: a hit needs none of the layers above
        app.add_middleware(HotReads, networks=app.state.networks,
                           site_domain=settings.site_domain, hosts=hosts)
    app.openapi = lambda: openapi(app)  # type: ignore[method-assign]
    return app


@asynccontextmanager
async def collecting(networks: Sequence[Network], settings: GatewaySettings
                     ) -> AsyncIterator[None]:
    """Garbage collection in the background while the app serves (``dwp.client.gc``)."""
    tasks = [asyncio.create_task(_collect_every(n, settings)) for n in networks
             if settings.gc_interval]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()


async def _collect_every(network: Network, settings: GatewaySettings) -> None:
    cursors: dict[int, str] = {}
    while True:
        await asyncio.sleep(settings.gc_interval)
        try:
            report = await gc.collect(network.client, grace=settings.gc_grace,
                                      cursors=cursors)
        except Exception:
            log.exception("garbage collection round failed")
            continue
        if report.chunks or report.deleted_keys:
            log.info("collected %d chunks (%d bytes) and %d deleted keys in %s",
                     report.chunks, report.bytes, report.deleted_keys, network.name)


def openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document without its automatic 422s: invalid requests answer 400."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes)
        for operations in schema["paths"].values():
            for operation in operations.values():
                operation["responses"].pop("422", None)
        app.openapi_schema = schema
    return app.openapi_schema
