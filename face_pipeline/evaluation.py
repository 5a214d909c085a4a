"""Scoring verification: LFW's protocol, accuracy at a threshold, the metrics a run records.
Below the trainer, the registry's gate and the benchmarks, so all of them measure the same way;
the one accuracy threshold is :func:`face_pipeline.calibrate.best_accuracy_threshold`.

View 2 (``pairs.txt``): 10 folds of 300 matched and 300 mismatched pairs; each fold is scored
with the threshold that is best on the other nine. TAR at a given FAR is read off the ROC of
all 6,000 pairs pooled, as the reference figures in ``shared/reference/peers.md`` were."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .calibrate import best_accuracy_threshold, tar_at_far


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


def accuracy(scores: np.ndarray, labels: np.ndarray, threshold: float) -> float:
    return float(np.mean((np.asarray(scores) >= threshold) == np.asarray(labels).astype(bool)))


def evaluate(scores: np.ndarray, labels: np.ndarray, folds: np.ndarray) -> dict:
    """10-fold accuracy (threshold from the other folds), pooled TAR@FAR and AUC."""
    from sklearn.metrics import roc_auc_score

    labels = labels.astype(bool)
    fold_ids = sorted(set(folds.tolist()))
    fold_results = []
    for fold in fold_ids:
        train, test = folds != fold, folds == fold
        if len(fold_ids) == 1:
            train = test
        threshold = best_accuracy_threshold(scores[train], labels[train])
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
        "threshold_all_pairs": best_accuracy_threshold(scores, labels),
        "folds": fold_results,
    }


def calibrated_threshold(scores: np.ndarray, labels: np.ndarray, fallback: float) -> float:
    """:func:`best_accuracy_threshold` when both classes are present, else ``fallback`` (tiny data sets)."""
    labels = np.asarray(labels, bool)
    if labels.all() or not labels.any():
        return float(fallback)
    return best_accuracy_threshold(scores, labels)


def verification_metrics(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    """Accuracy, precision, recall, F1 at ``threshold`` and ROC AUC of the scores."""
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

    labels = np.asarray(labels, bool)
    predicted = np.asarray(scores) >= threshold
    metrics = {
        "accuracy": float(accuracy_score(labels, predicted)),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "f1": float(f1_score(labels, predicted, zero_division=0)),
    }
    metrics["roc_auc"] = float(roc_auc_score(labels, scores)) if len(set(labels.tolist())) == 2 else float("nan")
    return metrics
