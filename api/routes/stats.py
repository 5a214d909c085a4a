"""``GET /stats``: what the system holds and what it has seen."""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from api.deps import ReadAccess, RuntimeDep, ServiceDep, SessionDep
from api.schemas import StatsResponse, errors
from api.services.stats import collect_stats

router = APIRouter(tags=["stats"], dependencies=[ReadAccess])


@router.get(
    "/stats",
    summary="People, faces, detections (total, last 24 h, known/unknown, age, gender)",
    response_model=StatsResponse,
    responses=errors(401, 503),
)
async def stats(runtime: RuntimeDep, service: ServiceDep, session: SessionDep) -> dict:
    body = await run_in_threadpool(collect_stats, session)
    body["model_versions"] = service.model_versions()
    body["uptime_s"] = round(time.time() - runtime.started_at, 1)
    return body
