"""People: enrol a face (``POST /register``), look one up, delete one with every trace of them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import func, select

from api.db.models import Detection, FaceCrop, FaceEmbeddingRow, Person
from api.deps import AdminAccess, ReadAccess, RuntimeDep, ServiceDep, SessionDep, SingleParts
from api.errors import ApiError
from api.schemas import MAX_ID, DeleteResponse, PersonDetails, RegisterResponse, errors

from .uploads import read_upload

router = APIRouter(tags=["persons"])


def iso(value) -> str | None:  # noqa: ANN001 - datetime or None
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


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
    runtime: RuntimeDep,
    service: ServiceDep,
    file: Annotated[UploadFile, File(description="A photo of the person")],
    person_name: Annotated[str, Form(description="The person's name (new or already enrolled)")],
    face_index: Annotated[int | None, Form(ge=0, description="Which face (left to right) if several")] = None,
) -> JSONResponse:
    data = await read_upload(file, runtime.settings)
    async with runtime.inference.slot():
        answer, added = await run_in_threadpool(service.register, data, person_name, face_index)
    return JSONResponse(answer, status_code=201 if added else 200)


def _person_details(session, person_id: int) -> dict:  # noqa: ANN001 - Session
    person = session.get(Person, person_id)
    if person is None:
        raise ApiError(404, f"No person with id {person_id}")
    embeddings = session.execute(
        select(
            FaceEmbeddingRow.id,
            FaceEmbeddingRow.embedder_version,
            FaceEmbeddingRow.dim,
            FaceEmbeddingRow.created_at,
            FaceCrop.id.label("crop_id"),
        )
        .outerjoin(FaceCrop, FaceCrop.embedding_id == FaceEmbeddingRow.id)
        .where(FaceEmbeddingRow.person_id == person_id)
        .order_by(FaceEmbeddingRow.id)
    ).all()
    detections = session.execute(
        select(func.count(), func.max(Detection.created_at)).where(Detection.person_id == person_id)
    ).one()
    return {
        "id": person.id,
        "name": person.name,
        "enrolled_at": iso(person.created_at),
        "faces": len(embeddings),
        "embeddings": [
            {
                "id": row.id,
                "embedder_version": row.embedder_version,
                "dim": row.dim,
                "created_at": iso(row.created_at),
                "has_crop": row.crop_id is not None,
            }
            for row in embeddings
        ],
        "detections": int(detections[0]),
        "last_seen": iso(detections[1]),
    }


@router.get(
    "/persons/{person_id}",
    summary="One enrolled person",
    dependencies=[ReadAccess],
    response_model=PersonDetails,
    responses=errors(401, 404),
)
async def get_person(session: SessionDep, person_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> dict:
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
