"""Two networks as one descriptor: FaceNet (box crop, 160 px) and SFace (five-point warp, 112 px).

Each part is L2-normalised and scaled by the square root of its weight, then the two are
concatenated: the result is a unit vector whose cosine with another is exactly
``w * cos_facenet + (1 - w) * cos_sface``. So the gallery, ``/verify``, ``/search``, the
unknown-face tracker and the trainer keep treating it as one embedding; nothing downstream needs
to know there are two networks. Because each part keeps its own block of coordinates, a
different weight can be applied later to a stored vector (:func:`reweight`), which is how the
registry's ``face-recognition`` model re-weights without re-embedding anyone."""

from __future__ import annotations

import numpy as np

from ..types import Face
from .base import Embedder, FaceDescriptions, l2_normalize


def fuse(first: np.ndarray, second: np.ndarray, weight: float) -> np.ndarray:
    """``[sqrt(w) * a, sqrt(1 - w) * b]`` for unit rows ``a``, ``b``: unit rows again."""
    return np.concatenate([np.sqrt(weight) * l2_normalize(first),
                           np.sqrt(1.0 - weight) * l2_normalize(second)], axis=1).astype(np.float32)


def split(vectors: np.ndarray, first_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The two parts of fused rows, each normalised back to unit length."""
    vectors = np.asarray(vectors, np.float32)
    return l2_normalize(vectors[:, :first_dim]), l2_normalize(vectors[:, first_dim:])


def reweight(vectors: np.ndarray, first_dim: int, weight: float) -> np.ndarray:
    """Fused rows made with any weight, re-fused with ``weight``."""
    return fuse(*split(vectors, first_dim), weight)


class FusedEmbedder(Embedder):
    """``primary`` (which also gives the appearance features and the kept crop) fused with ``secondary``."""

    def __init__(self, primary: Embedder, secondary: Embedder, weight: float) -> None:
        if not 0.0 < weight < 1.0:
            raise ValueError(f"the fusion weight must be strictly between 0 and 1, got {weight}")
        super().__init__(batch_size=primary.batch_size, flip=primary.flip)
        self.primary, self.secondary, self.weight = primary, secondary, float(weight)
        self.name = "fused"
        self.version = f"{primary.full_version}*{self.weight:.2f}+{secondary.full_version}"
        self.input_size = primary.input_size
        self.align_mode = primary.align_mode
        self.dim = primary.dim + secondary.dim
        self.feature_dim = primary.feature_dim

    @property
    def full_version(self) -> str:
        return f"fused[{self.version}]"

    @property
    def attribute_version(self) -> str:
        return self.primary.full_version

    def embed_with_features(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The primary network's embedding and features of its own crops: what age/gender models
        read (the fused descriptor needs the photo, see :meth:`describe_faces`)."""
        return self.primary.embed_with_features(crops)

    def _embed_batch(self, crops: np.ndarray) -> np.ndarray:
        raise TypeError("a fused embedder needs the photo and the face (each network aligns its own crop): "
                        "use FacePipeline.describe(image, faces)")

    def describe_faces(self, image: np.ndarray, faces: list[Face]) -> FaceDescriptions:
        first = self.primary.describe_faces(image, faces)
        second = self.secondary.describe_faces(image, faces)
        return FaceDescriptions(fuse(first.vectors, second.vectors, self.weight), first.features, first.crops,
                                first.vectors)
