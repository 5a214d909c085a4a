"""The plain data a pipeline hands back: everything JSON-serialisable as it stands."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
"""Five landmarks, named by the side of the *image* they are on (left = smaller x)."""


@dataclass(frozen=True)
class BoundingBox:
    x: int
    y: int
    width: int
    height: int

    def to_dict(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.width / 2.0, self.y + self.height / 2.0


@dataclass(frozen=True)
class Face:
    """One detected face, in the original image's pixel coordinates."""

    box: BoundingBox
    confidence: float
    landmarks: dict[str, tuple[float, float]]

    def landmark_array(self) -> np.ndarray:
        """Landmarks as a ``(5, 2)`` float32 array in :data:`LANDMARK_NAMES` order."""
        return np.asarray([self.landmarks[name] for name in LANDMARK_NAMES], dtype=np.float32)

    def to_dict(self) -> dict:
        return {
            "bbox": self.box.to_dict(),
            "confidence": round(float(self.confidence), 4),
            "landmarks": {name: [round(float(x), 1), round(float(y), 1)] for name, (x, y) in self.landmarks.items()},
        }


@dataclass
class FaceEmbedding:
    """A detected face with its aligned crop, unit-norm descriptor and the embedder's appearance
    features (``(feature_dim,)``, empty for an embedder without them)."""

    face: Face
    crop: np.ndarray = field(repr=False)
    embedding: np.ndarray = field(repr=False)
    features: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.float32))
    attribute_embedding: np.ndarray | None = field(repr=False, default=None)
    """The embedding attribute models read (FaceNet's own 512-D part of a fused descriptor);
    None means the same as ``embedding``."""

    @property
    def attribute_vector(self) -> np.ndarray:
        return self.embedding if self.attribute_embedding is None else self.attribute_embedding
