"""Deploys written straight through the client, as the deploy routes store them: each
file as chunks under no key, the manifest under ``.deploy/{site}/{id}`` naming them as
refs, then ``.live/{site}`` naming the id."""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Callable
from typing import Any

from dwp.client.network import NetworkClient
from dwp.core import deploys
from dwp.core.deploys import File, Manifest
from dwp.core.errors import NotFound
from dwp.core.token import Token

Call = Callable[..., Any]  # a portal's call: runs a coroutine function on the nodes' loop


def deploy(call: Call, client: NetworkClient, site: str, files: dict[str, bytes],
           live: bool = True) -> str:
    """Store ``files`` as a new deploy of ``site`` (made live unless ``live`` is False);
    answers its id."""
    return str(call(_deploy, client, site, files, live))


def go_live(call: Call, client: NetworkClient, site: str, deploy_id: str) -> None:
    """Switch ``site`` to ``deploy_id`` with the context of the live value it read."""
    call(_go_live, client, site, deploy_id)


async def _deploy(client: NetworkClient, site: str, files: dict[str, bytes], live: bool
                  ) -> str:
    made = []
    for path, body in sorted(files.items()):
        stored = await client.store_chunks(body)
        media = mimetypes.guess_type(path)[0] or "application/octet-stream"
        made.append(File(path, stored.size, stored.hash, media, stored.mtime,
                         stored.chunks or ()))
    manifest = Manifest(site, deploys.new_id(), time.time(), "test", tuple(made))
    await client.put(deploys.deploy_key(site, manifest.id), deploys.encode(manifest),
                     deploys.MEDIA_TYPE, Token(), refs=manifest.refs)
    if live:
        await _go_live(client, site, manifest.id)
    return manifest.id


async def _go_live(client: NetworkClient, site: str, deploy_id: str) -> None:
    key = deploys.live_key(site)
    try:
        token = (await client.get(key, Token())).token
    except NotFound:
        token = Token()
    await client.put(key, deploy_id.encode(), "text/plain", token)
