"""The face pipeline: detect, align, embed. One object per process, shared by every thread."""

from __future__ import annotations

import numpy as np

from .alignment import AlignMode, align_face
from .calibration import load_calibration
from .config import PipelineSettings
from .detection import Detector, create_detector
from .embedding import Embedder
from .images import ImageSource, load_image
from .types import Face, FaceEmbedding


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Similarity of two unit vectors, in [-1, 1]."""
    return float(np.dot(np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)))


class FacePipeline:
    """Loads its models once; every method is safe to call from several threads."""

    def __init__(
        self,
        settings: PipelineSettings | None = None,
        *,
        detector: Detector | None = None,
        embedder: Embedder | None = None,
        align_mode: AlignMode = "box",
    ) -> None:
        self.settings = settings or PipelineSettings()
        self.detector = detector or create_detector(
            self.settings.detector,
            max_image_side=self.settings.max_image_side,
            min_face_size=self.settings.min_face_size,
            min_confidence=self.settings.min_confidence,
        )
        if embedder is None:
            from .embedding.facenet import FaceNetEmbedder

            embedder = FaceNetEmbedder(batch_size=self.settings.embed_batch_size, flip=self.settings.flip_embeddings)
        self.embedder = embedder
        self.align_mode: AlignMode = align_mode
        calibration = load_calibration()
        self.threshold = calibration.threshold
        self.threshold_source = calibration.source

    @property
    def versions(self) -> dict[str, str]:
        return {"detector": self.detector.name, "embedder": self.embedder.full_version}

    def load(self, source: ImageSource) -> np.ndarray:
        return load_image(source, max_pixels=self.settings.max_pixels)

    def detect(self, image: np.ndarray) -> list[Face]:
        return self.detector.detect(image)

    def align(self, image: np.ndarray, face: Face) -> np.ndarray:
        return align_face(image, face, size=self.embedder.input_size, mode=self.align_mode)

    def embed(self, crops: np.ndarray) -> np.ndarray:
        return self.embedder.embed(crops)

    def embed_with_features(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings plus the embedder's appearance features (what age/gender models read)."""
        return self.embedder.embed_with_features(crops)

    def process(self, image: np.ndarray) -> list[FaceEmbedding]:
        """Every face in ``image`` with its crop, embedding and features, left to right (the
        features come from the same forward passes as the embedding, so they cost nothing)."""
        faces = self.detect(image)
        if not faces:
            return []
        crops = np.stack([self.align(image, face) for face in faces])
        embeddings, features = self.embed_with_features(crops)
        return [FaceEmbedding(face=f, crop=c, embedding=e, features=x)
                for f, c, e, x in zip(faces, crops, embeddings, features)]

    def is_same(self, similarity: float) -> bool:
        return similarity >= self.threshold
