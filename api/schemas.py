"""Response shapes, for the OpenAPI docs at ``/docs`` and to keep answers to their documented fields."""

from __future__ import annotations

from pydantic import BaseModel, Field

MAX_ID = 2**31 - 1
"""The largest id a person can have (INT on MySQL); bigger ones are 422, not a driver overflow."""


class ErrorBody(BaseModel):
    error: str = Field(description="One line saying what was wrong")


class BBox(BaseModel):
    x: int
    y: int
    width: int
    height: int


class FaceGeometry(BaseModel):
    bbox: BBox
    confidence: float = Field(description="Detection confidence, 0 to 1")
    landmarks: dict[str, list[float]] = Field(description="left_eye, right_eye, nose, mouth_left, mouth_right: [x, y]")


class MatchOut(BaseModel):
    person_id: int
    name: str
    similarity: float
    is_match: bool


class AnalyzedFace(FaceGeometry):
    age: float | None
    gender: str | None = Field(description='"male", "female", or null when no age/gender model is served')
    gender_confidence: float | None
    identity: str = Field(description='The enrolled name, or "unknown"')
    person_id: int | str | None = Field(description="An enrolled person's id, or unknown_<hex> (stable per stranger)")
    similarity: float | None = Field(description="Similarity to the best enrolled match (null with no gallery)")
    matches: list[MatchOut] = Field(description="The top-k most similar enrolled people")


class AnalyzeResponse(BaseModel):
    success: bool
    faces: list[AnalyzedFace]
    message: str
    timing_ms: float
    model_versions: dict[str, str | None]


class RegisterResponse(BaseModel):
    person_id: int
    name: str
    faces: int = Field(description="Faces now enrolled for this person")
    created: bool = Field(description="A new person was created")
    added: bool = Field(description="False when this photo was already enrolled for them")
    face: FaceGeometry
    timing_ms: float


class PersonRef(BaseModel):
    id: int
    name: str


class VerifyResponse(BaseModel):
    model_version: str
    is_match: bool
    score: float
    threshold: float
    person: PersonRef | None
    timing_ms: float


class MeVerifyResponse(VerifyResponse):
    """The answer when no person was named and ME_PERSON was checked instead."""

    is_me: bool = Field(description="The photo shows ME_PERSON (the same as is_match)")


class NameSearchResult(BaseModel):
    id: int
    name: str
    faces: int
    enrolled_at: str | None


class NameSearchResponse(BaseModel):
    query: str
    total: int
    page: int
    page_size: int
    pages: int
    results: list[NameSearchResult]


class FaceSearchResponse(BaseModel):
    face: FaceGeometry
    matches: list[MatchOut]
    threshold: float
    timing_ms: float


class EmbeddingInfo(BaseModel):
    id: int
    embedder_version: str
    dim: int
    created_at: str | None
    has_crop: bool


class PersonDetails(BaseModel):
    id: int
    name: str
    enrolled_at: str | None
    faces: int
    embeddings: list[EmbeddingInfo]
    detections: int
    last_seen: str | None


class DeleteResponse(BaseModel):
    deleted: bool
    person_id: int
    name: str
    embeddings_removed: int
    crops_removed: int
    detections_anonymised: int
    unknown_faces_removed: int = Field(
        description="Unknown-face records of this person from before enrolment (their detections lose the id)"
    )


class DetectionCounts(BaseModel):
    total: int
    last_24h: int
    known: int
    unknown: int
    known_last_24h: int
    unknown_last_24h: int
    distinct_unknown_faces: int


class StatsResponse(BaseModel):
    persons: int
    faces: int
    detections: DetectionCounts
    unknown_faces_tracked: int
    age_distribution: dict[str, int]
    gender_distribution: dict[str, int]
    model_versions: dict[str, str | None]
    uptime_s: float


class HealthResponse(BaseModel):
    status: str
    uptime_s: float
    pid: int


class HealthzResponse(BaseModel):
    status: str = Field(description='Always "healthy" when the process answers')
    model_loaded: bool = Field(description="This worker has loaded its models (see /ready for the details)")


def errors(*codes: int) -> dict[int | str, dict]:
    """The ``responses=`` entry documenting error statuses."""
    return {code: {"model": ErrorBody} for code in codes}
