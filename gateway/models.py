"""Pydantic models of the JSON the gateway answers, so /openapi.json tells the truth."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    error: str
    detail: str


class WriteReply(BaseModel):
    key: str
    size: int
    content_type: str
    hash: str
    shard: int
    node: str


class ObjectEntry(BaseModel):
    key: str
    size: int
    content_type: str
    hash: str
    mtime: float
    siblings: int


class ObjectList(BaseModel):
    objects: list[ObjectEntry]
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


class NodeStatus(BaseModel):
    id: str
    host: str
    shard: int
    status: str
    pid: int | None
    partitions: int
    keys: int | None
    digest: str | None
    replica_id: str | None = None
    outbox: int | None = None


class ShardStatus(BaseModel):
    id: int
    replicas: list[str]
    partitions: int


class NetworkStatus(BaseModel):
    name: str
    epoch: int
    replicas: int
    partitions: int
    shards: list[ShardStatus]
    nodes: list[NodeStatus]


class Faults(BaseModel):
    partitions: list[list[str]]


class NewNode(BaseModel):
    host: str | None = None
