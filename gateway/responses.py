"""Answers that carry one stored version: its headers, conditional GET, single ranges,
HEAD and streaming. The object API and site serving both build their responses here."""

from __future__ import annotations

from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from dwp.client.network import Located, NetworkClient
from dwp.core.token import Token
from dwp.core.version import Version
from gateway import content_types
from gateway.byteranges import Unsatisfiable, parse_range
from gateway.context import RequestContext


def located(client: NetworkClient, where: Located, token: Token) -> dict[str, str]:
    """Where the answer came from, and the caller's causal token after it."""
    return {"X-DWP-Shard": str(where.shard), "X-DWP-Node": where.node,
            **context_header(client, token)}


def context_header(client: NetworkClient, token: Token) -> dict[str, str]:
    """The caller's causal token after the answer, for its next request to send back."""
    return {"X-DWP-Context": client.tokens.encode(token)}


def version_headers(version: Version) -> dict[str, str]:
    """``Cache-Control: no-cache``: a browser keeps its copy and asks each time, which the
    ETag and Last-Modified make a cheap 304."""
    return {"ETag": version.etag, "Content-Type": content_types.served(version.content_type),
            "Content-Length": str(version.size), "X-Content-Type-Options": "nosniff",
            "Last-Modified": formatdate(version.mtime, usegmt=True),
            "Cache-Control": "no-cache", "Accept-Ranges": "bytes"}


def attachment(filename: str) -> str:
    """A Content-Disposition that saves under ``filename`` in every browser."""
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_")
    ascii_name = ascii_name.replace("\\", "_").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def etag_matches(header: str | None, etag: str) -> bool:
    """If-None-Match uses the weak comparison: W/ is ignored, and * matches anything."""
    if not header:
        return False
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or any(t.removeprefix("W/") == etag for t in tags)


# Raw bytes are never a page of the gateway's origin: an HTML object opened from the API
# gets no script and an opaque origin, so it cannot use the UI's token cookie.
RAW_CSP = "sandbox"


def not_modified(request: Request, version: Version) -> bool:
    """RFC 9110: If-None-Match decides when present; else If-Modified-Since, to the
    second (Last-Modified has no finer resolution)."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        return etag_matches(if_none_match, version.etag)
    since = request.headers.get("if-modified-since")
    if not since:
        return False
    try:  # a date that does not parse, or names no time a clock can hold: ignored
        when = parsedate_to_datetime(since)
        if when.tzinfo is None:
            return False
        return int(version.mtime) <= when.timestamp()
    except (TypeError, ValueError, OverflowError):
        return False


def answer_headers(version: Version, where: dict[str, str], siblings: int,
                   csp: str | None) -> dict[str, str]:
    """Every header of a 200 for ``version`` after ``where`` (``located``'s); the hot
    path in ``gateway.hot`` sends the same ones, built here once per cached state."""
    headers = {**where, **version_headers(version)}
    if csp:
        headers["Content-Security-Policy"] = csp
    if siblings > 1:
        headers["X-DWP-Siblings"] = str(siblings)
    return headers


def version_response(ctx: RequestContext, version: Version, headers: dict[str, str],
                     *, siblings: int = 1, csp: str | None = RAW_CSP,
                     status: int = 200) -> Response:
    """200, 206, 304, 416 or a HEAD answer for ``version``; bodies of chunked versions
    stream chunk by chunk, so memory stays flat whatever the size. Another ``status``
    (a site's 404 page, a ``_redirects`` rule) sends the whole body with it, as is.
    ``csp`` None sends no policy (a page on its site's own origin)."""
    request = ctx.request
    headers = answer_headers(version, headers, siblings, csp)
    if status == 200 and not_modified(request, version):
        del headers["Content-Length"]
        return Response(status_code=304, headers=headers)
    span = (0, version.size)
    if_range = request.headers.get("if-range")
    if status == 200 and (if_range is None or if_range.strip() == version.etag):
        try:
            wanted = parse_range(request.headers.get("range"), version.size)
        except Unsatisfiable:
            del headers["Content-Length"]
            headers["Content-Range"] = f"bytes */{version.size}"
            return Response(status_code=416, headers=headers)
        if wanted is not None:
            span, status = wanted, 206
            headers["Content-Range"] = f"bytes {span[0]}-{span[1] - 1}/{version.size}"
            headers["Content-Length"] = str(span[1] - span[0])
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)
    if version.data is not None:
        return Response(version.data[span[0]:span[1]], status_code=status, headers=headers)
    return StreamingResponse(ctx.client.body(version, *span), status_code=status,
                             headers=headers)
