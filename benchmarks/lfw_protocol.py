"""LFW's verification protocol, kept apart from any model so tests and the trainer can reuse it.

View 2 (``pairs.txt``): 10 folds of 300 matched and 300 mismatched pairs; each fold is scored
with the threshold that is best on the other nine. TAR at a given FAR is read off the ROC of
all 6,000 pairs pooled, as the reference figures in ``shared/reference/peers.md`` were."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from face_pipeline.calibrate import best_accuracy_threshold, tar_at_far


@dataclass(frozen=True)
class Pair:
    first: str  # image path relative to the images folder
    second: str
    same: bool
    fold: int


def image_path(name: str, index: int | str) -> str:
    return f"{name}/{name}_{int(index):04d}.jpg"


def read_pairs(path: Path) -> list[Pair]:
    """Parse ``pairs.txt`` (10 folds) or a View 1 file (one fold, header is just a count)."""
    lines = [line.split() for line in Path(path).read_text().splitlines() if line.strip()]
    header, rows = lines[0], lines[1:]
    folds, per_fold = (int(header[0]), int(header[1])) if len(header) == 2 else (1, int(header[0]))
    pairs = []
    for i, row in enumerate(rows):
        fold = min(i // (2 * per_fold), folds - 1)
        if len(row) == 3:
            pairs.append(Pair(image_path(row[0], row[1]), image_path(row[0], row[2]), True, fold))
        elif len(row) == 4:
            pairs.append(Pair(image_path(row[0], row[1]), image_path(row[2], row[3]), False, fold))
        else:
            raise ValueError(f"{path}: line {i + 2} is not a pair: {' '.join(row)}")
    return pairs


best_threshold = best_accuracy_threshold


def accuracy(scores: np.ndarray, labels: np.ndarray, threshold: float) -> float:
    return float(np.mean((scores >= threshold) == labels.astype(bool)))


def evaluate(scores: np.ndarray, labels: np.ndarray, folds: np.ndarray) -> dict:
    """10-fold accuracy (threshold from the other folds), pooled TAR@FAR and AUC."""
    labels = labels.astype(bool)
    fold_ids = sorted(set(folds.tolist()))
    fold_results = []
    for fold in fold_ids:
        train, test = folds != fold, folds == fold
        if len(fold_ids) == 1:
            train = test
        threshold = best_threshold(scores[train], labels[train])
        fold_results.append({"fold": int(fold), "threshold": threshold,
                             "accuracy": accuracy(scores[test], labels[test], threshold)})
    accuracies = np.array([f["accuracy"] for f in fold_results])
    return {
        "accuracy_mean": float(accuracies.mean()),
        "accuracy_std": float(accuracies.std()),
        "tar_at_far_1e-3": tar_at_far(scores, labels, 1e-3),
        "tar_at_far_1e-2": tar_at_far(scores, labels, 1e-2),
        "tar_at_far_1e-4": tar_at_far(scores, labels, 1e-4),
        "roc_auc": float(roc_auc_score(labels, scores)),
        "threshold_all_pairs": best_threshold(scores, labels),
        "folds": fold_results,
    }
