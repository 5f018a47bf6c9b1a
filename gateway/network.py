"""The network's state and health, the metrics, and the fault-injection switch."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from dwp.client import gc
from dwp.client.status import NetworkStatus
from gateway import nodes
from gateway.auth import require_token
from gateway.context import context_of
from gateway.metrics import CONTENT_TYPE, generate_latest, set_bytes
from gateway.models import ErrorBody, Faults, GcReport, NewNode

router = APIRouter(tags=["network"])
CHANGE_ERRORS: dict[int | str, dict[str, object]] = {
    s: {"model": ErrorBody} for s in (401, 409, 501)}
faults_router = APIRouter(prefix="/api/v1", tags=["faults"],
                          dependencies=[Depends(require_token)])


@router.get("/api/v1/network", response_model=NetworkStatus)
async def network(request: Request) -> NetworkStatus:
    """Name, epoch, shards and every node with its health, pid, key count and digest."""
    return await context_of(request).client.status()


@router.post("/api/v1/network/nodes", response_model=NetworkStatus,
             dependencies=[Depends(require_token)], responses=CHANGE_ERRORS)
async def add_node(body: NewNode, request: Request) -> NetworkStatus:
    """Add a node on a Ray host (``{}``: one more local node); answers once the data has
    been streamed to it and every node is on the new epoch."""
    return await nodes.add(context_of(request).network, body.host)


@router.delete("/api/v1/network/nodes/{node_id}", response_model=NetworkStatus,
               dependencies=[Depends(require_token)], responses=CHANGE_ERRORS)
async def remove_node(node_id: str, request: Request, force: bool = False
                      ) -> NetworkStatus:
    """A node leaves after handing its data off; ``force=true`` removes a dead node and
    re-replicates its shard from the survivors."""
    return await nodes.remove(context_of(request).network, node_id, force)


@router.post("/api/v1/gc", response_model=GcReport, dependencies=[Depends(require_token)],
             responses={401: {"model": ErrorBody}})
async def collect_garbage(request: Request, dry_run: bool = False) -> dict[str, object]:
    """One garbage collection round now (one also runs in the background): chunks no
    kept version names, and deleted keys whose time is up. ``dry_run=true`` only counts
    what the round would remove."""
    grace = request.app.state.settings.gc_grace
    return asdict(await gc.collect(context_of(request).client, dry_run, grace))


@router.get("/healthz", responses={503: {"model": ErrorBody}})
async def healthz(request: Request) -> JSONResponse:
    """200 once every shard has a live replica, else 503 saying which has none."""
    reason = await context_of(request).client.health()
    if reason:
        return JSONResponse({"error": "unhealthy", "detail": reason}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus text; the bytes gauges are read from the nodes as it is scraped."""
    status = await context_of(request).client.status()
    set_bytes(status)
    return Response(generate_latest(), media_type=CONTENT_TYPE)


@faults_router.put("/faults", status_code=204, responses={421: {"model": ErrorBody}})
async def cut(body: Faults, request: Request) -> Response:
    """Cut replica-to-replica messages between the groups (tests and demos only)."""
    await context_of(request).client.set_faults(body.partitions)
    return Response(status_code=204)


@faults_router.delete("/faults", status_code=204)
async def heal(request: Request) -> Response:
    await context_of(request).client.set_faults([])
    return Response(status_code=204)
