"""A site's deploys: immutable manifests of its files, and the key naming the live one.

A deploy is the whole list of a site's paths, each with its size, content hash, media
type, time and the chunks of its body, stored under ``.deploy/{site}/{id}``; the live
deploy is the small value of ``.live/{site}``, one causal key, so two switches at once
become siblings. Site names are DNS labels, so neither prefix can be a site. The
manifest's version names every file chunk as a reference, which keeps them from
collection while the manifest is kept (docs/architecture.md, "Deploys").
"""

from __future__ import annotations

import builtins
import re
import secrets
from dataclasses import dataclass

import msgpack

from dwp.core.keys import InvalidKey

DEPLOYS = ".deploy/"
LIVE = ".live/"
RESERVED = (DEPLOYS, LIVE)
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # base32, lower case: a DNS label
ID_LENGTH = 12
ID = re.compile(f"[a-z2-7]{{{ID_LENGTH}}}")
DEFAULT_KEEP_DEPLOYS = 10  # a site's deploys a network keeps besides the live one
MEDIA_TYPE = "application/vnd.dwp.deploy+msgpack"


class BadManifest(ValueError):
    """Bytes under ``.deploy/`` that are not a manifest this code can read."""


@dataclass(frozen=True, slots=True)
class File:
    """One path of a deploy: enough to answer it without reading its key."""

    path: str
    size: int
    hash: bytes
    content_type: str
    mtime: float
    chunks: tuple[bytes, ...]


@dataclass(frozen=True)
class Manifest:
    site: str
    id: str
    created: float
    author: str
    files: tuple[File, ...]  # sorted by path

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_path", {f.path: f for f in self.files})

    def file(self, path: str) -> File | None:
        return self._by_path.get(path)  # type: ignore[attr-defined]

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def refs(self) -> tuple[builtins.bytes, ...]:  # bytes is the property above
        """Every chunk the deploy's files are made of, each once, in order."""
        return tuple(dict.fromkeys(c for f in self.files for c in f.chunks))


def new_id() -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def is_id(text: str) -> bool:
    return ID.fullmatch(text) is not None


def live_ids(values: list[bytes | None]) -> list[str]:
    """The deploys the live values of ``.live/{site}`` name, in their order; a value
    that names no deploy (written by hand) is left out."""
    ids = [v.decode("ascii", "replace") for v in values if v is not None]
    return [i for i in ids if is_id(i)]


def deploy_key(site: str, deploy: str) -> str:
    return f"{DEPLOYS}{site}/{deploy}"


def deploys_prefix(site: str) -> str:
    return f"{DEPLOYS}{site}/"


def live_key(site: str) -> str:
    return f"{LIVE}{site}"


def is_reserved(key: str) -> bool:
    """Keys only the deploy routes write: a plain PUT there could switch a site."""
    return key.startswith(RESERVED)


def refuse_reserved(key: str) -> str:
    """``key``, when a plain write may change it: a site's deploys are written only by
    the deploy routes, which check what they name."""
    if is_reserved(key):
        raise InvalidKey(f"{key!r} is under {DEPLOYS} or {LIVE}, where a site's deploys are "
                         "kept: `dwp publish` and `dwp site` write them")
    return key


def encode(manifest: Manifest) -> bytes:
    files = [[f.path, f.size, f.hash, f.content_type, f.mtime, list(f.chunks)]
             for f in sorted(manifest.files, key=lambda f: f.path)]
    return msgpack.packb([1, manifest.site, manifest.id, manifest.created, manifest.author,
                          files], use_bin_type=True)


def decode(blob: bytes) -> Manifest:
    try:
        form, site, deploy, created, author, files = msgpack.unpackb(blob, raw=False)
        if form != 1:
            raise BadManifest(f"manifest form {form} is not known here")
        return Manifest(str(site), str(deploy), float(created), str(author), tuple(
            File(str(p), int(n), bytes(h), str(t), float(m), tuple(bytes(c) for c in cs))
            for p, n, h, t, m, cs in files))
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise BadManifest(f"not a deploy manifest: {exc}") from exc


def aged_out(deploys: list[tuple[str, float]], live: set[str], keep: int) -> list[str]:
    """The deploys (id, created) past the newest ``keep``; the live ones are always kept."""
    newest = sorted(deploys, key=lambda d: (d[1], d[0]), reverse=True)
    return [d for d, _ in newest[keep:] if d not in live]
