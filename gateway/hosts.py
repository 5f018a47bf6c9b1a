"""The Host names the gateway answers for, and no other (DNS rebinding).

Any web page can make a name of its own resolve to 127.0.0.1 and then read what a
gateway on loopback answers: the browser takes both for the page's origin. So the
gateway answers only a request whose Host it serves: loopback names and addresses, the
address the connection came in on (an address it listens on), the site domains
(``localhost`` and ``--site-domain``) and every site's name under them, and the names
given with ``dwp up --allow-host``. Any other name gets 421, before any route or cache
sees the request; two Host headers get 400 (two layers could each read another).
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import error_response
from gateway.origins import domains, is_loopback, split_host


class HostRule:
    def __init__(self, site_domain: str | None, allowed: Iterable[str] = ()) -> None:
        self.domains = domains(site_domain)
        self.allowed = {name.strip().lower().strip("[]") for name in allowed}

    def serves(self, host: str, local: str | None) -> bool:
        """``host`` (a Host header) names this gateway; ``local`` is the address the
        connection came in on. No Host at all (HTTP/1.0) means that address."""
        name, _ = split_host(host)
        bare = name.strip("[]")
        return (not name or is_loopback(name) or bare in self.allowed or bare == local
                or any(name == d or name.endswith("." + d) for d in self.domains))


def local_address(scope: Scope) -> str | None:
    server = scope.get("server")
    return str(server[0]) if server else None


def refusal(scope: Scope, rule: HostRule) -> tuple[int, str] | None:
    """(status, detail) when the request's Host is not one this gateway answers for."""
    hosts = [value for name, value in scope["headers"] if name == b"host"]
    if len(hosts) > 1:
        return 400, "the request has more than one Host header"
    host = hosts[0].decode("latin-1") if hosts else ""
    if rule.serves(host, local_address(scope)):
        return None
    return 421, (f"this gateway does not answer for the host name {split_host(host)[0]!r}: "
                 "only for loopback names, its own addresses, its site domain and the "
                 "names given with dwp up --allow-host")


class ServedHosts:
    """ASGI middleware: 421 for a Host the gateway does not serve, 400 for two."""

    def __init__(self, app: ASGIApp, rule: HostRule) -> None:
        self.app = app
        self.rule = rule

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = refusal(scope, self.rule)
            if refused is not None:
                status, detail = refused
                error = "bad request" if status == 400 else "misdirected request"
                await error_response(status, error, detail)(scope, receive, send)
                return
        await self.app(scope, receive, send)
