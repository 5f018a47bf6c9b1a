"""A key reaches the store exactly as written: the gateway refuses URL paths that are not
UTF-8 or hold control characters with the key rule they break (in process; that the CLI
refuses dot segments is in ``tests/test_cli_commands.py``)."""

from __future__ import annotations

import pytest

from tests.conftest import Net
from tests.helpers import unique


@pytest.mark.parametrize("method", ["PUT", "GET"])
@pytest.mark.parametrize("byte", ["%FE", "%FF", "%C3"])
def test_invalid_utf8_in_a_key_is_refused(inproc: Net, method: str, byte: str) -> None:
    site = unique("utf8")
    with inproc.http() as h:
        r = h.request(method, f"/api/v1/objects/{site}/a{byte}b.html", content=b"x",
                      headers=inproc.auth)
        assert r.status_code == 400, r.text
        assert r.json() == {"error": "invalid key", "detail": "the key is not valid UTF-8"}
        assert h.get(f"/sites/{site}/a{byte}b.html").status_code == 400
        assert h.get("/api/v1/objects", params={"prefix": site + "/"}).json()["objects"] == []


@pytest.mark.parametrize(("escape", "code"), [("%0A", "U+000A"), ("%0D", "U+000D"),
                                              ("%7F", "U+007F")])
def test_a_control_character_gets_the_control_character_message(
        inproc: Net, escape: str, code: str) -> None:
    with inproc.http() as h:
        for path in (f"/api/v1/objects/s/a{escape}b", f"/sites/s/a{escape}b"):
            r = h.put(path, content=b"x", headers=inproc.auth) if "objects" in path else h.get(path)
            assert r.status_code == 400, (path, r.text)
            assert r.json()["detail"] == f"the key contains the control character {code}"


def test_valid_utf8_keys_still_work(inproc: Net) -> None:
    key = f"{unique('utf8')}/données/ü.txt"
    with inproc.http() as h:
        r = h.put(f"/api/v1/objects/{key}", content=b"ok", headers=inproc.auth)
        assert r.status_code == 200
        assert h.get(f"/api/v1/objects/{key}").content == b"ok"
