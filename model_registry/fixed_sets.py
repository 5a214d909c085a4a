"""The fixed evaluation sets the promotion gate judges versions on, and the noise-aware comparison.

Why: each training run measures itself on its own split (another seed, other people, another
size), so two versions' logged metrics are not comparable. The gate re-evaluates every version it
judges on the SAME fixed photos, with the same pipeline the API serves with, and only calls a
winner when the difference is larger than the set's noise (twice the standard error of the paired
difference: both versions see the same items, so per-item differences are what varies).

* ``age-gender``: a seeded subset (:data:`AGE_GENDER_PHOTOS`) of UTKFace's fixed ``test_split.txt``;
  age MAE (lower is better), gender accuracy reported beside it.
* ``face-recognition`` / ``face-verifier``: a seeded, balanced subset (:data:`LFW_PAIRS_PER_CLASS`
  matched + as many mismatched) of LFW View 1 ``pairsDevTest.txt``; accuracy of the version's own
  decision (its metadata threshold), i.e. what the API would answer. TAR at FAR 1e-2 and ROC AUC
  are reported beside it.

The primary metric of each set is ``model_registry.names.GATE_METRICS``. A version trained on another
embedder than the pipeline's cannot be served (the API refuses it), so it cannot be evaluated
either and never wins.

This module defines the sets and the comparison; building the sets' inputs needs the trainer's
data preparation, so the evaluator that runs versions on them is ``training.fixed_sets.Evaluator``
(any object with the :class:`SetEvaluator` methods will do for the gate)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from face_pipeline.evaluation import read_pairs

from .errors import RegistryError
from .names import AGE_GENDER, GATE_METRICS

SEED = 13
AGE_GENDER_PHOTOS = 300
LFW_PAIRS_PER_CLASS = 200
LFW_PAIRS_FILE = "pairsDevTest.txt"
CLEAR_WINNER_SE = 2.0
"""A difference counts only beyond this many standard errors of the paired difference."""


class EvaluationUnavailable(RegistryError):
    """The fixed set cannot be built here (no data under DATA_DIR): a one-line error for CLIs."""


@dataclass
class Evaluation:
    """One version measured on a fixed set; ``per_item`` is what the comparison pairs up."""

    name: str
    version: str
    metric: str
    higher_is_better: bool
    value: float | None = None
    se: float | None = None
    n: int = 0
    per_item: np.ndarray | None = None
    extra: dict[str, float] = field(default_factory=dict)
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None and self.problem is None

    def describe(self) -> str:
        if not self.ok:
            return f"v{self.version}: not evaluated ({self.problem})"
        extra = "".join(f", {k}={v:.4f}" for k, v in self.extra.items())
        return f"v{self.version}: {self.metric}={self.value:.4f} ± {self.se:.4f} (n={self.n}{extra})"


@dataclass
class Comparison:
    winner: Evaluation | None  # None: no clear winner
    difference: float  # a - b
    se: float
    text: str


def standard_error(values: np.ndarray) -> float:
    values = np.asarray(values, np.float64)
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0


def compare(a: Evaluation, b: Evaluation) -> Comparison:
    """Which of two versions is better on the fixed set, or no clear winner (within the noise)."""
    if not (a.ok and b.ok):
        bad = a if not a.ok else b
        good = b if not a.ok else a
        winner = good if good.ok else None
        return Comparison(winner, float("nan"), float("nan"),
                          f"v{bad.version} cannot be evaluated ({bad.problem})"
                          + (f": v{good.version} wins by default" if winner else ""))
    if len(a.per_item) != len(b.per_item):  # same pipeline and photos: cannot happen unless the data changed
        raise RegistryError(f"v{a.version} and v{b.version} were measured on different items")
    diff = a.per_item.astype(np.float64) - b.per_item.astype(np.float64)
    difference, se = float(diff.mean()), standard_error(diff)
    margin = CLEAR_WINNER_SE * se
    summary = (f"difference {difference:+.4f} ± {se:.4f} (paired standard error; "
               f"a clear winner needs more than {CLEAR_WINNER_SE:g} SE = {margin:.4f})")
    if difference == 0 or abs(difference) <= margin:
        return Comparison(None, difference, se, f"no clear winner: {summary}")
    better_a = difference > 0 if a.higher_is_better else difference < 0
    winner = a if better_a else b
    return Comparison(winner, difference, se, f"v{winner.version} is better: {summary}")


# --- the fixed sets ---------------------------------------------------------------------------


def seeded(items: list, count: int, salt: int = 0) -> list:
    if len(items) <= count:
        return list(items)
    rng = np.random.default_rng(SEED + salt)
    return [items[i] for i in sorted(rng.choice(len(items), count, replace=False))]


def lfw_fixed_pairs(lfw_dir: Path) -> list:
    """The fixed LFW pairs: a seeded, balanced subset of View 1 ``pairsDevTest.txt``."""
    path = Path(lfw_dir) / LFW_PAIRS_FILE
    if not path.is_file():
        raise EvaluationUnavailable(f"fixed evaluation set not found: {path} (set DATA_DIR)")
    pairs = read_pairs(path)
    same = seeded([p for p in pairs if p.same], LFW_PAIRS_PER_CLASS)
    different = seeded([p for p in pairs if not p.same], LFW_PAIRS_PER_CLASS, salt=1)
    return same + different


def set_description(name: str) -> str:
    if name == AGE_GENDER:
        return (f"fixed evaluation set: {AGE_GENDER_PHOTOS} photos of the UTKFace test split (seed {SEED}), "
                "every version re-evaluated on it")
    return (f"fixed evaluation set: {2 * LFW_PAIRS_PER_CLASS} LFW View 1 {LFW_PAIRS_FILE} pairs "
            f"({LFW_PAIRS_PER_CLASS} matched + {LFW_PAIRS_PER_CLASS} mismatched, seed {SEED}), "
            "every version re-evaluated on it")


def has_fixed_set(name: str) -> bool:
    return name in GATE_METRICS


class SetEvaluator(Protocol):
    """What the gate needs of an evaluator: whether a model's set is here, and one version measured on it."""

    def check_data(self, name: str) -> None:
        """Raise :class:`EvaluationUnavailable` when ``name``'s fixed set is missing here."""

    def evaluate(self, client, name: str, version: str | int) -> Evaluation:
        """``name`` v``version`` on its fixed set (a not-ok Evaluation when it cannot be served here)."""
