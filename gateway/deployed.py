"""Reading a site's deploys: which one is live, and each manifest.

Both are keys read as any other (the client's read cache, at most a second old, never
older than the reader's token; ``gateway.presence`` for a site with no deploys). A
manifest never changes, so its decoded form is kept by its key and ETag, bounded; the
read of its key still says whether it is kept.
"""

from __future__ import annotations

from collections import OrderedDict

from dwp.client.network import NetworkClient, ReadResult
from dwp.core import deploys
from dwp.core.deploys import BadManifest, Manifest
from dwp.core.token import Token
from gateway.context import one_per_client
from gateway.presence import absences

MAX_MANIFESTS = 64


class Deployed:
    def __init__(self, client: NetworkClient) -> None:
        self.client = client
        self._manifests: OrderedDict[tuple[str, str], Manifest] = OrderedDict()

    async def live(self, site: str, token: Token, pinned: str | None = None
                   ) -> tuple[list[str], ReadResult | None]:
        """The ids ``.live/{site}`` names, winner first (more than one: a conflict), and
        the read that found them; ([], None) for a site without deploys."""
        found = await absences(self.client).read(deploys.live_key(site), token, pinned)
        if found is None:
            return [], None
        return deploys.live_ids([v.data for v in found.versions]), found

    async def manifest(self, site: str, deploy: str, token: Token,
                       pinned: str | None = None) -> Manifest | None:
        """The kept deploy ``deploy`` of ``site``, None when there is none (aged out,
        removed, never made, or not a manifest)."""
        found = await self.kept(site, deploy, token, pinned)
        return None if found is None else found[0]

    async def kept(self, site: str, deploy: str, token: Token, pinned: str | None = None
                   ) -> tuple[Manifest, ReadResult] | None:
        """``manifest``'s answer and the read of its key (where it was found)."""
        key = deploys.deploy_key(site, deploy)
        found = await absences(self.client).read(key, token, pinned)
        if found is None:
            return None
        version = found.versions[0]
        kept = (key, version.etag)
        manifest = self._manifests.get(kept)
        if manifest is not None:
            self._manifests.move_to_end(kept)
            return manifest, found
        blob = b"".join([piece async for piece in self.client.body(version)])
        try:
            manifest = deploys.decode(blob)
        except BadManifest:
            return None
        if (manifest.site, manifest.id) != (site, deploy):
            return None  # written by hand under another name: not this deploy
        if len(self._manifests) >= MAX_MANIFESTS:
            self._manifests.popitem(last=False)
        self._manifests[kept] = manifest
        return manifest, found


deployed = one_per_client(Deployed)
