"""Liveness and readiness for load balancers and ``make up``."""

from __future__ import annotations

import os
import time

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import RuntimeDep
from api.runtime import Runtime
from api.schemas import HealthResponse

router = APIRouter(tags=["health"])


@router.get("/health", summary="The process is up", response_model=HealthResponse)
async def health(runtime: RuntimeDep) -> dict:
    return {"status": "ok", "uptime_s": round(time.time() - runtime.started_at, 1), "pid": os.getpid()}


def _database_ok(runtime: Runtime) -> str | None:
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


@router.get("/ready", summary="Models loaded and database reachable (503 otherwise)")
async def ready(runtime: RuntimeDep) -> JSONResponse:
    database_error = await run_in_threadpool(_database_ok, runtime)
    service = runtime.service
    body: dict = {
        "ready": service is not None and database_error is None,
        "models_loaded": service is not None,
        "database": "ok" if database_error is None else database_error,
        "pid": os.getpid(),
    }
    if service is not None:
        body["model_versions"] = service.model_versions()
        body["served_models"] = service.served.ready_info()
        body["match_threshold"] = round(service.threshold, 4)
        body["gallery"] = {"people": service.gallery.snapshot.size, "revision": service.gallery.snapshot.revision}
    elif runtime.load_error:
        body["error"] = f"The models failed to load: {runtime.load_error}"
    else:
        body["error"] = "The models are still loading"
    if database_error is not None:
        body["error"] = "The database is not reachable"
    return JSONResponse(body, status_code=200 if body["ready"] else 503)
