"""``POST /analyze``: every face in a photo, who it is (or a stable unknown id), age and gender —
as JSON, or with ``?format=jpeg`` as the photo itself with each face boxed and labelled."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.deps import ReadAccess, RuntimeDep, ServiceDep, SingleParts
from api.schemas import AnalyzeResponse, errors
from api.services.annotate import annotated_jpeg
from api.services.faces import FaceService

from .uploads import read_upload

router = APIRouter(tags=["analysis"], dependencies=[ReadAccess, SingleParts])


def analyze_to_jpeg(service: FaceService, data: bytes, top_k: int, quality: int) -> tuple[bytes, int]:
    """The same analysis (and detections recorded) as the JSON answer, drawn on the decoded photo."""
    result = service.analyze(data, top_k)
    image = service.pipeline.load(data)  # the same decoding (EXIF applied) the boxes refer to
    return annotated_jpeg(image, result["faces"], quality), len(result["faces"])


@router.post(
    "/analyze",
    summary="Detect, identify and describe every face in a photo",
    response_model=AnalyzeResponse,
    responses={
        200: {
            "content": {"image/jpeg": {}},
            "description": "JSON, or with format=jpeg the photo with every face boxed and labelled "
            "(header X-Face-Count: the number of faces)",
        },
        **errors(400, 401, 403, 413, 415, 422, 429, 503),
    },
)
async def analyze(
    runtime: RuntimeDep,
    service: ServiceDep,
    file: Annotated[UploadFile, File(description="The photo (JPEG, PNG, ...; type decided by decoding)")],
    top_k: Annotated[int | None, Query(ge=0, le=100, description="Look-alikes listed per face (default 3)")] = None,
    output: Annotated[
        Literal["json", "jpeg"],
        Query(alias="format", description="json: the faces as JSON; jpeg: the photo with the faces drawn on it"),
    ] = "json",
) -> dict | Response:
    data = await read_upload(file, runtime.settings)
    k = runtime.settings.default_top_k if top_k is None else top_k
    async with runtime.inference.slot():
        if output == "jpeg":
            jpeg, count = await run_in_threadpool(
                analyze_to_jpeg, service, data, k, runtime.settings.annotated_jpeg_quality
            )
            return Response(jpeg, media_type="image/jpeg", headers={"X-Face-Count": str(count)})
        return await run_in_threadpool(service.analyze, data, k)
