"""A key's kept versions and its siblings as JSON lists, which the object API answers
and the UI's details page shows."""

from __future__ import annotations

from urllib.parse import quote

from dwp.client.network import ReadResult
from dwp.core.history import listed, version_id
from dwp.core.lineage import node_of
from gateway.models import HistoryEntry, HistoryList, SiblingInfo, SiblingList


def history_list(key: str, result: ReadResult, limit: int) -> HistoryList:
    """The versions ``result`` keeps, current first; ``limit``: how many the network keeps."""
    base = f"/api/v1/objects/{quote(key)}?version="
    return HistoryList(key=key, limit=limit, versions=[
        HistoryEntry(version=version_id(s.dot), current=current, deleted=s.value.deleted,
                     content_type=s.value.content_type, size=s.value.size,
                     hash=s.value.hash.hex(), mtime=s.value.mtime, replica=s.dot.replica,
                     node=node_of(s.dot.replica),
                     url=None if s.value.deleted else base + quote(version_id(s.dot)))
        for s, current in listed(result.state)])


def sibling_list(key: str, result: ReadResult) -> SiblingList:
    versions = result.versions
    deleted = len(result.state.siblings) - len(versions)
    return SiblingList(key=key, deleted=deleted, siblings=[
        SiblingInfo(index=i, content_type=v.content_type, size=v.size, hash=v.hash.hex(),
                    mtime=v.mtime, url=f"/api/v1/objects/{quote(key)}?sibling={i}")
        for i, v in enumerate(versions)])
