"""A request resolves its context (network, client, token, pinned replica, served site)
once, however many of the gateway's modules ask for it (``gateway.context``): a site
page's GET passes sources, pinning, origins and responses, each of which needs part of
it. Through the real gateway over HTTP, in process."""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from starlette.requests import Request

from gateway import context
from gateway.pinning import DEPLOY_COOKIE
from tests.conftest import Net
from tests.deploying import deploy
from tests.helpers import put, unique
from tests.sites import NAVIGATE, origin

STYLE = {"Sec-Fetch-Dest": "style", "Sec-Fetch-Mode": "no-cors"}


@pytest.fixture
def resolved(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many contexts were made, and how often each made one resolved its network
    and its token, counted by wrapping the functions ``gateway.context`` calls."""
    counts: Counter[str] = Counter()

    def counted(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any) -> Any:
            counts[name] += 1
            return real(*args)
        return wrapper
    monkeypatch.setattr(context, "RequestContext", counted("made", context.RequestContext))
    monkeypatch.setattr(context, "resolve_network", counted("network", context.resolve_network))
    monkeypatch.setattr(context, "resolve_token", counted("token", context.resolve_token))
    return counts


def once_each(counts: Counter[str], requests: int = 1) -> None:
    assert counts == {"made": requests, "network": requests, "token": requests}, counts


def test_a_page_of_a_sites_keys_resolves_its_context_once(inproc: Net,
                                                           resolved: Counter[str]) -> None:
    site = unique("ctxkeys")
    with inproc.http() as h:
        written = put(h, inproc, f"{site}/index.html", b"<h1>keys</h1>")
        resolved.clear()
        r = h.get(f"/sites/{site}/", headers={"X-DWP-Context": written.headers["x-dwp-context"]})
        assert r.status_code == 200 and r.content == b"<h1>keys</h1>"
        once_each(resolved)
        resolved.clear()
        assert h.get(f"/sites/{site}/nowhere/").status_code == 404  # the 404 page's reads
        once_each(resolved)


def test_a_deployed_pages_document_and_its_pinned_style_resolve_once_each(
        inproc: Net, resolved: Counter[str]) -> None:
    site = unique("ctxdeploy")
    assert inproc.transport is not None
    deploy(inproc.transport.portal.call, inproc.client, site,
           {"index.html": b"<h1>deploy</h1>", "style.css": b"h1 {}"}, True)
    resolved.clear()
    with origin(inproc, site) as h:
        page = h.get("/", headers=NAVIGATE)
        assert page.status_code == 200 and DEPLOY_COOKIE in page.cookies  # a MAC: the secret
        once_each(resolved)
        style = h.get("/style.css", headers=STYLE)  # the pin's MAC checked, then read
        assert style.status_code == 200 and style.content == b"h1 {}"
        once_each(resolved, requests=2)


def test_the_context_is_the_scopes_and_holds_its_request_weakly() -> None:
    """The scope keeps the context and the request keeps the scope, so a strong reference
    back would leave every request's scope to the cyclic garbage collector."""
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/",
                             "query_string": b"", "headers": [(b"x-dwp-replica", b"n1")]}
    request = Request(scope)
    made = context.context_of(request)
    assert context.context_of(Request(scope)) is made and made.pinned == "n1"
    gone = weakref.ref(request)
    del request
    assert gone() is None  # freed at once: no cycle kept it
    later = Request(scope)
    assert context.context_of(later) is made and made.request is later
