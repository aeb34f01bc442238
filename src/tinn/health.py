"""Operational endpoints: readiness (`/health`), liveness (`/health/live`) and `/metrics`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text
from starlette.responses import Response

from tinn.http.responses import JsonResponse
from tinn.observability import metrics_payload
from tinn.services import get_services

router = APIRouter(tags=["Operations"])


@router.get("/health", summary="Readiness: database and blob store reachable")
async def health(request: Request) -> JsonResponse:
    services = get_services(request)
    checks: dict[str, str] = {}
    try:
        async with services.db.read() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "Healthy"
    except Exception as exc:
        checks["database"] = f"Unhealthy: {type(exc).__name__}"
    try:
        await services.blobs.check()
        checks["blobStore"] = "Healthy"
    except Exception as exc:
        checks["blobStore"] = f"Unhealthy: {type(exc).__name__}"
    healthy = all(value == "Healthy" for value in checks.values())
    body = {"status": "Healthy" if healthy else "Unhealthy", "apps": len(services.apps), **checks}
    return JsonResponse(body, status_code=200 if healthy else 503)


@router.get("/health/live", summary="Liveness: the process answers (does no work)")
async def live() -> Response:
    return Response(b"Healthy", media_type="text/plain")


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics() -> Response:
    payload, content_type = metrics_payload()
    return Response(payload, media_type=content_type)
