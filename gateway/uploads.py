"""Which files of a browser upload are already stored, so the UI skips them as
``dwp publish`` does.

Browsers compute SHA-256 (Web Crypto) but not the store's BLAKE2b, so the browser sends
each file's key, size and SHA-256, and the gateway hashes the stored bytes of the keys
whose single live version has that size. A key in conflict is never unchanged: uploading
it resolves the conflict, as a publish does.
"""

from __future__ import annotations

import asyncio
import hashlib

from fastapi import APIRouter, Depends, Request

from dwp.client.network import NetworkClient
from dwp.core.errors import NotFound
from dwp.core.keys import validate_key
from dwp.core.token import Token
from gateway.auth import require_token
from gateway.context import context_of
from gateway.models import LocalFile, Unchanged, UploadPlan

router = APIRouter(prefix="/ui", tags=["ui"])
READS_IN_FLIGHT = 8


async def is_stored(client: NetworkClient, file: LocalFile, token: Token) -> bool:
    try:
        result = await client.get(file.key, token)
    except NotFound:
        return False
    versions = result.versions
    if len(result.state.siblings) != 1 or len(versions) != 1 or versions[0].size != file.size:
        return False
    hasher = hashlib.sha256()
    async for piece in client.body(versions[0]):
        hasher.update(piece)
    return hasher.hexdigest() == file.sha256


@router.post("/unchanged", response_model=Unchanged, dependencies=[Depends(require_token)])
async def unchanged(plan: UploadPlan, request: Request) -> Unchanged:
    """The keys among ``files`` whose stored content is exactly the local file. It reads
    every file it is asked about (up to 1,000), so only a writer may ask: the upload
    that follows needs the token anyway."""
    ctx = context_of(request)
    for file in plan.files:
        validate_key(file.key)
    client, token = ctx.client, ctx.token
    slots = asyncio.Semaphore(READS_IN_FLIGHT)

    async def check(file: LocalFile) -> bool:
        async with slots:
            return await is_stored(client, file, token)

    found = await asyncio.gather(*(check(f) for f in plan.files))
    return Unchanged(unchanged=[f.key for f, same in zip(plan.files, found, strict=True)
                                if same])
