"""``POST /analyze``: every face in a photo, who it is (or a stable unknown id), age and gender."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.concurrency import run_in_threadpool

from api.deps import ReadAccess, RuntimeDep, ServiceDep, SingleParts
from api.schemas import AnalyzeResponse, errors

from .uploads import read_upload

router = APIRouter(tags=["analysis"], dependencies=[ReadAccess, SingleParts])


@router.post(
    "/analyze",
    summary="Detect, identify and describe every face in a photo",
    response_model=AnalyzeResponse,
    responses=errors(400, 401, 403, 413, 415, 422, 429, 503),
)
async def analyze(
    runtime: RuntimeDep,
    service: ServiceDep,
    file: Annotated[UploadFile, File(description="The photo (JPEG, PNG, ...; type decided by decoding)")],
    top_k: Annotated[int | None, Query(ge=0, le=100, description="Look-alikes listed per face (default 3)")] = None,
) -> dict:
    data = await read_upload(file, runtime.settings)
    k = runtime.settings.default_top_k if top_k is None else top_k
    async with runtime.inference.slot():
        return await run_in_threadpool(service.analyze, data, k)
