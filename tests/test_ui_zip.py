"""How zip members become keys (no network)."""

from __future__ import annotations

import io
import zipfile

import pytest

from gateway.zipsite import BadZip, TooLarge, plan


def archive(files: dict[str, bytes]) -> zipfile.ZipFile:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return zipfile.ZipFile(buf)


def keys(files: dict[str, bytes], base: str = "s/") -> list[str]:
    return [m.key for m in plan(archive(files), base, 1 << 20)]


def test_single_top_folder_is_dropped() -> None:
    assert keys({"site/a.html": b"", "site/b/c.css": b""}) == ["s/a.html", "s/b/c.css"]


def test_mixed_tops_are_kept() -> None:
    assert keys({"a.html": b"", "b/c.css": b""}, "s/d/") == ["s/d/a.html", "s/d/b/c.css"]


def test_types_are_guessed() -> None:
    members = plan(archive({"x.css": b"", "y.unknownext": b""}), "s/", 100)
    assert [m.content_type for m in members] == ["text/css", "application/octet-stream"]


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/etc/passwd", "c:/x", "a\\b",
                                  "a/./b"])
def test_bad_names(name: str) -> None:
    with pytest.raises(BadZip):
        keys({"ok.html": b"", name: b""})


def test_empty_and_too_large() -> None:
    with pytest.raises(BadZip, match="no files"):
        keys({})
    with pytest.raises(TooLarge):
        plan(archive({"a": b"x" * 101}), "s/", 100)
