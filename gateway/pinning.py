"""Keeping a page's subresources on the deploy its HTML came from.

A page load is several requests; a deploy switch between the HTML and its stylesheet
would mix two deploys. So a document answered from a deploy, on the site's own origin,
sets a short-lived cookie naming that deploy, and a request for anything else that
carries it is answered from that deploy while it is kept. The next document takes the
live deploy and sets the cookie anew. The cookie is the origin's own (host-only), so a
preview origin, another site or the UI never gets it; path-style serving is sandboxed
(an opaque origin keeps no cookies) and does without.

The value is the deploy's id and a MAC of the site and the id keyed by the network's
token: a cookie another origin manages to set (one under ``localhost`` for all its
names) cannot pin a site to a deploy the gateway did not pin it to.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request, Response

from dwp.core.deploys import is_id
from gateway.context import RequestContext

DEPLOY_COOKIE = "dwp_deploy"
MAX_AGE = 300  # seconds: longer than a page load, short enough to be forgotten soon
MAC_CHARS = 32


def is_document(request: Request) -> bool:
    """A top-level page: ``Sec-Fetch-Dest: document``, or a client that sends no fetch
    metadata (which then is not loading a page's parts through a browser)."""
    dest = request.headers.get("sec-fetch-dest")
    if dest is not None:
        return dest == "document"
    return not any(name.startswith("sec-fetch-") for name in request.headers)


def pinned_deploy(ctx: RequestContext, site: str) -> str | None:
    """The deploy this subresource request's cookie pins ``site`` to, if any."""
    if is_document(ctx.request):
        return None
    deploy, _, mac = ctx.request.cookies.get(DEPLOY_COOKIE, "").partition(".")
    if not is_id(deploy) or not hmac.compare_digest(mac, _mac(ctx, site, deploy)):
        return None
    return deploy


def pin(ctx: RequestContext, response: Response, site: str, deploy: str) -> None:
    response.set_cookie(DEPLOY_COOKIE, f"{deploy}.{_mac(ctx, site, deploy)}", max_age=MAX_AGE,
                        path="/", httponly=True, samesite="lax")


def _mac(ctx: RequestContext, site: str, deploy: str) -> str:
    message = f"dwp pin\n{site}\n{deploy}".encode()
    return hmac.new(ctx.secret.encode(), message, hashlib.sha256
                    ).hexdigest()[:MAC_CHARS]
