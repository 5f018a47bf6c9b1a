"""Site names as DNS labels, so each site can have its own web origin.

A site name that is a lowercase DNS label without ``--`` is its own label. Any other
name (uppercase, unicode, ``--``, too long) is written ``u--`` + the base32 of its UTF-8
bytes, lowercase and unpadded, which no plain label can be, so decoding is exact. A
label holds 63 characters, so such names fit up to 37 bytes; longer ones have no label.

``dwp publish`` refuses a name no label holds, and one with uppercase letters: a host
name ignores case, so ``GardenTwo`` could only open at its encoded label; it names the
lowercase name instead of folding to it, so every later command uses the name the
keys really have (``site_name_problem``).
"""

from __future__ import annotations

import base64
import binascii
import re

PLAIN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
PLAIN_ANY_LENGTH = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
ENCODED = "u--"
MAX_LABEL = 63


def label_of(site: str) -> str | None:
    """The DNS label naming ``site``'s origin, or None when no label can hold it."""
    if PLAIN.fullmatch(site) and "--" not in site:
        return site
    encoded = ENCODED + base64.b32encode(site.encode()).decode().rstrip("=").lower()
    return encoded if len(encoded) <= MAX_LABEL else None


def site_of(label: str) -> str | None:
    """The site a label names (the inverse of ``label_of``), or None for no site."""
    label = label.lower()
    if not label.startswith(ENCODED):
        return label if label_of(label) == label else None
    body = label[len(ENCODED):].upper()
    try:
        site = base64.b32decode(body + "=" * (-len(body) % 8)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return site if site and label_of(site) == label else None


def why_no_label(site: str) -> str:
    """Why ``label_of(site)`` is None, for a message: the limit that applies to it."""
    if PLAIN_ANY_LENGTH.fullmatch(site):
        return (f"the site name {site!r} has {len(site)} characters: a site name is its "
                f"web origin's host name, one DNS label of at most {MAX_LABEL}; choose a "
                "shorter name")
    return (f"the site name {site!r} cannot be a web origin: names other than lowercase "
            f"letters, digits and single hyphens are encoded into one DNS label of at most "
            f"{MAX_LABEL} characters, which holds {(MAX_LABEL - len(ENCODED)) * 5 // 8} "
            f"bytes of UTF-8 and this name has {len(site.encode())}; choose a shorter name")


def site_name_problem(site: str) -> str | None:
    """Why ``dwp publish`` refuses ``site`` as a new site's name, or None."""
    if site != site.lower():
        return (f"site names are lowercase: a host name ignores case, so {site!r} could "
                f"only open at an encoded name; use --site {site.lower()}")
    if label_of(site) is None:
        return why_no_label(site)
    return None
