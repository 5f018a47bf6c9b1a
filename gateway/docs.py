"""The interactive API docs at ``/docs`` (Swagger UI) and the favicon, served from the
gateway's own files: a gateway on a LAN without internet still shows them.

Swagger UI's files come from the pinned ``fastapi-offline`` package, mounted as FastAPI's
guide to self-hosting the docs assets describes; the page loads nothing from a CDN.
(ReDoc is not offered: it loads its logo from its CDN.)
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from gateway.pages import HERE

ASSETS = "/static/docs"
FAVICON_SVG = "/static/favicon.svg"

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui() -> HTMLResponse:
    """The page runs Swagger UI's inline script, so its policy only forbids framing (a
    framed page could be clicked through by the framing site)."""
    page = get_swagger_ui_html(
        openapi_url="/openapi.json", title="dwp gateway: API",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css", swagger_favicon_url=FAVICON_SVG,
        swagger_ui_parameters={"validatorUrl": None})
    page.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    return page


@router.get("/favicon.ico")
async def favicon() -> FileResponse:
    return FileResponse(HERE / "static" / "favicon.ico", media_type="image/x-icon",
                        headers={"Cache-Control": "max-age=86400"})


def install(app: FastAPI) -> None:
    """Serve the docs pages and their assets (the app is made with docs_url=None)."""
    app.mount(ASSETS, StaticFiles(packages=[("fastapi_offline", "static")]),
              name="docs-assets")
    app.include_router(router)
