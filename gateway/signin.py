"""Signing the UI in: the token cookie, and the one-time links that set it.

The UI's cookie ``dwp_token`` (``HttpOnly; SameSite=Strict``) holds the tokens of the
networks its browser proved it holds, and nothing sets it for a request that proved
none: the sign-in form takes a token itself (``POST /ui/login``), and a one-time link
``/?login=CODE`` stands for tokens its maker held: ``dwp up`` prints one, and ``dwp open``
asks the gateway for one with the token (``POST /api/v1/sign-in``).

A code names the networks it signs in to and the time it expires (``LINK_SECONDS`` after
it was made), with a MAC keyed by those networks' tokens, so every gateway process of
``dwp up --workers`` can check it without asking another; each process accepts a code
once (``Redeemed``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence

from fastapi import Request, Response

TOKEN_COOKIE = "dwp_token"
LINK_SECONDS = 300
LOGIN_PARAM = "login"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(tokens: Sequence[str], body: str) -> str:
    """128 bits of HMAC-SHA256, keyed by the tokens the code stands for."""
    key = hashlib.sha256("\0".join(["dwp sign-in", *tokens]).encode()).digest()
    return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest()[:16])


def mint(networks: Mapping[str, str], now: float) -> str:
    """A code that signs a browser in to ``networks`` (name -> token), the first selected."""
    claims = {"n": list(networks), "e": int(now) + LINK_SECONDS, "r": secrets.token_urlsafe(9)}
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return body + "." + _mac(list(networks.values()), body)


class Redeemed:
    """The codes this process accepted, kept until they expire, so each works once."""

    def __init__(self) -> None:
        self._used: dict[str, int] = {}

    def redeem(self, code: str, tokens: Mapping[str, str], now: float) -> list[str] | None:
        """The networks ``code`` signs in to (``tokens``: every network served, name ->
        token), or None for a code that is forged, expired, used, or names a network
        this gateway does not serve."""
        body, _, mac = code.partition(".")
        try:
            claims = json.loads(_unb64(body))
            names, expires, nonce = claims["n"], claims["e"], claims["r"]
        except (ValueError, binascii.Error, KeyError, TypeError):
            return None
        if (not isinstance(names, list) or not names or not isinstance(expires, int)
                or not isinstance(nonce, str) or not all(n in tokens for n in names)):
            return None
        if not hmac.compare_digest(mac.encode(), _mac([tokens[n] for n in names], body).encode()):
            return None
        self._used = {k: t for k, t in self._used.items() if t >= now}
        if expires < now or nonce in self._used:
            return None
        self._used[nonce] = expires
        return names


def cookie_tokens(request: Request) -> list[str]:
    """The tokens the UI's cookie holds (none for a cookie that does not parse)."""
    value = request.cookies.get(TOKEN_COOKIE, "")
    try:
        return [t for t in _unb64(value).decode().split("\n") if t] if value else []
    except (ValueError, binascii.Error):
        return []


def holds(request: Request, secret: str) -> bool:
    """The UI's cookie holds ``secret`` (compared in constant time)."""
    return any(hmac.compare_digest(t.encode(), secret.encode())
               for t in cookie_tokens(request))


def sign_in(request: Request, response: Response, proven: Sequence[str]) -> Response:
    """Add the tokens ``proven`` to the UI's cookie, keeping those it held of networks
    the gateway serves (so a token of a network gone does not stay for good)."""
    served = {n.secret for n in request.app.state.networks.values()}
    tokens = list(dict.fromkeys([*(t for t in cookie_tokens(request) if t in served),
                                 *proven]))
    response.set_cookie(TOKEN_COOKIE, _b64("\n".join(tokens).encode()), httponly=True,
                        samesite="strict", path="/")
    return response
