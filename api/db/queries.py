"""The read queries the routes answer with (the FastAPI template's ``crud`` role): routes parse the
request and pick the status code, the SQL lives here, and each answer is built as its schema model
so that what a route returns is the shape its ``response_model`` documents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from api.db.models import Detection, FaceCrop, FaceEmbeddingRow, Person
from api.schemas import EmbeddingInfo, NameSearchResponse, NameSearchResult, PersonDetails


def iso(value: datetime | None) -> str | None:
    """A stored (naive UTC) time as the API writes it: ISO 8601 to the second with a ``Z``."""
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


def person_details(session: Session, person_id: int) -> PersonDetails | None:
    """One person with their embeddings (and whether each kept a crop) and detection count; None if unknown."""
    person = session.get(Person, person_id)
    if person is None:
        return None
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
    detections, last_seen = session.execute(
        select(func.count(), func.max(Detection.created_at)).where(Detection.person_id == person_id)
    ).one()
    return PersonDetails(
        id=person.id,
        name=person.name,
        enrolled_at=iso(person.created_at),
        faces=len(embeddings),
        embeddings=[
            EmbeddingInfo(
                id=row.id,
                embedder_version=row.embedder_version,
                dim=row.dim,
                created_at=iso(row.created_at),
                has_crop=row.crop_id is not None,
            )
            for row in embeddings
        ],
        detections=int(detections),
        last_seen=iso(last_seen),
    )


def search_names(session: Session, name: str, key: str, page: int, page_size: int) -> NameSearchResponse:
    """One page of the people whose name key contains ``key`` (the search key of the query ``name``,
    made by the caller so that the name rules stay in ``api.services.names``)."""
    condition = Person.name_key.contains(key, autoescape=True)
    total = int(session.execute(select(func.count()).select_from(Person).where(condition)).scalar_one())
    faces = (
        select(FaceEmbeddingRow.person_id, func.count().label("faces"))
        .group_by(FaceEmbeddingRow.person_id)
        .subquery()
    )
    rows = session.execute(
        select(Person.id, Person.name, Person.created_at, func.coalesce(faces.c.faces, 0).label("faces"))
        .outerjoin(faces, faces.c.person_id == Person.id)
        .where(condition)
        .order_by(Person.name_key, Person.id)
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    return NameSearchResponse(
        query=name,
        total=total,
        page=page,
        page_size=page_size,
        pages=(total + page_size - 1) // page_size,
        results=[
            NameSearchResult(id=r.id, name=r.name, faces=int(r.faces), enrolled_at=iso(r.created_at)) for r in rows
        ],
    )


def ping(engine: Engine) -> None:
    """One round trip to the database; raises whatever the driver raises when it does not answer."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
