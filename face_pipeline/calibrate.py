"""Choosing the numbers a recognition core runs on from scored pairs: the fusion weight, the 1:1
threshold and the 1:N (open-set) thresholds. Plain numpy and scikit-learn, below the trainer and
the benchmarks so both use the same rules.

Open-set identification asks "is this anyone in a gallery of P people?". A stranger is named as
someone when ANY of the P comparisons passes, so at a per-comparison false-accept rate f about
``1 - (1 - f)^P ~ P * f`` of strangers get a name. :func:`far_table` records the threshold for a
ladder of per-comparison FARs, measured on impostor pairs of identities the networks were not
trained on; :func:`identify_threshold` reads off the one that holds a target stranger rate for
the gallery's current size."""

from __future__ import annotations

import numpy as np

WEIGHT_FAR = 1e-4
"""The false-accept rate the fusion weight is chosen at: strict, as open-set identification needs."""
FAR_LADDER = (1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6)


def threshold_at_far(impostor_scores: np.ndarray, far: float) -> float:
    """The lowest threshold at which at most ``far`` of ``impostor_scores`` are accepted
    (``score >= threshold``)."""
    scores = np.sort(np.asarray(impostor_scores, np.float64))[::-1]
    allowed = int(np.floor(far * len(scores)))
    if allowed >= len(scores):
        return float(scores[-1])
    return float(np.nextafter(scores[allowed], np.inf))


def tar_at_far(scores: np.ndarray, labels: np.ndarray, far: float) -> float:
    """True-accept rate at the largest false-accept rate not above ``far``."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(np.asarray(labels, bool), scores)
    return float(tpr[np.searchsorted(fpr, far, side="right") - 1])


def best_accuracy_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The similarity threshold with the highest accuracy (midpoint between neighbouring scores)."""
    order = np.argsort(scores)
    sorted_scores, sorted_labels = np.asarray(scores)[order], np.asarray(labels)[order].astype(np.int64)
    negatives_below = np.concatenate([[0], np.cumsum(1 - sorted_labels)])
    positives_above = sorted_labels.sum() - np.concatenate([[0], np.cumsum(sorted_labels)])
    best = int(np.argmax(negatives_below + positives_above))
    if best == 0:
        return float(sorted_scores[0] - 1e-6)
    if best == len(sorted_scores):
        return float(sorted_scores[-1] + 1e-6)
    return float((sorted_scores[best - 1] + sorted_scores[best]) / 2)


def choose_fusion_weight(first: np.ndarray, second: np.ndarray, labels: np.ndarray, far: float = 1e-3,
                         grid: np.ndarray | None = None) -> tuple[float, list[dict]]:
    """The weight ``w`` of ``w * first + (1 - w) * second`` (two networks' cosines of the same
    pairs) with the highest TAR at ``far``; accuracy breaks ties. Returns it and the whole scan."""
    grid = np.round(np.arange(0.05, 0.951, 0.05), 2) if grid is None else np.asarray(grid)
    labels = np.asarray(labels, bool)
    scan = []
    for weight in grid:
        scores = weight * first + (1.0 - weight) * second
        threshold = best_accuracy_threshold(scores, labels)
        scan.append({"weight": float(weight), "tar": tar_at_far(scores, labels, far),
                     "accuracy": float(np.mean((scores >= threshold) == labels))})
    best = max(scan, key=lambda row: (round(row["tar"], 6), row["accuracy"]))
    return best["weight"], scan


def far_table(impostor_scores: np.ndarray, ladder: tuple[float, ...] = FAR_LADDER) -> list[list[float]]:
    """``[[far, threshold], ...]`` for the FARs the impostor sample can resolve (at least ten
    impostors above each threshold would be ideal; one is the hard floor)."""
    count = len(impostor_scores)
    return [[far, round(threshold_at_far(impostor_scores, far), 6)] for far in ladder if far * count >= 1]


def identify_threshold(table: list[list[float]], gallery_size: int, stranger_rate: float) -> float:
    """The threshold a best match must reach so that at most about ``stranger_rate`` of strangers
    are named as one of ``gallery_size`` people: the table's entry for the per-comparison FAR
    ``stranger_rate / gallery_size`` (log-interpolated; the strictest entry beyond its end)."""
    if not table:
        raise ValueError("no FAR table")
    fars = np.log10([row[0] for row in table])
    thresholds = np.array([row[1] for row in table])
    wanted = np.log10(max(stranger_rate / max(int(gallery_size), 1), 1e-12))
    order = np.argsort(fars)
    return float(np.interp(wanted, fars[order], thresholds[order]))
