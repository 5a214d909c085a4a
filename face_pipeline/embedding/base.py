"""The interface every embedder meets, so the pipeline, the API and score fusion need not know which one runs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from ..alignment import AlignMode, align_face
from ..types import Face


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


@dataclass(frozen=True)
class FaceDescriptions:
    """What an embedder makes of the faces of one image, row by row.

    ``vectors`` are the unit-norm descriptors faces are matched by; ``attribute_vectors`` the
    embedding that attribute models (age, gender) read beside ``features`` (the same as
    ``vectors`` for a single network; FaceNet's part of a fused descriptor); ``crops`` the
    primary network's aligned crops (what the API keeps and age/gender models see)."""

    vectors: np.ndarray
    features: np.ndarray
    crops: np.ndarray
    attribute_vectors: np.ndarray


class Embedder(ABC):
    """Maps aligned RGB ``uint8`` crops of ``input_size`` to unit-norm float32 vectors of ``dim``."""

    name: str
    version: str
    input_size: int
    dim: int
    feature_dim: int = 0
    align_mode: AlignMode = "box"
    """Width of :meth:`embed_with_features`' appearance features (0: this embedder has none)."""

    def __init__(self, *, batch_size: int = 16, flip: bool = True) -> None:
        self.batch_size = batch_size
        self.flip = flip

    @abstractmethod
    def _embed_batch(self, crops: np.ndarray) -> np.ndarray:
        """Raw embeddings of a batch of crops (any norm)."""

    def _describe_batch(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw embeddings and appearance features of a batch, from one forward pass where the
        embedder can; one without features answers an ``(N, 0)`` array."""
        return self._embed_batch(crops), np.zeros((len(crops), 0), np.float32)

    def _checked(self, crops: np.ndarray) -> np.ndarray:
        crops = np.asarray(crops)
        if crops.ndim == 3:
            crops = crops[None]
        if len(crops) and crops.shape[1:] != (self.input_size, self.input_size, 3):
            raise ValueError(f"crops must be (N, {self.input_size}, {self.input_size}, 3), got {crops.shape}")
        return crops

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """``(N, size, size, 3)`` crops to ``(N, dim)`` unit vectors, in batches.

        With ``flip`` each embedding is the normalised sum of the crop's and its mirror image's,
        which is how FaceNet's published LFW figure was measured."""
        return self._passes(crops, lambda batch: (self._embed_batch(batch), np.zeros((len(batch), 0), np.float32)),
                            feature_dim=0)[0]

    def embed_with_features(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`embed`'s vectors plus ``(N, feature_dim)`` appearance features from the same passes.

        The embedding is trained to forget what identity does not need (pose, light, and partly
        age); the network's pooled inner activations keep it, which is what attribute models (age,
        gender) learn from best. With ``flip`` the features are the mean of both images'."""
        return self._passes(crops, self._describe_batch, feature_dim=self.feature_dim)

    def _passes(self, crops: np.ndarray, describe, feature_dim: int) -> tuple[np.ndarray, np.ndarray]:
        """The batched (and, with ``flip``, mirrored) forward passes behind :meth:`embed` and
        :meth:`embed_with_features`; ``describe`` maps a batch to (raw embeddings, features)."""
        crops = self._checked(crops)
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32), np.zeros((0, feature_dim), np.float32)
        vectors_out, features_out = [], []
        for start in range(0, len(crops), self.batch_size):
            batch = crops[start : start + self.batch_size]
            if self.flip:  # the crops and their mirror images in ONE forward pass
                raw, features = describe(np.concatenate([batch, batch[:, :, ::-1, :]]))
                count = len(batch)
                vectors = l2_normalize(raw[:count]) + l2_normalize(raw[count:])
                features = (features[:count] + features[count:]) / 2.0
            else:
                raw, features = describe(batch)
                vectors = l2_normalize(raw)
            vectors_out.append(vectors)
            features_out.append(np.asarray(features, np.float32))
        return l2_normalize(np.concatenate(vectors_out, axis=0)), np.concatenate(features_out, axis=0)

    def align(self, image: np.ndarray, face: Face) -> np.ndarray:
        """The crop this network was trained on (the detector box widened by a margin, by default)."""
        return align_face(image, face, size=self.input_size, mode=self.align_mode)

    def describe_faces(self, image: np.ndarray, faces: list[Face]) -> FaceDescriptions:
        """Embeddings, features and crops of ``faces`` in ``image``, each aligned as this network wants."""
        crops = np.stack([self.align(image, face) for face in faces]) if faces else np.zeros(
            (0, self.input_size, self.input_size, 3), np.uint8)
        vectors, features = self.embed_with_features(crops)
        return FaceDescriptions(vectors, features, crops, vectors)

    @property
    def attribute_version(self) -> str:
        """Version of what attribute models read (:meth:`embed_with_features`' vectors and features)."""
        return self.full_version

    @property
    def full_version(self) -> str:
        """Version string stored with every embedding: changes whenever vectors stop being comparable."""
        return f"{self.name}:{self.version}{':flip' if self.flip else ''}"
