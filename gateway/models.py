"""Pydantic models of the JSON the gateway answers, so /openapi.json tells the truth."""

from __future__ import annotations

from pydantic import BaseModel, Field

from dwp.core.messages import ListEntry


class ErrorBody(BaseModel):
    error: str
    detail: str


class SignInLink(BaseModel):
    url: str = Field(description="Opens the UI signed in; valid once")
    expires_in: int = Field(description="Seconds the link stays valid")


class WriteReply(BaseModel):
    key: str
    size: int
    content_type: str
    hash: str
    shard: int
    node: str


class ObjectList(BaseModel):
    objects: list[ListEntry]  # the nodes' own entries: one definition of their fields
    next_cursor: str | None


class SiblingInfo(BaseModel):
    index: int
    content_type: str
    size: int
    hash: str
    mtime: float
    url: str


class SiblingList(BaseModel):
    key: str
    siblings: list[SiblingInfo]
    deleted: int


class HistoryEntry(BaseModel):
    version: str = Field(description="pass as ?version= to read it, or to `dwp restore`")
    current: bool = Field(description="a current version (a sibling), not a replaced one")
    deleted: bool
    content_type: str
    size: int
    hash: str
    mtime: float
    replica: str = Field(description="the replica that took the write")
    node: str
    url: str | None = Field(description="where to read it; none for a delete")


class HistoryList(BaseModel):
    key: str
    limit: int = Field(description="versions a key keeps in this network")
    versions: list[HistoryEntry] = Field(description="newest first")


class LocalFile(BaseModel):
    """A file the browser is about to upload, with its SHA-256 (what browsers compute)."""

    key: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern="^[0-9a-f]{64}$")


class UploadPlan(BaseModel):
    files: list[LocalFile] = Field(max_length=1000)


class Unchanged(BaseModel):
    unchanged: list[str]


class ZipReply(BaseModel):
    site: str
    keys: list[str]


class GcReport(BaseModel):
    dry_run: bool
    chunks: int = Field(description="chunks removed (or that would be, in a dry run)")
    bytes: int = Field(description="their bytes")
    waiting: int = Field(description="bytes of unnamed chunks kept for now: stored inside "
                                     "the grace period, or over a round's limit")
    deleted_keys: int = Field(description="deleted keys reaped (or that would be)")
    skipped: list[str] = Field(description="why some or all of it was not collected")


class Faults(BaseModel):
    partitions: list[list[str]]


class NewNode(BaseModel):
    host: str | None = None


class DeployRequest(BaseModel):
    files: dict[str, str] | None = Field(
        None, description="path: hex content hash the caller published; a path whose key "
                          "holds another answers 409 (someone wrote it meanwhile)")
    preview: bool = Field(False, description="make the deploy without making it live")
    author: str = Field("", max_length=200, description="who publishes, as the caller "
                        "names itself (the gateway knows holders of a network's token, "
                        "not people)")
    live_context: str | None = Field(
        None, description="an X-DWP-Context from the caller's read of the site's deploys "
                          "before it uploaded: the switch supersedes what that read saw, "
                          "so a publish made meanwhile becomes a sibling, not lost")


class DeployMade(BaseModel):
    id: str
    new: bool = Field(description="False: the site's keys were as its live deploy has "
                                  "them, and that deploy is the answer (200, not 201)")
    live: bool = Field(description="the deploy is now the site's live one")
    files: int
    bytes: int
    url: str = Field(description="the site's URL")
    preview: str | None = Field(description="the deploy's own origin; None when the "
                                            "gateway serves no site origins to this client")
    conflict: list[str] = Field(description="the live deploys when two switches were "
                                            "concurrent (empty: none)")


class DeployInfo(BaseModel):
    id: str
    created: float
    author: str
    files: int
    bytes: int
    live: bool
    preview: str | None


class DeployList(BaseModel):
    site: str
    live: list[str] = Field(description="the live deploy; two or more: a conflict")
    limit: int = Field(description="deploys of a site this network keeps besides the live one")
    deploys: list[DeployInfo] = Field(description="kept deploys, newest first")


class LiveRequest(BaseModel):
    deploy: str


class LiveReply(BaseModel):
    site: str
    live: list[str]
    url: str


class SiteRemoved(BaseModel):
    site: str
    deleted: int = Field(description="keys deleted (history keeps them restorable)")
    live: bool = Field(description="the site had a live deploy, now removed")
