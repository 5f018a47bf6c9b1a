"""Precompressed siblings: a stored ``x.br`` or ``x.gz`` answers a request for ``x`` from
a client that accepts that coding, as kubo's gateway request (#4385) and most static
servers (nginx ``gzip_static``, Caddy ``precompressed``) do.

The sibling's bytes are sent as they are stored, with ``Content-Encoding``, the type of
``x``, and the sibling's own ETag (its content hash: each coding has its own), so a
Range, a 304 and If-Range all refer to the bytes sent. Every answer for a file that has
a sibling carries ``Vary: Accept-Encoding``, whichever bytes it sends. A sibling older
than ``x`` is stale (``x`` was edited since) and is not used; ``dwp publish --compress``
uploads siblings after the files they compress. The gateway compresses nothing itself:
docs/web.md has the measurement behind that.
"""

from __future__ import annotations

CODINGS = (("br", ".br"), ("gzip", ".gz"))  # the server's preference, best first
SUFFIXES = tuple(suffix for _, suffix in CODINGS)
ALIASES = {"x-gzip": "gzip"}  # RFC 9110 8.4.1.3


def sibling_keys(key: str) -> list[tuple[str, str]]:
    """(coding, sibling key) for ``key``; none for a key that is itself compressed."""
    if key.endswith(SUFFIXES) or key.endswith("/"):
        return []
    return [(coding, key + suffix) for coding, suffix in CODINGS]


def accepted(header: str | None) -> set[str]:
    """The codings an Accept-Encoding header accepts (RFC 9110 12.5.3): listed with a
    q-value above 0, or covered by ``*``; a malformed q counts as 1."""
    codings: dict[str, bool] = {}
    for item in (header or "").split(","):
        name, _, params = item.partition(";")
        name = name.strip().lower()
        name = ALIASES.get(name, name)
        if not name:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 1.0
        codings[name] = q > 0
    star = codings.pop("*", False)
    return {coding for coding, _ in CODINGS
            if codings.get(coding, star)} | {c for c, ok in codings.items() if ok}
