"""Unpacking an uploaded zip into a site: every member name is checked before anything
is written, so a bad archive changes nothing.

A member becomes the key ``site/dir/name``. When every file sits under one top folder
(a zipped folder), that folder is dropped, so its contents become the site's root.
macOS resource forks (``__MACOSX/``) are skipped.
"""

from __future__ import annotations

import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO

from dwp.core.deploys import refuse_reserved
from dwp.core.keys import InvalidKey, validate_new_key
from gateway import content_types

READ_SIZE = 1 << 20


class BadZip(ValueError):
    """The upload is not a zip, or a member's name is not acceptable."""


class TooLarge(BadZip):
    """The zip would unpack to more than the upload limit."""


@dataclass(frozen=True)
class Member:
    info: zipfile.ZipInfo
    key: str
    content_type: str


def plan(archive: zipfile.ZipFile, base: str, max_total: int) -> list[Member]:
    """The keys the archive's files will take under ``base`` (``site/`` or
    ``site/dir/``), or BadZip naming the first member that breaks a rule."""
    files = [i for i in archive.infolist()
             if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
    if not files:
        raise BadZip("the zip holds no files")
    names = []
    for info in files:
        name = info.filename
        if "\\" in name or name.startswith("/") or ":" in name.split("/", 1)[0]:
            raise BadZip(f"zip member {name!r} has an absolute or Windows path")
        names.append(name)
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) == 1 and all("/" in n for n in names):
        names = [n.split("/", 1)[1] for n in names]
    total = sum(i.file_size for i in files)
    if total > max_total:
        raise TooLarge(f"the zip unpacks to {total} bytes, over the limit of {max_total}")
    members = []
    for info, name in zip(files, names, strict=True):
        try:
            key = refuse_reserved(validate_new_key(base + name))
        except InvalidKey as exc:
            raise BadZip(f"zip member {info.filename!r}: {exc}") from exc
        members.append(Member(info, key, content_types.guess(key)))
    return members


def open_zip(file: IO[bytes]) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BadZip(f"the upload is not a readable zip: {exc}") from exc


async def member_bytes(archive: zipfile.ZipFile, member: Member) -> AsyncIterator[bytes]:
    """The member's content in pieces, never more than its declared size."""
    left = member.info.file_size
    try:
        with archive.open(member.info) as stream:
            while piece := stream.read(min(READ_SIZE, left + 1)):
                left -= len(piece)
                if left < 0:
                    raise BadZip(f"zip member {member.info.filename!r} is larger than it says")
                yield piece
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
        raise BadZip(f"zip member {member.info.filename!r} cannot be read: {exc}") from exc
