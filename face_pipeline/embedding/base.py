"""The interface every embedder meets, so the pipeline, the API and score fusion need not know which one runs."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class Embedder(ABC):
    """Maps aligned RGB ``uint8`` crops of ``input_size`` to unit-norm float32 vectors of ``dim``."""

    name: str
    version: str
    input_size: int
    dim: int

    def __init__(self, *, batch_size: int = 16, flip: bool = True) -> None:
        self.batch_size = batch_size
        self.flip = flip

    @abstractmethod
    def _embed_batch(self, crops: np.ndarray) -> np.ndarray:
        """Raw embeddings of a batch of crops (any norm)."""

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """``(N, size, size, 3)`` crops to ``(N, dim)`` unit vectors, in batches.

        With ``flip`` each embedding is the normalised sum of the crop's and its mirror image's,
        which is how FaceNet's published LFW figure was measured."""
        crops = np.asarray(crops)
        if crops.ndim == 3:
            crops = crops[None]
        if len(crops) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if crops.shape[1:] != (self.input_size, self.input_size, 3):
            raise ValueError(f"crops must be (N, {self.input_size}, {self.input_size}, 3), got {crops.shape}")
        outputs = []
        for start in range(0, len(crops), self.batch_size):
            batch = crops[start : start + self.batch_size]
            vectors = l2_normalize(self._embed_batch(batch))
            if self.flip:
                vectors = vectors + l2_normalize(self._embed_batch(batch[:, :, ::-1, :]))
            outputs.append(vectors)
        return l2_normalize(np.concatenate(outputs, axis=0))

    @property
    def full_version(self) -> str:
        """Version string stored with every embedding: changes whenever vectors stop being comparable."""
        return f"{self.name}:{self.version}{':flip' if self.flip else ''}"
