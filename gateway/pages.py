"""Server-rendered HTML: the Jinja environment, the UI's security headers, and a route
class that turns errors into a readable page for browsers (JSON for everyone else)."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from dwp.core.sizes import count, human_size
from gateway.context import NETWORK_COOKIE

HERE = Path(__file__).parent
TEMPLATES = Environment(loader=FileSystemLoader(HERE / "templates"),
                        autoescape=select_autoescape(default=True))

# The UI runs only its own script and styles and cannot be framed (clickjacking).
UI_CSP = ("default-src 'self'; img-src 'self' data:; object-src 'none'; "
          "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def size(n: int | None) -> str:
    return "?" if n is None else human_size(n)


def when(mtime: float | None) -> Markup:
    """A date and time that may wrap between the two, never inside either."""
    if mtime is None:
        return Markup("")
    moment = datetime.fromtimestamp(mtime, UTC)
    return Markup('<span class="nowrap">{}</span> <span class="nowrap">{}</span>').format(
        moment.strftime("%Y-%m-%d"), moment.strftime("%H:%M:%S UTC"))


def utc(mtime: float, form: str) -> str:
    return datetime.fromtimestamp(mtime, UTC).strftime(form)


TEMPLATES.filters["size"] = size
TEMPLATES.filters["utc"] = utc
TEMPLATES.filters["count"] = count
TEMPLATES.filters["when"] = when


def render(template: str, code: int = 200, headers: dict[str, str] | None = None,
           csp: str | None = UI_CSP, **context: Any) -> HTMLResponse:
    """``csp`` None: no policy (a listing or 404 page on a site's own origin)."""
    html = TEMPLATES.get_template(template).render(**context)
    policy = {"Content-Security-Policy": csp} if csp else {}
    return HTMLResponse(html, status_code=code, headers={
        **policy, "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin", **(headers or {})})


def network_names(request: Request) -> list[str]:
    """The networks this gateway serves, for the UI's switcher."""
    return list(request.app.state.networks)


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


async def json_error(request: Request, exc: Exception) -> Response:
    """The gateway's own JSON answer for ``exc``, from the app's exception handlers, so
    status codes and messages are decided in one place."""
    for kind in type(exc).__mro__:
        handler = request.app.exception_handlers.get(kind)
        if handler is not None:
            answer = handler(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
    raise exc


class PageRoute(APIRoute):
    """Errors on a browser-facing route become an HTML page when the client asked for
    HTML (a form post, a page load); fetch() and scripts get the usual JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                if not wants_html(request):
                    raise
                reply = await json_error(request, exc)
                if not isinstance(reply, JSONResponse):
                    return reply
                body = json.loads(bytes(reply.body))
                keep = {k: v for k, v in reply.headers.items()
                        if k.lower() in ("retry-after", "www-authenticate")}
                return render("error.html", reply.status_code, keep,
                              status=reply.status_code, error=body.get("error", "error"),
                              detail=body.get("detail", ""), path=request.url.path,
                              networks=network_names(request),
                              network=request.cookies.get(NETWORK_COOKIE))

        return answer
