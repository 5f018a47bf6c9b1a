"""Site names as DNS labels: plain names are their own label, the rest encode reversibly."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dwp.core.labels import MAX_LABEL, label_of, site_of

VALID_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"


@pytest.mark.parametrize(("site", "label"), [
    ("garden", "garden"), ("my-site", "my-site"), ("2026", "2026"), ("a" * 63, "a" * 63),
    ("Garden", "u--i5qxezdfny"), ("my site", "u--nv4sa43jorsq"), ("a--b", "u--mews2yq")])
def test_labels(site: str, label: str) -> None:
    assert label_of(site) == label
    assert site_of(label) == site


def test_names_no_label_can_hold() -> None:
    assert label_of("a" * 64) is None
    assert label_of("Ä" * 19) is None  # 38 bytes of UTF-8: 61 base32 characters
    assert label_of("Ä" * 18) is not None


@pytest.mark.parametrize("label", ["u--1", "u--", "-a", "a-", "u--mews2yq===", "x_y",
                                   "u--" + "a" * 61])
def test_labels_that_name_no_site(label: str) -> None:
    assert site_of(label) is None


@given(st.text(min_size=1, max_size=40).filter(lambda s: "/" not in s))
def test_encoding_is_reversible_and_a_valid_label(site: str) -> None:
    label = label_of(site)
    if label is None:
        return
    assert len(label) <= MAX_LABEL
    assert re.fullmatch(VALID_LABEL, label)
    assert label[2:4] != "--"  # not a reserved (IDNA-style) label
    assert site_of(label) == site
    assert site_of(label.upper()) == site  # hosts are case-insensitive
