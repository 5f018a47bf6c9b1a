"""The network's state and health, the metrics, and the fault-injection switch."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from gateway.auth import require_token
from gateway.metrics import CONTENT_TYPE, generate_latest
from gateway.models import ErrorBody, Faults, NetworkStatus
from gateway.objects import client_of

router = APIRouter(tags=["network"])
faults_router = APIRouter(prefix="/api/v1", tags=["faults"],
                          dependencies=[Depends(require_token)])


@router.get("/api/v1/network", response_model=NetworkStatus)
async def network(request: Request) -> dict[str, object]:
    """Name, epoch, shards and every node with its health, pid, key count and digest."""
    return await client_of(request).status()


@router.get("/healthz", responses={503: {"model": ErrorBody}})
async def healthz(request: Request) -> JSONResponse:
    """200 once every shard has a live replica, else 503 saying which has none."""
    reason = await client_of(request).health()
    if reason:
        return JSONResponse({"error": "unhealthy", "detail": reason}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE)


@faults_router.put("/faults", status_code=204, responses={421: {"model": ErrorBody}})
async def cut(body: Faults, request: Request) -> Response:
    """Cut replica-to-replica messages between the groups (tests and demos only)."""
    await client_of(request).set_faults(body.partitions)
    return Response(status_code=204)


@faults_router.delete("/faults", status_code=204)
async def heal(request: Request) -> Response:
    await client_of(request).set_faults([])
    return Response(status_code=204)
