"""Clients that reach a test gateway as a browser reaches a site's origin, or as a LAN
client of a gateway without a site domain (path-style serving)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from dwp.core.labels import label_of
from tests.conftest import LAN_HOST, Net

__all__ = ["LAN_HOST", "NAVIGATE", "lan", "origin", "origin_host"]

# What a browser's navigation sends (Fetch Metadata): the gateway redirects it to a
# site's origin, and serves every other client path-style.
NAVIGATE = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}


def origin_host(net: Net, site: str, domain: str = "localhost") -> str:
    return f"{label_of(site)}.{domain}:{urlsplit(net.url).port}"


def origin(net: Net, site: str, domain: str = "localhost", **kwargs: Any) -> httpx.Client:
    """Requests to ``site``'s own origin: the connection goes to the gateway, the Host
    header names the site (Chromium resolves ``*.localhost`` itself; httpx need not)."""
    headers = {"Host": origin_host(net, site, domain), **kwargs.pop("headers", {})}
    return net.http(headers=headers, **kwargs)


def lan(net: Net, **kwargs: Any) -> httpx.Client:
    """Requests that name the gateway by a LAN address, as another machine would."""
    port = urlsplit(net.url).port
    return net.http(headers={"Host": f"{LAN_HOST}:{port}"}, **kwargs)
