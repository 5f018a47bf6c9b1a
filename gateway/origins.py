"""Each site in its own web origin, as kubo's subdomain gateway does.

A site is served at the root of ``http://{label}.localhost:{port}/`` (and, with
``dwp up --site-domain NAME``, of ``{label}.NAME``), so its scripts get ``localStorage``,
``fetch`` of their own files and workers, while the UI and API on ``127.0.0.1`` or
``localhost`` stay another origin whose host-only token cookie a site never sees.

The label naming a site's origin comes from ``dwp.core.labels``; a site whose name no label
holds has no origin, and the gateway serves it path-style under the sandbox.

``SiteHosts`` routes a request for a site's host to ``/sites/{site}/{path}``, marking it
as served from the origin, so every path of a site's origin is the site's and never the
UI or the API. A site of a network other than the gateway's first is at
``{site}.{network}.localhost``, so every origin names its network.

Each kept deploy of a site has its own origin too, its preview: ``{id}.{site}.localhost``
(``{id}.{site}.{network}.localhost`` for a network other than the first). Two labels
name a preview when the first is a deploy id (``dwp.core.deploys.is_id``) and the second is
not one of the gateway's networks; three labels always do.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from typing import NamedTuple
from urllib.parse import quote

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from dwp.core.deploys import is_id
from dwp.core.labels import label_of, site_of
from gateway.context import (
    ORIGIN_DEPLOY,
    ORIGIN_NETWORK,
    ORIGIN_SITE,
    RequestContext,
)
from gateway.errors import error_response

LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}
LOCAL_DOMAIN = "localhost"


def is_loopback(host: str | None) -> bool:
    """``host`` (a name or an address) always means this machine."""
    if not host:
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def split_host(host: str) -> tuple[str, str]:
    """``Host`` header -> (lowercase name, ':port' or '')."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host.partition("]")
        return name + "]", rest
    name, colon, port = host.rpartition(":")
    return (name, colon + port) if colon and port.isdigit() else (host, "")


def domains(site_domain: str | None) -> list[str]:
    return [LOCAL_DOMAIN] + ([site_domain.lower().strip(".")] if site_domain else [])


def origin_of(ctx: RequestContext, site: str) -> str | None:
    """``http://{label}.{domain}:{port}``, the origin serving ``site`` to this client, or
    None when it has none here: a client on a LAN address while no site domain is set,
    or a name no label holds."""
    request = ctx.request
    label = network_label(ctx, site)
    name, port = split_host(request.headers.get("host", ""))
    site_domain: str | None = request.app.state.settings.site_domain
    if label is None:
        return None
    if ctx.site is not None:
        domain = next(d for d in domains(site_domain) if name.endswith("." + d))
    elif is_loopback(name):
        domain = LOCAL_DOMAIN
    elif site_domain:
        domain = site_domain.strip(".")
    else:
        return None
    return f"{request.url.scheme}://{label}.{domain}{port}"


def network_label(ctx: RequestContext, site: str) -> str | None:
    """``site``'s labels: ``{site}`` in the gateway's first network, else
    ``{site}.{network}``; None when a name has no label."""
    label = label_of(site)
    network = ctx.network.name
    if label is None or network == next(iter(ctx.request.app.state.networks)):
        return label
    network_part = label_of(network)
    return f"{label}.{network_part}" if network_part else None


def ui_origin(ctx: RequestContext) -> str:
    """Where the UI is, seen from a site's origin: the domain the site's host is under."""
    request = ctx.request
    name, port = split_host(request.headers.get("host", ""))
    site_domain: str | None = request.app.state.settings.site_domain
    if ctx.site is None:
        return ""
    domain = next(d for d in domains(site_domain) if name.endswith("." + d))
    return f"{request.url.scheme}://{domain}{port}"


def site_link(ctx: RequestContext, key: str) -> str:
    """The URL a person opens for ``key``: on the site's origin when it has one here,
    else the sandboxed path ``/sites/{key}``."""
    site, _, path = key.partition("/")
    origin = origin_of(ctx, site)
    if origin is None:
        return "/sites/" + quote(key)
    return origin + "/" + quote(path)


class NoSuchSite(Exception):
    """A host under a site domain whose labels name no site (SiteHosts answers 404)."""


class SiteHost(NamedTuple):
    """What a site's host names: the site, its network (None: the first), and the
    deploy for a preview origin (None: the live site)."""

    site: str
    network: str | None = None
    deploy: str | None = None


def site_of_host(host: str, site_domains: list[str], networks: Collection[str] = ()
                 ) -> SiteHost | None:
    """What a site's host names (``networks``: the gateway's, to tell
    ``{site}.{network}`` from a preview's ``{id}.{site}``), None for the UI/API host;
    raises ``NoSuchSite`` for a host under a site domain that names no site."""
    name, _ = split_host(host)
    domain = next((d for d in site_domains if name.endswith("." + d)), None)
    if domain is None:
        return None
    labels = name[:-len(domain) - 1].split(".")
    deploy = None
    if len(labels) == 3 or (len(labels) == 2 and labels[1] not in _labels(networks)):
        deploy = labels.pop(0) if is_id(labels[0]) else None
    names = [site_of(label) for label in labels]
    if len(labels) > 2 or None in names:
        raise NoSuchSite(f"{name} names no site: a site's host is {{site}}.{domain}, or "
                         f"{{site}}.{{network}}.{domain} for a network other than the "
                         f"first; a deploy's preview is {{deploy}}.{{site}}.{domain}")
    site = names[0]
    assert site is not None
    return SiteHost(site, names[1] if len(names) == 2 else None, deploy)


def _labels(networks: Collection[str]) -> set[str]:
    return {label for n in networks if (label := label_of(n)) is not None}


class SiteHosts:
    """ASGI middleware: a request for ``{label}.{domain}`` becomes ``/sites/{site}/...``
    on the site's origin; an unknown label there is a 404, never the UI."""

    def __init__(self, app: ASGIApp, site_domain: str | None) -> None:
        self.app = app
        self.domains = domains(site_domain)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            found = site_of_host(Headers(scope=scope).get("host", ""), self.domains,
                                 scope["app"].state.networks)
        except NoSuchSite as exc:
            await error_response(404, "not found", str(exc))(scope, receive, send)
            return
        if found is None:
            await self.app(scope, receive, send)
            return
        prefix = "/sites/" + quote(found.site, safe="")
        scope = {**scope, "path": "/sites/" + found.site + scope["path"],
                 "raw_path": prefix.encode() + scope.get("raw_path", scope["path"].encode()),
                 "state": {**scope.get("state", {}), ORIGIN_SITE: found.site,
                           ORIGIN_NETWORK: found.network, ORIGIN_DEPLOY: found.deploy}}
        await self.app(scope, receive, send)
