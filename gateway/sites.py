"""Site serving: a published site works in a browser exactly as it did from disk.

``/sites/{site}/{path}`` maps to the key ``site/path``. A directory answers its
``index.html`` or a listing; ``dir`` redirects to ``dir/`` so relative links resolve.
Every answer carries a sandboxing Content-Security-Policy: a page's scripts run in an
opaque origin, so they cannot use the user's token cookie on the gateway's API.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from dwp.client import ReadResult
from dwp.errors import NotFound
from dwp.keys import validate_key
from gateway import catalog
from gateway.networks import client_of
from gateway.objects import pinned_of, token_of
from gateway.pages import PageRoute, render
from gateway.responses import attachment, located_headers, version_response
from gateway.routes import get_and_head

router = APIRouter(tags=["sites"], route_class=PageRoute)

SITE_CSP = ("sandbox allow-scripts allow-forms allow-popups "
            "allow-popups-to-escape-sandbox allow-modals allow-downloads")


def site_url(key: str) -> str:
    return "/sites/" + quote(key)


def moved(request: Request, to: str) -> Response:
    query = request.url.query
    return RedirectResponse(to + ("?" + query if query else ""), status_code=301,
                            headers={"Content-Security-Policy": SITE_CSP})


async def read(request: Request, key: str) -> ReadResult | None:
    """The key's state when it has a live version, else None."""
    try:
        result = await client_of(request).get(key, token_of(request), pinned_of(request))
    except NotFound:
        return None
    return result if result.versions else None


def page(request: Request, key: str, result: ReadResult, download: bool) -> Response:
    headers = located_headers(request, result, result.token)
    if download:
        headers["Content-Disposition"] = attachment(key.rsplit("/", 1)[-1])
    return version_response(request, result.versions[0], headers,
                            siblings=len(result.versions), csp=SITE_CSP)


async def not_found(request: Request, key: str) -> Response:
    site, _, path = key.partition("/")
    parts = path.rstrip("/").split("/")[:-1] if path else []
    prefixes = ["/".join([site, *parts[:i]]) + "/" for i in range(len(parts) + 1)]
    existing = await catalog.nonempty(client_of(request), prefixes, token_of(request))
    parents = [(prefix, site_url(prefix)) for prefix in existing]
    return render("site_404.html", 404, csp=SITE_CSP, key=key, site=site, parents=parents,
                  ui_url="/ui/search?q=" + quote(key.rstrip("/").rsplit("/", 1)[-1]))


@get_and_head(router, "/sites/{site}", status_code=301, response_class=Response)
async def site_root(site: str, request: Request) -> Response:
    """The site without a trailing slash: redirect so relative links resolve."""
    validate_key(site)
    return moved(request, site_url(site) + "/")


@get_and_head(router, "/sites/{site}/{path:path}",
                  response_class=Response, responses={
                      200: {"content": {"text/html": {}, "application/octet-stream": {}}},
                      206: {"description": "A single byte range"},
                      301: {"description": "A directory without its trailing slash"},
                      304: {"description": "Not modified"},
                      404: {"description": "No such page (an HTML page)"},
                      416: {"description": "The Range starts past the end"}})
async def serve(site: str, path: str, request: Request, download: bool = False) -> Response:
    """A page or file of a site: its bytes, a directory's index.html or listing, or a
    redirect to the directory form; ``?download=1`` saves instead of displaying."""
    key = f"{site}/{path}"
    if path == "" or path.endswith("/"):
        validate_key(key.rstrip("/"))
        index = await read(request, key + "index.html")
        if index is not None:
            return page(request, key + "index.html", index, download)
        listing = await catalog.directory(client_of(request), key, token_of(request))
        if not listing.entries:
            return await not_found(request, key)
        return render("listing.html", csp=SITE_CSP, listing=listing, key=key,
                      up=site_url(key.rstrip("/").rsplit("/", 1)[0] + "/") if path else None)
    validate_key(key)
    result = await read(request, key)
    if result is not None:
        return page(request, key, result, download)
    below, _ = await client_of(request).list(key + "/", 1)
    if below:
        return moved(request, site_url(key) + "/")
    return await not_found(request, key)
