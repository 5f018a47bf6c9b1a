"""Every answer says it comes from a dwp gateway, so a client can tell one apart from
another web server.

A client cannot recognise dwp by the body alone: a redirect to a site's origin, a
``304``, or the answer to a ``HEAD`` has none. This pure ASGI middleware stamps
``X-DWP-Gateway: 1`` (the API version) on every response that leaves the app, including
the ones other middleware answer themselves; ``dwp`` checks for it before anything else.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-dwp-gateway"
VERSION = b"1"


class Identify:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  (HEADER, VERSION)]}
            await send(message)

        await self.app(scope, receive, stamped)
