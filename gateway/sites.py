"""Site serving: a published site works in a browser exactly as from a web server.

A site is served at the root of its own origin (``gateway.origins``); the path
``/sites/{site}/{path}`` redirects a browser there when it has that origin. Every other
client (wget, curl, scripts: they send no ``Sec-Fetch-*`` header, and most cannot
resolve ``{site}.localhost``), and a LAN browser of a gateway without ``--site-domain``,
gets the page path-style under a sandboxing Content-Security-Policy, so a page's scripts
run in an opaque origin and cannot use the user's token cookie on the gateway's API.

A directory answers its ``index.html`` or a paged listing; ``dir`` redirects to ``dir/``
so relative links resolve. A missing path is looked up in the site's ``_redirects``
(on its origin only, as the spec asks), then answered with the site's own ``404.html``,
then with the gateway's 404 page. Every answer but a redirect carries the headers the
site's ``_headers`` gives its path (``dwp.core.headers``).

Every file, folder and rule file is read from the site's source (``gateway.sources``):
its keys, or its live deploy, a preview's deploy, or the deploy a subresource request's
cookie pins; a document answered from a deploy on the site's origin pins it
(``gateway.pinning``).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from types import ModuleType
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from dwp.core import headers, redirects
from dwp.core.keys import InvalidKey, validate_key
from gateway import encodings, pinning
from gateway.context import RequestContext, context_of
from gateway.origins import origin_of, ui_origin
from gateway.pages import PageRoute, render
from gateway.responses import attachment, located, version_response
from gateway.routes import get_and_head
from gateway.sources import Found, Source, source_of

log = logging.getLogger("dwp.gateway")
router = APIRouter(tags=["sites"], route_class=PageRoute)

MAX_PARSED = 1000  # _redirects and _headers files kept parsed
SITE_CSP = ("sandbox allow-scripts allow-forms allow-popups "
            "allow-popups-to-escape-sandbox allow-modals allow-downloads")


def csp_of(ctx: RequestContext) -> str | None:
    """No sandbox on a site's own origin; the sandbox for path-style serving."""
    return None if ctx.site is not None else SITE_CSP


def from_browser(request: Request) -> bool:
    """Browsers send Fetch Metadata (``Sec-Fetch-*``) with every request; wget, curl and
    scripts send none, and are served path-style rather than sent to an origin they
    may not resolve."""
    return any(name.startswith("sec-fetch-") for name in request.headers)


def browser_origin(ctx: RequestContext, site: str) -> str | None:
    """The origin a browser is redirected to for ``site``, None to serve in place."""
    return origin_of(ctx, site) if from_browser(ctx.request) else None


def here(ctx: RequestContext, key: str) -> str:
    """The URL of ``key`` on the host this request came to."""
    if ctx.site is not None:
        return "/" + quote(key.partition("/")[2])
    return "/sites/" + quote(key)


def moved(ctx: RequestContext, to: str, status: int = 301) -> Response:
    """A redirect to ``to`` that keeps the request's query (unless ``to`` has one)."""
    query = ctx.request.url.query
    if query and "?" not in to:
        to += "?" + query
    csp = csp_of(ctx)
    return RedirectResponse(to, status_code=status,
                            headers={"Content-Security-Policy": csp} if csp else None)


async def whole(ctx: RequestContext, found: Found) -> bytes:
    return b"".join([piece async for piece in ctx.client.body(found.version)])


_RULES: dict[tuple[str, str], list[Any]] = {}  # (file name, its ETag): its rules


async def site_rules(ctx: RequestContext, source: Source, rules: ModuleType) -> list[Any]:
    """The parsed rules of the site's ``_redirects`` or ``_headers`` (``rules``: the
    module that reads it), kept by content; none for a broken file (logged), never a
    500: ``dwp publish`` refuses it first."""
    found = await source.read(rules.NAME)
    if found is None or found.version.size > rules.MAX_SIZE:
        return []
    kept = (rules.NAME, found.version.etag)
    parsed = _RULES.get(kept)
    if parsed is None:
        try:
            parsed = rules.parse(await whole(ctx, found))
        except ValueError as exc:
            log.warning("site %r: ignoring its %s: %s", source.site, rules.NAME, exc)
            parsed = []
        if len(_RULES) >= MAX_PARSED:
            _RULES.clear()
        _RULES[kept] = parsed
    return parsed


def add_headers(response: Response, found: list[tuple[str, str]]) -> None:
    """A site's headers on ``response``: a CSP beside the gateway's (both enforced),
    any other instead of the gateway's own value (``Cache-Control``)."""
    for name, value in found:
        if name.lower() in headers.ADDED_AS_OWN_FIELD:
            response.headers.append(name, value)
        else:
            response.headers[name] = value


async def page(ctx: RequestContext, source: Source, path: str, found: Found,
               download: bool = False, status: int = 200) -> Response:
    """``path``'s answer; for a 200, its stored ``.br``/``.gz`` sibling instead when the
    client accepts that coding (``gateway.encodings``)."""
    version, siblings = found.version, found.siblings
    extra: dict[str, str] = {}
    if status == 200:
        fresh = [(coding, stored) for coding, sibling in encodings.sibling_keys(path)
                 if (stored := await source.read(sibling)) is not None
                 and stored.version.mtime >= version.mtime]
        if fresh:
            extra["Vary"] = "Accept-Encoding"
        wanted = encodings.accepted(ctx.request.headers.get("accept-encoding"))
        chosen = next(((coding, stored) for coding, stored in fresh if coding in wanted),
                      None)
        if chosen is not None:
            coding, found = chosen
            version = replace(found.version, content_type=version.content_type)
            extra["Content-Encoding"] = coding
    headers = {**located(ctx.client, found.where, found.token), **extra}
    if download:
        headers["Content-Disposition"] = attachment(path.rsplit("/", 1)[-1])
    return version_response(ctx, version, headers, status=status, siblings=siblings,
                            csp=csp_of(ctx))


async def not_found(ctx: RequestContext, source: Source, path: str) -> Response:
    """The site's own ``404.html`` with status 404, else the gateway's 404 page."""
    site, key = source.site, f"{source.site}/{path}"
    custom = await source.read("404.html")
    if custom is not None:
        return await page(ctx, source, "404.html", custom, status=404)
    parts = path.rstrip("/").split("/")[:-1] if path else []
    prefixes = ["/".join([site, *parts[:i]]) + "/" for i in range(len(parts) + 1)]
    existing = await source.nonempty(prefixes)
    parents = [(prefix, here(ctx, prefix)) for prefix in existing]
    ui = ui_origin(ctx)
    csp = csp_of(ctx)
    return render("site_404.html", 404, csp=csp, key=key, site=site, parents=parents, ui=ui,
                  ui_url=ui + "/ui/search?q=" + quote(key.rstrip("/").rsplit("/", 1)[-1]))


async def redirected(ctx: RequestContext, source: Source, path: str) -> Response | None:
    """What the site's ``_redirects`` says for a path that does not exist, if anything.
    A broken file is ignored (logged), never a 500: ``dwp publish`` refuses it first."""
    if ctx.site is None:
        return None
    match = redirects.first_match(await site_rules(ctx, source, redirects), "/" + path)
    if match is None:
        return None
    rule, to = match
    if rule.status in redirects.REDIRECTS:
        return moved(ctx, to, rule.status)
    target = unquote(urlsplit(to).path)[1:]
    if target == "" or target.endswith("/"):
        target += "index.html"
    try:
        validate_key(f"{source.site}/{target}")
    except InvalidKey:
        return None
    found = await source.read(target)
    if found is None:
        return None
    return await page(ctx, source, target, found, status=rule.status)


@get_and_head(router, "/sites/{site}", status_code=301, response_class=Response)
async def site_root(site: str, request: Request) -> Response:
    """The site without a trailing slash: redirect so relative links resolve."""
    ctx = context_of(request)
    validate_key(site)
    origin = browser_origin(ctx, site)
    return moved(ctx, origin + "/" if origin else here(ctx, site + "/"))


@get_and_head(router, "/sites/{site}/{path:path}",
              response_class=Response, responses={
                  200: {"content": {"text/html": {}, "application/octet-stream": {}}},
                  206: {"description": "A single byte range"},
                  301: {"description": "A browser (Sec-Fetch-*) to the site's origin, "
                                       "or a directory without its trailing slash"},
                  304: {"description": "Not modified"},
                  404: {"description": "No such page (an HTML page)"},
                  416: {"description": "The Range starts past the end"}})
async def serve(site: str, path: str, request: Request, download: bool = False,
                after: str = "") -> Response:
    """A page or file of a site: its bytes, a directory's index.html or listing (paged
    with ``?after=NAME``), or a redirect to the directory form or the site's origin;
    ``?download=1`` saves instead of displaying. Every answer but a redirect gets the
    headers the site's ``_headers`` gives its path."""
    ctx = context_of(request)
    response, source = await answer(site, path, ctx, download, after)
    if source is None:
        return response
    if not 300 <= response.status_code < 400 or response.status_code == 304:
        add_headers(response, headers.headers_for(await site_rules(ctx, source, headers),
                                                  "/" + path))
    if (source.deploy is not None and ctx.site is not None
            and ctx.deploy is None and pinning.is_document(request)):
        pinning.pin(ctx, response, site, source.deploy)
    return response


async def answer(site: str, path: str, ctx: RequestContext, download: bool, after: str
                 ) -> tuple[Response, Source | None]:
    """The answer, and the source it came from (None: a redirect to the origin)."""
    key = f"{site}/{path}"
    if ctx.site is None:
        validate_key(key.rstrip("/"))
        origin = browser_origin(ctx, site)
        if origin is not None:
            return moved(ctx, origin + "/" + quote(path)), None
    validate_key(key.rstrip("/"))
    source = await source_of(ctx, site, pinning.pinned_deploy(ctx, site)
                             if ctx.site is not None else None)
    return await from_source(ctx, source, path, download, after), source


async def from_source(ctx: RequestContext, source: Source, path: str, download: bool,
                      after: str) -> Response:
    key = f"{source.site}/{path}"
    if path == "" or path.endswith("/"):
        index = await source.read(path + "index.html")
        if index is not None:
            return await page(ctx, source, path + "index.html", index, download)
        listing = await source.directory(key, key + after if after else "")
        if not listing.entries and not after:
            return (await redirected(ctx, source, path)
                    or await not_found(ctx, source, path))
        return render("listing.html", csp=csp_of(ctx), listing=listing, key=key,
                      up=bool(path), ui=ui_origin(ctx),
                      next=listing.after[len(key):] if listing.after else None)
    found = await source.read(path)
    if found is not None:
        return await page(ctx, source, path, found, download)
    if await source.below(path):
        return moved(ctx, here(ctx, key) + "/")
    return await redirected(ctx, source, path) or await not_found(ctx, source, path)
