"""Checking the request path as the client sent it, before routing.

The server decodes ``%FE`` and ``%FF`` alike into U+FFFD, so two different URLs would
name one key; and a route's pattern does not match a newline, so ``%0A`` would answer a
generic 404. This pure ASGI middleware decodes the raw path itself and answers 400 with
the key rule that was broken, so every route sees only paths that can be keys.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

from dwp.core.keys import InvalidKey, check_characters
from gateway.errors import error_response


class PathCheck:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
            try:
                check_characters(unquote_to_bytes(raw).decode("utf-8", "surrogateescape"))
            except InvalidKey as exc:
                await error_response(400, "invalid key", str(exc))(scope, receive, send)
                return
        await self.app(scope, receive, send)
