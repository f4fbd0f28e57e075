"""Liveness, readiness and Prometheus metrics: no API key (probes and scrapers have none)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from fraudlake.api.deps import ServicesDep
from fraudlake.api.models import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers.")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: a model is loaded (503 until then).",
    responses={503: {"model": Readiness, "description": "No model loaded yet."}},
)
async def readyz(services: ServicesDep) -> Response:
    watcher = services.watcher
    bundle = watcher.current if watcher else None
    if bundle is None or services.state is None:
        detail = (watcher.last_error if watcher else None) or "waiting for the first model load"
        return JSONResponse(Readiness(ready=False, detail=detail).model_dump(), status_code=503)
    return JSONResponse(Readiness(ready=True, model_version=bundle.version).model_dump())


@router.get(
    "/metrics",
    summary="Prometheus metrics.",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(services: ServicesDep) -> Response:
    return Response(services.metrics.exposition(), media_type=services.metrics.content_type)
