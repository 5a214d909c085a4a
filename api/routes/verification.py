"""``POST /verify``: is this photo person X, or do these two photos show the same person? With no
person named and ``ME_PERSON`` set: is this photo me (the answer adds ``is_me``)?"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.deps import ReadAccess, RuntimeDep, ServiceDep, SingleParts
from api.errors import ApiError
from api.schemas import MAX_ID, MeVerifyResponse, VerifyResponse, errors
from api.services.me import verify_me

from .uploads import read_upload

router = APIRouter(tags=["verification"], dependencies=[ReadAccess, SingleParts])


def _the_photo(file: UploadFile | None, image: UploadFile | None) -> tuple[UploadFile, str]:
    """The photo from ``file`` or, as older clients send it, ``image``."""
    if file is not None and image is not None:
        raise ApiError(422, "send the photo in file or in image, not both")
    if file is not None:
        return file, "file"
    if image is not None:
        return image, "image"
    raise ApiError(422, "send the photo to check in the file (or image) field")


@router.post(
    "/verify",
    summary="Verify a photo against an enrolled person, or two photos against each other",
    response_model=VerifyResponse,
    responses={
        200: {"model": MeVerifyResponse, "description": "The verdict (with is_me when ME_PERSON was checked)"},
        **errors(400, 401, 404, 409, 413, 415, 422, 429, 503),
    },
)
async def verify(
    runtime: RuntimeDep,
    service: ServiceDep,
    file: Annotated[UploadFile | None, File(description="The photo to check")] = None,
    image: Annotated[UploadFile | None, File(description="The photo to check (another name for file)")] = None,
    file2: Annotated[UploadFile | None, File(description="A second photo (instead of a person)")] = None,
    person_name: Annotated[str | None, Form(description="The enrolled person's name")] = None,
    person_id: Annotated[int | None, Form(ge=1, le=MAX_ID, description="Or the enrolled person's id")] = None,
    face_index: Annotated[int | None, Form(ge=0, description="Which face of the photo (default: the largest)")] = None,
) -> dict | JSONResponse:
    photo, field = _the_photo(file, image)
    data = await read_upload(photo, runtime.settings, field=field)
    if file2 is not None:
        if person_name is not None or person_id is not None:
            raise ApiError(422, "send either a person (person_name or person_id) or a second photo (file2), not both")
        data2 = await read_upload(file2, runtime.settings, field="file2")
        async with runtime.inference.slot():
            return await run_in_threadpool(service.verify_pair, data, data2)
    if person_name is None and person_id is None:
        me_person = runtime.settings.me_person
        if not me_person:
            raise ApiError(422, "send person_name or person_id, or a second photo in file2 (or set ME_PERSON)")
        async with runtime.inference.slot():
            answer = await run_in_threadpool(verify_me, service, me_person, data, face_index)
        return JSONResponse(MeVerifyResponse.model_validate(answer).model_dump(mode="json"))
    start = time.perf_counter()
    person = await run_in_threadpool(service.find_person, person_id, person_name)  # no slot held for the lookup
    async with runtime.inference.slot():
        return await run_in_threadpool(service.verify_known, data, person, face_index, start)
