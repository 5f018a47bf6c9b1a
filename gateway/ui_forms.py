"""What the UI's forms and uploads change: save an edit, keep one sibling, restore a
kept version, delete, sign in with the token, unpack a zip into a site, add or remove a
node, and switch the UI to another network.

Every write needs the network token (the UI's cookie) and a same-origin request: a
site's page runs on its own origin (or, served path-style, in an opaque one), so its
requests name that origin (or ``null``) and are refused here even if a cookie were sent.
"""

from __future__ import annotations

import hmac
import tempfile
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from dwp.core.deploys import refuse_reserved
from dwp.core.errors import ChangeFailed
from dwp.core.keys import validate_key, validate_new_key, validate_prefix
from gateway import nodes, restores, signin, snapshots, zipsite
from gateway.auth import require_token
from gateway.content_types import content_type_for
from gateway.context import Network, context_of, limited_body, remember_network
from gateway.edits import edited
from gateway.errors import ApiError
from gateway.models import ErrorBody, ZipReply
from gateway.pages import PageRoute
from gateway.responses import context_header
from gateway.snapshots import checked

FORM = "application/x-www-form-urlencoded"
SPOOL = 8 * 1024 * 1024
UI_AUTHOR = "web UI"  # who a deploy made by an edit in the UI names


def same_origin(request: Request) -> None:
    """Refuse writes that another origin (or a sandboxed page) started."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    fetch_site = request.headers.get("sec-fetch-site")
    if (origin is not None and origin != own) or fetch_site not in (None, "same-origin",
                                                                     "none"):
        raise ApiError(403, "forbidden", "this write did not come from the gateway's own "
                       "pages; open the UI at " + own + "/ and try again")


router = APIRouter(tags=["ui"], route_class=PageRoute, dependencies=[Depends(same_origin)])
ERRORS: dict[int | str, dict[str, object]] = {
    s: {"model": ErrorBody} for s in (400, 401, 403, 404, 409, 413, 501, 503)}
MAX_HOST = 253


async def form_of(request: Request) -> dict[str, str]:
    """An urlencoded form body (within the upload limit), first value of each field."""
    if request.headers.get("content-type", "").split(";", 1)[0].strip() != FORM:
        raise ApiError(400, "bad request", f"expected a form ({FORM})")
    body = b"".join([piece async for piece in limited_body(request)])
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise ApiError(400, "bad request", "the form is not UTF-8") from exc
    return {name: values[0] for name, values in fields.items()}


def field(form: dict[str, str], name: str) -> str:
    if name not in form:
        raise ApiError(400, "bad request", f"the form has no field {name!r}")
    return form[name]


def details_url(key: str, **query: str) -> str:
    tail = "&".join(f"{k}={quote(v)}" for k, v in query.items())
    return f"/ui/object/{quote(key)}" + ("?" + tail if tail else "")


@router.post("/ui/edit/{key:path}", status_code=303, responses=ERRORS,
             dependencies=[Depends(require_token)])
async def save(key: str, request: Request) -> Response:
    """Save the editor's text with the context it was read with."""
    ctx = context_of(request)
    refuse_reserved(validate_new_key(key))
    form = await form_of(request)
    client = ctx.client
    text = field(form, "content")
    if form.get("eol", "lf") == "lf":
        text = text.replace("\r\n", "\n")
    content_type = content_type_for(key, form.get("content_type"))
    token = client.tokens.decode(form.get("context"))
    result = await client.put(key, text.encode("utf-8"), content_type, token)
    _, after = await edited(ctx, key, result.version, token, result.token, UI_AUTHOR)
    return ctx.remember(RedirectResponse(details_url(key, saved="1"), status_code=303),
                        after)


@router.post("/ui/keep/{key:path}", status_code=303, responses=ERRORS,
             dependencies=[Depends(require_token)])
async def keep(key: str, request: Request) -> Response:
    """Resolve a conflict: keep the chosen sibling with the context the page read the
    siblings with, so it replaces exactly those (``gateway.restores``)."""
    ctx = context_of(request)
    refuse_reserved(validate_new_key(key))
    form = await form_of(request)
    token = ctx.client.tokens.decode(field(form, "context"))
    written = await restores.keep(ctx, key, field(form, "hash"), token, UI_AUTHOR)
    return ctx.remember(RedirectResponse(details_url(key, saved="1"), status_code=303),
                        written.token)


@router.post("/ui/restore/{key:path}", status_code=303, responses=ERRORS,
             dependencies=[Depends(require_token)])
async def restore(key: str, request: Request) -> Response:
    """Make a kept version current again, as ``dwp restore`` does (``gateway.restores``):
    it supersedes whatever is current now, a delete included."""
    ctx = context_of(request)
    refuse_reserved(validate_new_key(key))
    form = await form_of(request)
    given = field(form, "version")
    token = ctx.client.tokens.decode(form.get("context"))
    written = await restores.restore(ctx, key, given, token, UI_AUTHOR)
    return ctx.remember(RedirectResponse(details_url(key, restored=given),
                                         status_code=303), written.token)


@router.post("/ui/delete/{key:path}", status_code=303, responses=ERRORS,
             dependencies=[Depends(require_token)])
async def delete(key: str, request: Request) -> Response:
    ctx = context_of(request)
    refuse_reserved(validate_key(key))
    form = await form_of(request)
    client = ctx.client
    token = client.tokens.decode(form.get("context"))
    result = await client.delete(key, token)
    _, after = await edited(ctx, key, None, token, result.token, UI_AUTHOR)
    parent = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
    gone = f"/ui/browse/{quote(parent)}?deleted={quote(key)}" if parent else "/"
    return ctx.remember(RedirectResponse(gone, status_code=303), after)


@router.post("/ui/live/{site}", status_code=303, responses=ERRORS,
             dependencies=[Depends(require_token)])
async def make_live(site: str, request: Request) -> Response:
    """Make a kept deploy live with the context the site page read the deploys with, so
    it ends a conflict that page showed."""
    ctx = context_of(request)
    checked(site)
    form = await form_of(request)
    token = ctx.client.tokens.decode(form.get("context"))
    deploy = field(form, "deploy")
    _, result = await snapshots.make_live(ctx, site, deploy, token)
    return ctx.remember(RedirectResponse(
        f"/ui/browse/{quote(site)}/?live={quote(deploy)}#deploys", status_code=303),
        result.token)


@router.post("/ui/login", status_code=303, responses=ERRORS)
async def login(request: Request) -> Response:
    """Check a pasted token against every network served, keep it in the UI's cookie,
    and show its network."""
    given = field(await form_of(request), "token").strip()
    networks: dict[str, Network] = request.app.state.networks
    found = next((n for n in networks.values()
                  if hmac.compare_digest(given.encode(), n.secret.encode())), None)
    if found is None:
        raise ApiError(401, "unauthorized", "that is not the token of a network this "
                       "gateway serves (the file 'token' in the network's data dir)")
    response = RedirectResponse("/", status_code=303)
    signin.sign_in(request, response, [found.secret])
    return remember_network(response, found.name)


@router.post("/ui/zip/{site}", response_model=ZipReply, responses=ERRORS,
             dependencies=[Depends(require_token)])
async def unzip(site: str, request: Request, dir: str = "") -> Response:
    """Unpack the zip in the request body into ``site``'s keys (under ``dir``); every
    member name is checked before the first write. The publish page deploys after."""
    ctx = context_of(request)
    validate_key(site)
    base = site + "/" + (dir.strip("/") + "/" if dir.strip("/") else "")
    validate_prefix(base)
    client = ctx.client
    limit: int = request.app.state.settings.max_upload
    with tempfile.SpooledTemporaryFile(SPOOL) as spool:
        async for piece in limited_body(request):
            spool.write(piece)
        spool.seek(0)
        try:
            with zipsite.open_zip(spool) as archive:
                members = zipsite.plan(archive, base, limit)
                token = client.tokens.decode(request.headers.get("x-dwp-context"))
                for member in members:
                    result = await client.put(member.key, zipsite.member_bytes(archive, member),
                                              member.content_type, token)
                    token = result.token
        except zipsite.BadZip as exc:
            status = 413 if isinstance(exc, zipsite.TooLarge) else 400
            raise ApiError(status, "bad zip", str(exc)) from exc
    return ctx.remember(JSONResponse(
        ZipReply(site=site, keys=[m.key for m in members]).model_dump(),
        headers=context_header(client, token)), token)


@router.post("/ui/network/add", status_code=303, responses=ERRORS,
             dependencies=[Depends(require_token)])
async def add_node(request: Request) -> Response:
    """Add a node as the network API does (an empty host: the gateway's own) and come
    back to the status once the view change is complete."""
    ctx = context_of(request)
    host = (await form_of(request)).get("host", "").strip() or None
    if host is not None and (len(host) > MAX_HOST or not host.isprintable()):
        raise ApiError(400, "bad request", "the host name is not acceptable")
    before = {n.id for n in ctx.client.view.nodes}
    try:
        status = await nodes.add(ctx.network, host)
    except ChangeFailed as exc:
        raise ApiError(409, "view change failed",
                       f"adding a node on {host or 'this host'} failed: {exc}") from exc
    added = next((n.id for n in status.nodes if n.id not in before), "")
    return RedirectResponse(f"/?added={quote(added)}#network", status_code=303)


@router.post("/ui/network/remove/{node_id}", status_code=303, responses=ERRORS,
             dependencies=[Depends(require_token)])
async def remove_node(node_id: str, request: Request) -> Response:
    """Remove a node as the network API does: gracefully, or (``force=1``) a dead one."""
    ctx = context_of(request)
    force = (await form_of(request)).get("force") == "1"
    try:
        await nodes.remove(ctx.network, node_id, force)
    except ChangeFailed as exc:
        raise ApiError(409, "view change failed",
                       f"removing node {node_id} failed: {exc}") from exc
    return RedirectResponse(f"/?removed={quote(node_id)}#network", status_code=303)


@router.post("/ui/network/select", status_code=303, responses=ERRORS)
async def select_network(request: Request) -> Response:
    """Switch the UI to another network this gateway serves; writing to it needs its
    token in the cookie (a sign-in to it)."""
    name = field(await form_of(request), "network")
    networks = request.app.state.networks
    if name not in networks:
        raise ApiError(404, "unknown network", f"this gateway serves no network named "
                       f"{name!r}; it serves: {', '.join(networks)}")
    return remember_network(RedirectResponse("/", status_code=303), name)
