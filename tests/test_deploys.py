"""A deploy's manifest: its encoding, its references and which deploys age out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dwp.core import deploys
from dwp.core.clock import Dot, KeyState, Sibling
from dwp.core.codec import decode_state, encode_state
from dwp.core.deploys import BadManifest, File, Manifest
from dwp.core.version import Version, content_hash

files = st.lists(st.builds(
    File, path=st.text(min_size=1, max_size=20), size=st.integers(0, 2**40),
    hash=st.binary(min_size=32, max_size=32), content_type=st.text(max_size=20),
    mtime=st.floats(0, 2e9), chunks=st.lists(st.binary(min_size=32, max_size=32),
                                              max_size=3).map(tuple)),
    unique_by=lambda f: f.path, max_size=8)


@given(files)
def test_a_manifest_reads_back_as_written(found: list[File]) -> None:
    manifest = Manifest("docs", deploys.new_id(), 1.5, "ann", tuple(
        sorted(found, key=lambda f: f.path)))
    assert deploys.decode(deploys.encode(manifest)) == manifest
    for f in found:
        assert manifest.file(f.path) == f


def test_references_name_each_chunk_once_in_order() -> None:
    a, b = content_hash(b"a"), content_hash(b"b")
    manifest = Manifest("s", "x" * 12, 0, "", (File("1", 1, a, "", 0, (a, b)),
                                               File("2", 1, b, "", 0, (b,))))
    assert manifest.refs == (a, b)
    assert manifest.bytes == 2


@pytest.mark.parametrize("blob", [b"", b"\x93\x01\x02\x03", b"\xc1", b"not msgpack at all"])
def test_what_is_not_a_manifest_is_refused_by_name(blob: bytes) -> None:
    with pytest.raises(BadManifest, match="manifest"):
        deploys.decode(blob)


def test_ids_are_dns_labels_and_differ() -> None:
    ids = {deploys.new_id() for _ in range(100)}
    assert len(ids) == 100 and all(deploys.is_id(i) for i in ids)
    assert not deploys.is_id("docs") and not deploys.is_id("ABCDEFGHIJKL")


def test_the_newest_ten_and_the_live_one_are_kept() -> None:
    made = [(f"d{i:02}", float(i)) for i in range(14)]
    assert deploys.aged_out(made, live={"d01"}, keep=10) == ["d03", "d02", "d00"]
    assert deploys.aged_out(made[:10], live=set(), keep=10) == []
    assert deploys.aged_out(made[:4], live={"d00"}, keep=2) == ["d01"]


def test_a_version_s_references_survive_the_state_encoding() -> None:
    refs = (content_hash(b"a"), content_hash(b"b"))
    version = Version("x", 1, content_hash(b"m"), 1.0, data=b"m", refs=refs)
    state = KeyState({"n1": 1}, (Sibling(Dot("n1", 1), version),))
    assert decode_state(encode_state(state)).siblings[0].value.refs == refs
    assert version.named == refs
    plain = KeyState({"n1": 1}, (Sibling(Dot("n1", 1), Version("x", 0, b"", 1.0)),))
    assert len(encode_state(plain)) < len(encode_state(state))
