"""The token only to those who present it, in process: no page sets the token cookie
for the asking; a one-time sign-in link (valid once, for a few minutes) or the sign-in
form does; a write the cookie authorizes must come from the UI's own origin; Bearer
writes from scripts work as before."""

from __future__ import annotations

import base64
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from gateway import signin
from tests.conftest import Net
from tests.helpers import unique

HTML = {"Accept": "text/html"}



def set_cookies(headers: list[str]) -> dict[str, str]:
    return {h.split("=", 1)[0]: h.lower() for h in headers}


@pytest.mark.parametrize("path", ["/", "/?network=test", "/?network=club", "/ui/login",
                                  "/ui/search?q=a", "/ui/publish"])
def test_no_page_sets_a_cookie_for_the_asking(inproc: Net, path: str) -> None:
    with inproc.http() as h:  # from 127.0.0.1, naming 127.0.0.1: the local user's browser
        r = h.get(path, headers=HTML)
        assert r.status_code == 200, (path, r.text[:300])
        assert "set-cookie" not in r.headers, path
        assert "Sign in to write" in r.text


def test_a_sign_in_link_signs_in_once(inproc: Net) -> None:
    with inproc.http() as h:
        assert h.post("/api/v1/sign-in").status_code == 401
        made = h.post("/api/v1/sign-in", headers=inproc.auth)
        assert made.status_code == 200 and made.json()["expires_in"] == signin.LINK_SECONDS
        link = made.json()["url"]
        assert link.startswith(f"{inproc.url}/?login=")
        r = h.get(link)
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookies = set_cookies(r.headers.get_list("set-cookie"))
        assert {"dwp_token", "dwp_network"} <= set(cookies)
        assert "httponly" in cookies["dwp_token"] and "samesite=strict" in cookies["dwp_token"]
        assert inproc.token not in cookies["dwp_token"].split(";")[0]  # encoded, not bare
        assert "Sign in to write" not in h.get("/").text
    with inproc.http() as other:  # the same link, again (as from browser history)
        r = other.get(link, headers=HTML)
        assert r.status_code == 401 and "set-cookie" not in r.headers
        assert "used already or has expired" in r.text


def code_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["login"][0]


def test_expired_forged_and_foreign_codes_sign_in_nobody(inproc: Net) -> None:
    name = inproc.client.view.name
    expired = signin.mint({name: inproc.token}, time.time() - signin.LINK_SECONDS - 1)
    guessed = signin.mint({name: "not-the-token"}, time.time())
    foreign = signin.mint({"club": inproc.token}, time.time())
    with inproc.http() as h:
        good = code_of(h.post("/api/v1/sign-in", headers=inproc.auth).json()["url"])
        body, _, mac = good.partition(".")
        altered = body + "." + mac[::-1]
        for code in (expired, guessed, foreign, altered, "x", "a.b", "", "é" * 50):
            r = h.get("/", params={"login": code}, headers=HTML)
            assert "set-cookie" not in r.headers, code
            assert r.status_code in (200, 401), code  # "": no sign-in asked for


def test_the_sign_in_form_takes_the_token(inproc: Net) -> None:
    with inproc.http(headers={"Origin": inproc.url}) as h:
        r = h.post("/ui/login", data={"token": "wrong"})
        assert r.status_code == 401 and "set-cookie" not in r.headers
        r = h.post("/ui/login", data={"token": inproc.token})
        assert r.status_code == 303 and "dwp_token" in set_cookies(
            r.headers.get_list("set-cookie"))
        key = f"{unique('form')}/a.txt"
        assert h.put(f"/api/v1/objects/{key}", content=b"signed in").status_code == 200
    with inproc.http(headers={"Origin": "http://garden.localhost:8000"}) as h:
        assert h.post("/ui/login", data={"token": inproc.token}).status_code == 403


def test_cookie_writes_need_the_uis_own_origin(inproc: Net) -> None:
    key = f"{unique('origin')}/a.txt"
    with inproc.ui() as h:
        jar = h.cookies
        for origin in (None, "http://evil.family.lan:8000", "http://garden.localhost:8000",
                       "null", "http://127.0.0.1:8001"):
            headers = {"Origin": origin} if origin else {}
            with inproc.http(cookies=jar, headers=headers) as other:
                r = other.put(f"/api/v1/objects/{key}", content=b"x")
                assert r.status_code == 403, (origin, r.status_code)
                assert other.post("/api/v1/gc").status_code == 403, origin
                assert other.post(f"/ui/delete/{key}", data={}).status_code == 403, origin
        assert h.put(f"/api/v1/objects/{key}", content=b"mine").status_code == 200
    with inproc.http(headers=inproc.auth) as script:  # Bearer, no Origin: as before
        assert script.get(f"/api/v1/objects/{key}").content == b"mine"
        assert script.put(f"/api/v1/objects/{key}", content=b"script").status_code == 200


def test_unchanged_needs_the_token(inproc: Net) -> None:
    plan = {"files": [{"key": "s/a.txt", "size": 1, "sha256": "0" * 64}]}
    with inproc.http() as h:
        assert h.post("/ui/unchanged", json=plan).status_code == 401
    with inproc.ui() as h:
        assert h.post("/ui/unchanged", json=plan).json() == {"unchanged": []}


def test_each_gateway_process_accepts_a_code_once() -> None:
    """Codes are checked by their MAC, so any process of ``dwp up --workers`` takes
    one; each remembers what it took until it expires."""
    tokens = {"home": "t1", "club": "t2"}
    code = signin.mint(tokens, 1000.0)
    first, second = signin.Redeemed(), signin.Redeemed()
    assert first.redeem(code, tokens, 1001.0) == ["home", "club"]
    assert first.redeem(code, tokens, 1002.0) is None
    assert second.redeem(code, tokens, 1002.0) == ["home", "club"]
    assert second.redeem(signin.mint(tokens, 0.0), tokens, 1000.0) is None  # expired
    assert first.redeem(code, {"home": "t1", "club": "other"}, 1001.0) is None


def test_a_sign_in_keeps_only_tokens_of_networks_served(inproc: Net) -> None:
    """The cookie holds every network signed in to, but not one the gateway no longer
    serves: it would grow with each network made and dropped, past what browsers keep."""
    def encoded(*tokens: str) -> str:
        return base64.urlsafe_b64encode("\n".join(tokens).encode()).rstrip(b"=").decode()

    with inproc.http(cookies={"dwp_token": encoded("a-token-of-a-network-gone")}) as h:
        link = h.post("/api/v1/sign-in", headers=inproc.auth).json()["url"]
        assert h.get(link).cookies["dwp_token"] == encoded(inproc.token)
