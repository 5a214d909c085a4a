"""Search people by name (``GET /search``) or by face (``POST /search``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.concurrency import run_in_threadpool

from api.db import queries
from api.deps import ReadAccess, RuntimeDep, ServiceDep, SessionDep, SingleParts
from api.schemas import FaceSearchResponse, NameSearchResponse, errors
from api.services.names import search_key

from .uploads import read_upload

router = APIRouter(tags=["search"], dependencies=[ReadAccess])

MAX_PAGE = 1_000_000
"""Far beyond any gallery; keeps the row offset inside every database's integer range."""


@router.get(
    "/search",
    summary="People whose name contains the text (case-insensitive), paginated",
    response_model=NameSearchResponse,
    responses=errors(401, 422),
)
async def search_by_name(
    session: SessionDep,
    name: Annotated[str, Query(max_length=255, description="Text the name contains (empty: everyone)")] = "",
    page: Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"1 to {MAX_PAGE:,}")] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> NameSearchResponse:
    return await run_in_threadpool(queries.search_names, session, name, search_key(name), page, page_size)


@router.post(
    "/search",
    summary="The enrolled people most similar to the face in a photo",
    response_model=FaceSearchResponse,
    dependencies=[SingleParts],
    responses=errors(400, 401, 413, 415, 422, 429, 503),
)
async def search_by_face(
    runtime: RuntimeDep,
    service: ServiceDep,
    file: Annotated[UploadFile, File(description="A photo (its largest face is used unless face_index is given)")],
    top_k: Annotated[int, Query(ge=1, le=100)] = 5,
    face_index: Annotated[int | None, Form(ge=0)] = None,
) -> dict:
    data = await read_upload(file, runtime.settings)
    async with runtime.inference.slot():
        return await run_in_threadpool(service.search_photo, data, top_k, face_index)
