"""What the recognition trainer learns on top of the fused descriptor: FaceNet's weight in the
fused cosine and the open-set FAR table, from the training run's own identity folders.

The pipeline's vectors are ``[sqrt(w0) facenet | sqrt(1 - w0) sface]`` at the calibrated weight
``w0``; each part is recovered by normalising its block, so any weight can be scored and applied
without embedding again (the registered model re-weights at serving time)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from face_pipeline.calibrate import WEIGHT_FAR, choose_fusion_weight, far_table

MIN_IMPOSTORS_PER_FAR = 10
"""A FAR level is measured only when at least this many impostor pairs lie above its threshold."""


@dataclass
class FusionChoice:
    weight: float
    source: str  # how the weight was chosen
    scan: list[dict]


def split_parts(vectors: np.ndarray, first_dim: int) -> tuple[np.ndarray, np.ndarray]:
    from face_pipeline.embedding.fused import split

    return split(vectors, first_dim)


def all_pairs(count: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(count, k=1)


def choose_weight(vectors: np.ndarray, identities: np.ndarray, first_dim: int, calibrated: float) -> FusionChoice:
    """The weight with the best TAR at ``WEIGHT_FAR`` over every photo pair of these identities,
    or the calibrated one when they give too few impostor pairs to measure that FAR."""
    a, b = all_pairs(len(vectors))
    same = identities[a] == identities[b]
    if (~same).sum() * WEIGHT_FAR < MIN_IMPOSTORS_PER_FAR or same.sum() < 20:
        return FusionChoice(calibrated, f"calibrated (only {(~same).sum()} impostor pairs: too few to measure "
                                        f"FAR {WEIGHT_FAR:g})", [])
    facenet, sface = split_parts(vectors, first_dim)
    cos_facenet = (facenet @ facenet.T)[a, b]  # a Gram matrix, not N^2 pairs of vectors in memory
    cos_sface = (sface @ sface.T)[a, b]
    weight, scan = choose_fusion_weight(cos_facenet, cos_sface, same, far=WEIGHT_FAR)
    return FusionChoice(weight, f"best TAR at FAR {WEIGHT_FAR:g} over {len(same)} pairs of {len(set(identities))} "
                                f"training people", scan)


def impostor_scores(vectors: np.ndarray, identities: np.ndarray) -> np.ndarray:
    a, b = all_pairs(len(vectors))
    different = identities[a] != identities[b]
    return (vectors @ vectors.T)[a[different], b[different]].astype(np.float32)


def merged_far_table(impostors: np.ndarray, fallback: list[list[float]]) -> tuple[list[list[float]], str]:
    """The FAR table measured on ``impostors`` where it resolves the FAR, the calibrated
    ``fallback`` for the stricter levels it cannot (pass an empty fallback when the weight
    differs from the calibrated one: the two would not describe the same scores)."""
    own = [row for row in far_table(impostors) if row[0] * len(impostors) >= MIN_IMPOSTORS_PER_FAR]
    measured = {row[0] for row in own}
    borrowed = [row for row in fallback if row[0] not in measured and row[0] < min(measured, default=1.0)]
    source = f"{len(own)} levels measured on {len(impostors)} impostor pairs"
    if borrowed:
        source += f", {len(borrowed)} stricter levels from the pipeline's calibration"
    return sorted(own + borrowed, reverse=True), source
