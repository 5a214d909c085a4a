"""``GET /healthz`` (the health answer older clients of this project expect) and ``GET /metrics``
(Prometheus). Neither needs an API key: they say nothing about the people enrolled."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api import metrics
from api.deps import RuntimeDep
from api.schemas import HealthzResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Up, and whether this worker has loaded its models", response_model=HealthzResponse)
async def healthz(runtime: RuntimeDep) -> dict:
    return {"status": "healthy", "model_loaded": runtime.service is not None}


@router.get(
    "/metrics",
    summary="Prometheus metrics: requests, latency, errors, faces, pipeline stages, gallery, model versions",
    response_class=Response,
    responses={200: {"content": {metrics.CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
async def prometheus_metrics(runtime: RuntimeDep) -> Response:
    body = await run_in_threadpool(metrics.render, runtime)
    return Response(body, media_type=metrics.CONTENT_TYPE)
