"""Keeping a page's subresources on the deploy its HTML came from.

A page load is several requests; a deploy switch between the HTML and its stylesheet
would mix two deploys. So a document answered from a deploy, on the site's own origin,
sets a short-lived cookie naming that deploy, and a request for anything else that
carries it is answered from that deploy while it is kept. The next document takes the
live deploy and sets the cookie anew. The cookie is the origin's own (host-only), so a
preview origin or another site never sees it; path-style serving is sandboxed (an
opaque origin keeps no cookies) and does without.
"""

from __future__ import annotations

from fastapi import Request, Response

from dwp.deploys import is_id

COOKIE = "dwp_deploy"
MAX_AGE = 300  # seconds: longer than a page load, short enough to be forgotten soon


def is_document(request: Request) -> bool:
    """A top-level page: ``Sec-Fetch-Dest: document``, or a client that sends no fetch
    metadata (which then is not loading a page's parts through a browser)."""
    dest = request.headers.get("sec-fetch-dest")
    if dest is not None:
        return dest == "document"
    return not any(name.startswith("sec-fetch-") for name in request.headers)


def pinned_deploy(request: Request) -> str | None:
    """The deploy this subresource request's cookie names, if any."""
    if is_document(request):
        return None
    deploy = request.cookies.get(COOKIE)
    return deploy if deploy is not None and is_id(deploy) else None


def pin(response: Response, deploy: str) -> None:
    response.set_cookie(COOKIE, deploy, max_age=MAX_AGE, path="/", httponly=True,
                        samesite="lax")
