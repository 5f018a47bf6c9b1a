"""The web browser's pages at ``/`` and ``/ui/...``: network, sites, search, a file's
details, the editor, the publish page and the sign-in. All server-rendered; writes go
through ``gateway.ui_forms`` and the object API with the token cookie, which only a
sign-in sets (``gateway.signin``): ``/?login=CODE`` here, or the sign-in form. Every page
shows the network the request selected and sets no cookie (a GET changes nothing)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from dwp.client.network import ReadResult
from dwp.client.status import NetworkStatus
from dwp.core.errors import NotFound
from dwp.core.keys import validate_key, validate_prefix
from dwp.core.labels import site_name_problem
from gateway import catalog, content_types, signin, snapshots
from gateway.context import Network, RequestContext, context_of, remember_network
from gateway.errors import ApiError
from gateway.origins import site_link
from gateway.pages import PageRoute, network_names, render
from gateway.versions import history_list

router = APIRouter(tags=["ui"], route_class=PageRoute, include_in_schema=False)

EDITABLE = ("text/", "application/json", "application/javascript", "application/xml",
            "image/svg+xml", "application/x-sh", "application/toml", "application/yaml")
MAX_EDIT = 2 * 1024 * 1024


def ui(ctx: RequestContext, template: str, code: int = 200, **context: Any) -> Response:
    network = ctx.network
    return render(template, code, signed_in=signin.holds(ctx.request, network.secret),
                  networks=network_names(ctx.request), network=network.name,
                  open_url=partial(site_link, ctx), **context)


def quoted(key: str) -> str:
    return quote(key)


def is_editable(content_type: str, size: int) -> bool:
    base = content_type.split(";", 1)[0].strip().lower()
    return size <= MAX_EDIT and (base.startswith(EDITABLE) or base in EDITABLE)


@dataclass(frozen=True)
class Health:
    """The network in a word (``healthy``, ``changing``, ``degraded``, ``unavailable``)
    and what makes it so, for the home page's one-line summary."""

    state: str
    detail: str = ""


def health_of(status: NetworkStatus) -> Health:
    dead = status.unavailable_shards()
    if dead:
        return Health("unavailable", f"no live replica for shard {', '.join(map(str, dead))}")
    down = [n.id for n in status.nodes if n.status == "down"]
    if down:
        return Health("degraded", f"{', '.join(down)} down")
    moving = [f"{n.id} {n.status}" for n in status.nodes if n.status != "up"]
    return Health("changing", ", ".join(moving)) if moving else Health("healthy")


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, added: str = "", removed: str = "", login: str = ""
               ) -> Response:
    """Where a new user starts: the sites (files, size, last publish), then the network
    in one line that opens to its nodes, their actions and the shard map. ``login``: a
    one-time sign-in code (``gateway.signin``)."""
    ctx = context_of(request)
    if login:
        return redeem(ctx, login)
    client = ctx.client
    status = await client.status()
    sites = await catalog.site_summaries(client, ctx.token)
    ids = {n.id for n in status.nodes}
    added = added if added in ids else ""
    removed = removed if removed and removed not in ids else ""
    health = health_of(status)
    return ui(ctx, "home.html", status=status, sites=sites, health=health,
              shard_ids=SHARD_IDS,
              up=sum(n.status == "up" for n in status.nodes),
              node_state={n.id: n.status for n in status.nodes},
              hosts=sorted({n.host for n in status.nodes}),
              can_change=ctx.network.membership is not None,
              added=added, removed=removed,
              expanded=bool(added or removed) or health.state != "healthy")


SHARD_IDS = ("Shard ids are names, not positions: when the network changes, a shard that is "
             "dissolved takes its id with it and a new shard gets a fresh one, so the ids "
             "need not start at 0 or run without gaps.")


@router.get("/ui/node/{node_id}", response_class=HTMLResponse)
async def node(node_id: str, request: Request) -> Response:
    """One node: where it runs, what it holds, and (signed in) removing it."""
    ctx = context_of(request)
    status = await ctx.client.status()
    found = next((n for n in status.nodes if n.id == node_id), None)
    if found is None:
        raise ApiError(404, "not found", f"the network has no node {node_id!r}")
    peers = [n.id for n in status.nodes if n.shard == found.shard and n.id != node_id]
    return ui(ctx, "node.html", node=found, status=status, peers=peers,
              shard_ids=SHARD_IDS, can_change=ctx.network.membership is not None)


@router.get("/ui/browse/{prefix:path}", response_class=HTMLResponse)
async def browse(prefix: str, request: Request, after: str = "", deleted: str = "",
                 live: str = "") -> Response:
    """One directory of a site: subfolders, files with size and type, and actions; paged
    with ``?after=NAME``. ``deleted``: a file of it the user just deleted, linked to its
    history so the delete can be undone (a deleted file is in no listing). A site's top
    folder also lists its deploys, with preview links and "Make live" (``live``: the
    one just made live)."""
    ctx = context_of(request)
    if not prefix.endswith("/"):
        return RedirectResponse(f"/ui/object/{quote(prefix)}", status_code=303)
    validate_prefix(prefix)
    listing = await catalog.directory(ctx.client, prefix, ctx.token,
                                      prefix + after if after else "")
    parts = prefix.rstrip("/").split("/")
    crumbs = [(p, "/".join(parts[:i + 1]) + "/") for i, p in enumerate(parts)]
    site, _, folder = prefix.partition("/")
    kept, seen = (await snapshots.kept(ctx, site, ctx.token)
                  if not folder and not site_name_problem(site) else (None, None))
    return ui(ctx, "browse.html", listing=listing, prefix=prefix, crumbs=crumbs,
              site=site, folder=folder, q=quoted,
              deleted=deleted if deleted.startswith(prefix) else "", deploys=kept,
              deploys_context=ctx.client.tokens.encode(seen) if seen else "",
              made_live=live if kept and live in [d.id for d in kept.deploys] else "")


@router.get("/ui/search", response_class=HTMLResponse)
async def search(request: Request, q: str = "") -> Response:
    ctx = context_of(request)
    hits, partial = (await catalog.search(ctx.client, q, ctx.token) if q
                     else ([], False))
    return ui(ctx, "search.html", query=q, hits=hits, partial=partial, q=quoted)


async def read_fresh(ctx: RequestContext, key: str) -> ReadResult:
    validate_key(key)
    return await ctx.client.get(key, ctx.token)


@router.get("/ui/object/{key:path}", response_class=HTMLResponse)
async def details(key: str, request: Request) -> Response:
    """Size, type, hash, version and siblings of one file, with keep, edit and delete,
    and the versions it keeps, each to view or restore. A deleted file answers 404 but
    still shows its history, so it can be brought back."""
    ctx = context_of(request)
    validate_key(key)
    client = ctx.client
    result = await client.get(key, ctx.token, history=True)
    versions = result.versions
    history = history_list(key, result, client.view.versions)
    parent = key.rsplit("/", 1)[0] + "/"
    return ui(ctx, "details.html", 200 if versions else 404, key=key, result=result,
              versions=versions, winner=versions[0] if versions else None,
              history=history.versions, limit=history.limit,
              keep_days=client.view.keep_deleted_days,
              context=client.tokens.encode(result.token), parent=parent, q=quoted,
              editable=bool(versions) and is_editable(versions[0].content_type,
                                                      versions[0].size),
              saved=request.query_params.get("saved") == "1",
              restored=request.query_params.get("restored", ""))


@router.get("/ui/edit/{key:path}", response_class=HTMLResponse)
async def edit(key: str, request: Request) -> Response:
    """The editor: the current text and the context it was read with, so a save that
    races another becomes a sibling instead of a lost update."""
    ctx = context_of(request)
    try:
        result = await read_fresh(ctx, key)
    except NotFound:
        result = None
    client = ctx.client
    version = result.winner if result else None
    if version is None:
        guessed = content_types.guess(key)
        guessed = "text/plain" if guessed == content_types.UNKNOWN else guessed
        return ui(ctx, "edit.html", key=key, text="", content_type=guessed,
                  context=client.tokens.encode(result.token) if result else "",
                  eol="lf", is_new=True, siblings=0, q=quoted)
    if not is_editable(version.content_type, version.size):
        return ui(ctx, "error.html", 415, status=415, error="not editable",
                  detail=f"{key} is {version.content_type}; only text files up to "
                         f"{MAX_EDIT // 1024 // 1024} MiB are edited in the browser",
                  path=request.url.path)
    data = b"".join([piece async for piece in client.body(version)])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return ui(ctx, "error.html", 415, status=415, error="not editable",
                  detail=f"{key} is not UTF-8 text", path=request.url.path)
    return ui(ctx, "edit.html", key=key, text=text, content_type=version.content_type,
              context=client.tokens.encode(result.token) if result else "",
              eol="crlf" if "\r\n" in text else "lf", is_new=False,
              siblings=len(result.versions) if result else 0, q=quoted)


@router.get("/ui/publish", response_class=HTMLResponse)
async def publish(request: Request, site: str = "", dir: str = "") -> Response:
    """Upload files, a folder or a zip into a site, with a progress bar."""
    ctx = context_of(request)
    return ui(ctx, "publish.html", site=site, folder=dir,
              max_upload=request.app.state.settings.max_upload)


@router.get("/ui/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """Where a user pastes the network token to be able to write."""
    ctx = context_of(request)
    return ui(ctx, "login.html")


def redeem(ctx: RequestContext, code: str) -> Response:
    """A sign-in link: a valid code sets the cookie (its first network selected) and
    sends the browser on to ``/``, so the code leaves the address bar; any other code
    gets the sign-in page, saying why."""
    networks: dict[str, Network] = ctx.request.app.state.networks
    names = ctx.request.app.state.signins.redeem(
        code, {name: n.secret for name, n in networks.items()}, time.time())
    if names is None:
        return ui(ctx, "login.html", 401, link_failed=True)
    response = RedirectResponse("/", status_code=303)
    signin.sign_in(ctx.request, response, [networks[name].secret for name in names])
    return remember_network(response, names[0])
