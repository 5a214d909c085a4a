"""Liveness and readiness for load balancers and ``make up``: the public answer says only ready or
not; model versions, threshold, gallery size and errors are for callers with an API key."""

from __future__ import annotations

import logging
import os
import time
from typing import Annotated

from fastapi import APIRouter, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.db import queries
from api.deps import RuntimeDep, api_key_header, key_role
from api.runtime import Runtime
from api.schemas import HealthResponse

router = APIRouter(tags=["health"])
log = logging.getLogger("api")


@router.get("/health", summary="The process is up", response_model=HealthResponse)
async def health(runtime: RuntimeDep) -> dict:
    return {"status": "ok", "uptime_s": round(time.time() - runtime.started_at, 1), "pid": os.getpid()}


def _database_ok(runtime: Runtime) -> bool:
    try:
        queries.ping(runtime.engine)
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; the log has why
        log.warning("readiness: the database did not answer: %s", " ".join(str(exc).split())[:300])
        return False
    return True


def _may_see_details(runtime: Runtime, key: str | None) -> bool:
    """Details are for operators: any valid key (or keys disabled, when everything is open anyway)."""
    if not runtime.settings.api_keys_enabled:
        return True
    if not key:
        return False
    try:
        return key_role(runtime, key) is not None
    except Exception:  # noqa: BLE001 - a database fault here just means the public answer
        return False


@router.get(
    "/ready",
    summary="Models loaded and database reachable (503 otherwise); details only with an API key",
    responses={503: {"description": "Not ready"}},
)
async def ready(runtime: RuntimeDep, key: Annotated[str | None, Security(api_key_header)] = None) -> JSONResponse:
    database_ok = await run_in_threadpool(_database_ok, runtime)
    service = runtime.service
    is_ready = service is not None and database_ok
    status = 200 if is_ready else 503
    if not await run_in_threadpool(_may_see_details, runtime, key):
        return JSONResponse({"ready": is_ready, "pid": os.getpid()}, status_code=status)
    body: dict = {
        "ready": is_ready,
        "models_loaded": service is not None,
        "database": "ok" if database_ok else "unreachable",
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
    if not database_ok:
        body["error"] = "The database is not reachable"
    return JSONResponse(body, status_code=status)
