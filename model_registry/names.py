"""The registered models' names and the metrics each is judged by: the one list the API, the
trainers, the registry chores and the benchmarks read, so a name is never spelled twice."""

from __future__ import annotations

import re
import unicodedata

AGE_GENDER = "age-gender"
RECOGNITION = "face-recognition"
VERIFIER = "face-verifier"
PERSON_PREFIX = "verifier-"
"""``verifier-<slug>``: one personal verifier per person (:func:`person_model_name`)."""
MODEL_NAMES = (AGE_GENDER, RECOGNITION, VERIFIER)
"""The shared models (bootstrapped from ``models/baseline/``), besides the personal verifiers."""

PRODUCTION = "production"
PREVIOUS = "previous"
HISTORY_TAG = "production_history"
HISTORY_LIMIT = 100

PRIMARY_METRICS: dict[str, list[tuple[str, bool]]] = {
    # model name (or prefix ending in "-") -> candidate metrics, first one both versions have wins;
    # bool: higher is better.
    AGE_GENDER: [("test_age_mae", False), ("val_age_mae", False), ("test_gender_acc", True)],
    RECOGNITION: [("lfw_accuracy_mean", True), ("test_roc_auc", True)],
    VERIFIER: [("test_roc_auc", True), ("test_accuracy", True)],
    PERSON_PREFIX: [("test_f1", True), ("test_roc_auc", True)],
}
GATE_METRICS: dict[str, tuple[str, bool]] = {
    # model name -> (metric on its fixed evaluation set, higher is better): the one rule the gate
    # (deploy, bootstrap, compare) promotes by. The sets themselves are model_registry.fixed_sets.
    AGE_GENDER: ("fixed_age_mae", False),
    RECOGNITION: ("fixed_pair_accuracy", True),
    VERIFIER: ("fixed_pair_accuracy", True),
}
HEADLINE_METRICS = ("test_age_mae", "test_gender_acc", "lfw_accuracy_mean", "test_roc_auc", "test_accuracy",
                    "test_f1", "threshold")


def slugify(name: str) -> str:
    """Person name -> the slug used in ``verifier-<slug>`` (lower case ASCII letters, digits,
    dashes); a ValueError when nothing of the name is left."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    if not slug:
        raise ValueError(f"person name {name!r} has no letters or digits")
    return slug


def person_model_name(name: str) -> str:
    """The registered name of ``name``'s personal verifier (ValueError: no letters or digits)."""
    return f"{PERSON_PREFIX}{slugify(name)}"


def is_served_name(name: str) -> bool:
    """Whether the API serves a registered model of this name."""
    return name in MODEL_NAMES or name.startswith(PERSON_PREFIX)


def primary_metric_candidates(name: str) -> list[tuple[str, bool]]:
    """The run metrics ``name`` is compared by, best first (``test_accuracy`` for unknown names)."""
    if name in PRIMARY_METRICS:
        return PRIMARY_METRICS[name]
    for key, candidates in PRIMARY_METRICS.items():
        if key.endswith("-") and name.startswith(key):
            return candidates
    return [("test_accuracy", True)]


def primary_metric(name: str, metrics: dict[str, float]) -> tuple[str, bool, float] | None:
    """(metric, higher is better, value) of the first candidate present in ``metrics``."""
    for metric, higher in primary_metric_candidates(name):
        if metric in metrics:
            return metric, higher, float(metrics[metric])
    return None


def is_better(value: float, than: float, higher_is_better: bool) -> bool:
    return value > than if higher_is_better else value < than
