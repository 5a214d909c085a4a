"""The seam between the API and the models it serves besides the face pipeline: the interface
(:class:`ServedModels`) and the pipeline-only implementation (:class:`PackagedModels`: no age or
gender, verification by cosine similarity against the calibrated threshold). The MLflow-backed
implementation is ``api.services.registry_models.RegistryModels``; which one serves is decided by
the composition root, ``api.runtime.create_served_models``. Nothing here imports an
implementation, so routes and services see nothing but this interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
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
