"""``POST /verify``: is this photo person X, or do these two photos show the same person?"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.concurrency import run_in_threadpool

from api.deps import ReadAccess, RuntimeDep, ServiceDep, SingleParts
from api.errors import ApiError
from api.schemas import MAX_ID, VerifyResponse, errors

from .uploads import read_upload

router = APIRouter(tags=["verification"], dependencies=[ReadAccess, SingleParts])


@router.post(
    "/verify",
    summary="Verify a photo against an enrolled person, or two photos against each other",
    response_model=VerifyResponse,
    responses=errors(400, 401, 404, 409, 413, 415, 422, 429, 503),
)
async def verify(
    runtime: RuntimeDep,
    service: ServiceDep,
    file: Annotated[UploadFile, File(description="The photo to check")],
    file2: Annotated[UploadFile | None, File(description="A second photo (instead of a person)")] = None,
    person_name: Annotated[str | None, Form(description="The enrolled person's name")] = None,
    person_id: Annotated[int | None, Form(ge=1, le=MAX_ID, description="Or the enrolled person's id")] = None,
    face_index: Annotated[int | None, Form(ge=0, description="Which face of `file` (default: the largest)")] = None,
) -> dict:
    data = await read_upload(file, runtime.settings)
    if file2 is not None:
        if person_name is not None or person_id is not None:
            raise ApiError(422, "send either a person (person_name or person_id) or a second photo (file2), not both")
        data2 = await read_upload(file2, runtime.settings, field="file2")
        async with runtime.inference.slot():
            return await run_in_threadpool(service.verify_pair, data, data2)
    if person_name is None and person_id is None:
        raise ApiError(422, "send person_name or person_id, or a second photo in file2")
    async with runtime.inference.slot():
        return await run_in_threadpool(service.verify_person, data, person_name, person_id, face_index)
