"""People: enrol a face (``POST /register``), look one up, delete one with every trace of them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from api.db import queries
from api.deps import AdminAccess, ReadAccess, RuntimeDep, ServiceDep, SessionDep, SingleParts
from api.errors import ApiError
from api.schemas import MAX_ID, DeleteResponse, PersonDetails, RegisterResponse, errors

from .uploads import read_upload

router = APIRouter(tags=["persons"])


@router.post(
    "/register",
    summary="Enroll a person from a photo with exactly one face (or choose one with face_index)",
    dependencies=[AdminAccess, SingleParts],
    status_code=201,
    response_model=RegisterResponse,
    responses={
        200: {"model": RegisterResponse, "description": "Photo already enrolled"},
        **errors(400, 401, 403, 413, 415, 422, 429, 503),
    },
)
async def register(
    response: Response,
    runtime: RuntimeDep,
    service: ServiceDep,
    file: Annotated[UploadFile, File(description="A photo of the person")],
    person_name: Annotated[str, Form(description="The person's name (new or already enrolled)")],
    face_index: Annotated[int | None, Form(ge=0, description="Which face (left to right) if several")] = None,
) -> RegisterResponse:
    data = await read_upload(file, runtime.settings)
    async with runtime.inference.slot():
        answer, added = await run_in_threadpool(service.register, data, person_name, face_index)
    response.status_code = 201 if added else 200  # 200: this photo was enrolled for them already
    return RegisterResponse.model_validate(answer)


def _person_details(session: Session, person_id: int) -> PersonDetails:
    details = queries.person_details(session, person_id)
    if details is None:
        raise ApiError(404, f"No person with id {person_id}")
    return details


@router.get(
    "/persons/{person_id}",
    summary="One enrolled person",
    dependencies=[ReadAccess],
    response_model=PersonDetails,
    responses=errors(401, 404),
)
async def get_person(session: SessionDep, person_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> PersonDetails:
    return await run_in_threadpool(_person_details, session, person_id)


@router.delete(
    "/persons/{person_id}",
    summary="Delete a person, their embeddings and crops, and their name from past detections",
    dependencies=[AdminAccess],
    response_model=DeleteResponse,
    responses=errors(401, 403, 404),
)
async def delete_person(service: ServiceDep, person_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> dict:
    return await run_in_threadpool(service.delete_person, person_id)
