"""Every error leaves the gateway as JSON ``{"error": ..., "detail": ...}``, never a trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dwp.core.errors import ChangeFailed, NotFound, Partitioned, Stale, Unavailable, WrongReplica
from dwp.core.keys import InvalidKey
from dwp.core.token import TokenError

log = logging.getLogger("dwp.gateway")


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail, self.headers = status, error, detail, headers


def error_response(status: int, error: str, detail: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status,
                        headers=headers)


_MAPPED: list[tuple[type[Exception], int, str, dict[str, str] | None]] = [
    (InvalidKey, 400, "invalid key", None),
    (TokenError, 400, "invalid context token", None),
    (NotFound, 404, "not found", None),
    (ChangeFailed, 409, "view change failed", None),
    (WrongReplica, 421, "wrong replica", None),
    (Stale, 503, "replica behind", {"Retry-After": "1"}),
    (Unavailable, 503, "unavailable", {"Retry-After": "1"}),
    (Partitioned, 503, "partitioned", {"Retry-After": "1"}),
]


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.error, exc.detail, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        error = {404: "not found", 405: "method not allowed"}.get(exc.status_code, "bad request")
        return error_response(exc.status_code, error, detail, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = ["/".join(str(p) for p in e.get("loc", ())) + ": " + e.get("msg", "")
                 for e in exc.errors()]
        return error_response(400, "bad request", "; ".join(parts))

    for kind, status, error, headers in _MAPPED:
        def handler(_: Request, exc: Exception, status: int = status, error: str = error,
                    headers: dict[str, str] | None = headers) -> JSONResponse:
            return error_response(status, error, str(exc), headers)
        app.add_exception_handler(kind, handler)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(500, "internal error", type(exc).__name__)
