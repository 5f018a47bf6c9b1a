from tests.conftest import Net


def test_put_get_roundtrip(net: Net) -> None:
    with net.http() as h:
        r = h.put("/api/v1/objects/smoke/a.txt", content=b"hi", headers=net.auth)
        assert r.status_code == 200, r.text
        r = h.get("/api/v1/objects/smoke/a.txt")
        assert r.content == b"hi"
