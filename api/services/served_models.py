"""The seam between the API and the models it serves besides the face pipeline.

Today :class:`PackagedModels` answers from the pipeline alone (no age or gender; verification by
cosine similarity against the calibrated threshold). A registry-backed implementation (MLflow)
replaces it by editing only :func:`create_served_models`; routes see nothing but this interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from api.config import ApiSettings
    from face_pipeline import FacePipeline

AgeGender = tuple[float | None, str | None, float | None]
"""(age in years, "male" or "female", confidence of the gender), each None when not predicted."""

Verdict = tuple[float, float, str]
"""(score, threshold, model version): a match is ``score >= threshold``."""


class ServedModels(ABC):
    """Models loaded once per process and shared by every request thread (must be thread-safe)."""

    @abstractmethod
    def versions(self) -> dict[str, str | None]:
        """Model name -> version in use (None when that model is not served)."""

    @abstractmethod
    def predict_age_gender(self, crops: np.ndarray, embeddings: np.ndarray,
                           features: np.ndarray | None = None) -> list[AgeGender]:
        """One ``(age, gender, gender_confidence)`` per face; crops ``(N,160,160,3)`` uint8, embeddings
        ``(N,512)`` (FaceNet's: ``FaceEmbedding.attribute_vector``), features ``(N, embedder.feature_dim)``
        (the pipeline's ``FaceEmbedding.features``)."""

    def project(self, embeddings: np.ndarray) -> np.ndarray:
        """Map raw pipeline embeddings into the space identities are matched in (identity by default)."""
        return np.asarray(embeddings, dtype=np.float32)

    def match_threshold(self) -> float | None:
        """Similarity threshold for matches in the projected space; None defers to settings/pipeline."""
        return None

    def far_table(self) -> list[list[float]] | None:
        """``[[per-comparison FAR, threshold], ...]`` of the served recognition model, for 1:N
        identification; None defers to the pipeline's calibration."""
        return None

    def verify_person(self, person_name: str, embedding: np.ndarray) -> Verdict | None:
        """A personal verifier's verdict for ``person_name``; None when there is no such verifier."""
        return None

    def verify_pair(self, embedding1: np.ndarray, embedding2: np.ndarray) -> Verdict | None:
        """A general same-person verifier's verdict; None when there is none (cosine is used instead)."""
        return None

    def ready_info(self) -> dict:
        """What ``/ready`` shows about these models."""
        return {"versions": self.versions()}

    def close(self) -> None:
        """Free resources at shutdown (nothing to free by default)."""
        return None


class PackagedModels(ServedModels):
    """Only the face pipeline's packaged models: age and gender are unknown, verification is cosine."""

    def __init__(self, pipeline: FacePipeline, threshold: float | None = None) -> None:
        self.pipeline = pipeline
        self.threshold = float(pipeline.threshold if threshold is None else threshold)

    def versions(self) -> dict[str, str | None]:
        return {"age_gender": None, "recognition_head": None, "verifier": None}

    def predict_age_gender(self, crops: np.ndarray, embeddings: np.ndarray,
                           features: np.ndarray | None = None) -> list[AgeGender]:
        return [(None, None, None)] * len(crops)

    def verify_pair(self, embedding1: np.ndarray, embedding2: np.ndarray) -> Verdict | None:
        score = float(np.dot(np.asarray(embedding1, np.float32), np.asarray(embedding2, np.float32)))
        return score, self.threshold, self.pipeline.embedder.full_version

    def ready_info(self) -> dict:
        return {"kind": "packaged", "versions": self.versions()}


def create_served_models(settings: ApiSettings, pipeline: FacePipeline) -> ServedModels:
    """The one place that decides which models are served: the MLflow registry's production
    versions (MODEL_SOURCE=registry, the default when MLFLOW_TRACKING_URI is set), else the pipeline's."""
    source = settings.model_source or ("registry" if settings.mlflow_tracking_uri else "packaged")
    if source == "packaged":
        return PackagedModels(pipeline, threshold=settings.match_threshold)
    from api.config import ROOT
    from api.services.registry_models import DEFAULT_TRACKING_URI, RegistryModels

    cache = settings.model_cache_dir if settings.model_cache_dir.is_absolute() else ROOT / settings.model_cache_dir
    return RegistryModels(settings.mlflow_tracking_uri or DEFAULT_TRACKING_URI, cache, settings.model_refresh_seconds,
                          embedder_version=pipeline.embedder.full_version,
                          attribute_embedder_version=attribute_embedder_version(pipeline),
                          on_recognition_change=lambda: _bump_gallery_revision(settings))


def attribute_embedder_version(pipeline: FacePipeline) -> str:
    """The version of the network whose vectors and features age/gender models read (FaceNet's
    part of a fused descriptor), which is what an age/gender model is checked against."""
    return pipeline.embedder.attribute_version


def _bump_gallery_revision(settings: ApiSettings) -> None:
    """A new recognition head changes the matching space: make every worker reload its gallery."""
    from api.db.engine import make_engine, make_session_factory
    from api.services.gallery import bump_revision

    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session, session.begin():
            bump_revision(session)
    finally:
        engine.dispose()
