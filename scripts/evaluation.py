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

The primary metric of each set is ``scripts.registry.GATE_METRICS``. A version trained on another
embedder than the pipeline's cannot be served (the API refuses it), so it cannot be evaluated
either and never wins. Embeddings and UTKFace crops are cached (``TRAINER_CACHE_DIR``), so judging
several versions costs one pass over the photos plus each model's predictions."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import registry as reg

SEED = 13
AGE_GENDER_PHOTOS = 300
LFW_PAIRS_PER_CLASS = 200
LFW_PAIRS_FILE = "pairsDevTest.txt"
CLEAR_WINNER_SE = 2.0
"""A difference counts only beyond this many standard errors of the paired difference."""


class EvaluationUnavailable(reg.RegistryError):
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
        raise reg.RegistryError(f"v{a.version} and v{b.version} were measured on different items")
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


def _seeded(items: list, count: int, salt: int = 0) -> list:
    if len(items) <= count:
        return list(items)
    rng = np.random.default_rng(SEED + salt)
    return [items[i] for i in sorted(rng.choice(len(items), count, replace=False))]


def lfw_fixed_pairs(lfw_dir: Path) -> list:
    """The fixed LFW pairs: a seeded, balanced subset of View 1 ``pairsDevTest.txt``."""
    from benchmarks.lfw_protocol import read_pairs

    path = Path(lfw_dir) / LFW_PAIRS_FILE
    if not path.is_file():
        raise EvaluationUnavailable(f"fixed evaluation set not found: {path} (set DATA_DIR)")
    pairs = read_pairs(path)
    same = _seeded([p for p in pairs if p.same], LFW_PAIRS_PER_CLASS)
    different = _seeded([p for p in pairs if not p.same], LFW_PAIRS_PER_CLASS, salt=1)
    return same + different


def utk_fixed_labels(utk_dir: Path) -> list:
    """The fixed UTKFace photos: a seeded subset of the fixed test split (files that exist)."""
    from training.age_gender import utk

    src, split = Path(utk_dir) / "crop_part1", Path(utk_dir) / "test_split.txt"
    if not split.is_file() or not src.is_dir():
        raise EvaluationUnavailable(f"fixed evaluation set not found: {split} and {src} (set DATA_DIR)")
    labels = [utk.parse_name(n) for n in sorted(utk.read_split_file(split))]
    labels = [label for label in labels if label is not None and (src / label.file).is_file()]
    return _seeded(labels, AGE_GENDER_PHOTOS)


def set_description(name: str) -> str:
    if name == "age-gender":
        return (f"fixed evaluation set: {AGE_GENDER_PHOTOS} photos of the UTKFace test split (seed {SEED}), "
                "every version re-evaluated on it")
    return (f"fixed evaluation set: {2 * LFW_PAIRS_PER_CLASS} LFW View 1 {LFW_PAIRS_FILE} pairs "
            f"({LFW_PAIRS_PER_CLASS} matched + {LFW_PAIRS_PER_CLASS} mismatched, seed {SEED}), "
            "every version re-evaluated on it")


def has_fixed_set(name: str) -> bool:
    return name in reg.GATE_METRICS


class Evaluator:
    """Evaluates registered versions on the fixed sets; builds each set's inputs once per process."""

    def __init__(self, pipeline=None, settings=None) -> None:
        from training.config import TrainerSettings

        self.settings = settings or TrainerSettings()
        self.data_dir = self.settings.resolved_data_dir()
        self._pipeline = pipeline
        self._age_pipeline = None
        self._pairs = None
        self._utk = None

    @property
    def pipeline(self):
        if self._pipeline is None:
            from face_pipeline import FacePipeline

            self._pipeline = FacePipeline()
        return self._pipeline

    def check_data(self, name: str) -> None:
        """Raise :class:`EvaluationUnavailable` when ``name``'s fixed set is missing here."""
        if name == "age-gender":
            utk_fixed_labels(self.data_dir / "utkface")
        elif has_fixed_set(name):
            lfw_fixed_pairs(self.data_dir / "lfw")

    # inputs ------------------------------------------------------------------------------------

    def lfw_inputs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(first embeddings, second embeddings, same) of the fixed pairs whose faces were found."""
        if self._pairs is None:
            from training.embedding_cache import EmbeddingCache

            images = self.data_dir / "lfw" / "images"
            pairs = lfw_fixed_pairs(self.data_dir / "lfw")
            paths = sorted({p.first for p in pairs} | {p.second for p in pairs})
            cache = EmbeddingCache(self.pipeline, self.settings.resolved_cache_dir())
            kept, vectors = cache.embed([images / p for p in paths], progress=False)
            by_path = dict(zip(kept, vectors))
            key = {p: str((images / p).resolve()) for p in paths}
            usable = [p for p in pairs if key[p.first] in by_path and key[p.second] in by_path]
            self._pairs = (np.stack([by_path[key[p.first]] for p in usable]).astype(np.float32),
                           np.stack([by_path[key[p.second]] for p in usable]).astype(np.float32),
                           np.array([p.same for p in usable], bool))
        return self._pairs

    def utk_inputs(self) -> tuple[list, dict[str, np.ndarray]]:
        """(labels, model inputs) of the fixed UTKFace photos, prepared as the age/gender trainer does."""
        if self._utk is None:
            from face_pipeline import FacePipeline, PipelineSettings
            from training.age_gender import prepare

            labels = utk_fixed_labels(self.data_dir / "utkface")
            if self._age_pipeline is None:  # the trainer's and benchmark's settings for UTKFace's tight crops
                self._age_pipeline = FacePipeline(PipelineSettings(min_face_size=60))
            src = self.data_dir / "utkface" / "crop_part1"
            cache = prepare.cache_folder(self.settings.resolved_cache_dir(), self._age_pipeline)
            files = [label.file for label in labels]
            prepare.add_features(self._age_pipeline, cache, files, progress=False)
            faces = prepare.prepare_files(self._age_pipeline, src, files, cache, progress=False)
            kept = [label for label in labels if label.file in faces]
            inputs = {"features": np.stack([faces[x.file].features for x in kept]).astype(np.float32),
                      "embedding": np.stack([faces[x.file].embedding for x in kept]).astype(np.float32),
                      "crop": np.stack([faces[x.file].crop for x in kept]).astype(np.uint8)}
            self._utk = (kept, inputs)
        return self._utk

    # versions ----------------------------------------------------------------------------------

    def _expected_embedder(self, name: str) -> str:
        embedder = self.pipeline.embedder
        return embedder.attribute_version if name == "age-gender" else embedder.full_version

    def evaluate(self, client, name: str, version: str | int) -> Evaluation:
        """``name`` v``version`` on its fixed set (a not-ok Evaluation when it cannot be served here)."""
        import mlflow.pyfunc

        metric, higher = reg.GATE_METRICS[name]
        result = Evaluation(name, str(version), metric, higher)
        reg.get_version(client, name, version)
        self.check_data(name)
        try:
            model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
        except Exception as exc:  # noqa: BLE001 - a version whose files are gone or broken cannot win
            result.problem = f"cannot load: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
            return result
        metadata = dict(getattr(model.metadata, "metadata", None) or {})
        trained_on, expected = metadata.get("embedder"), self._expected_embedder(name)
        if trained_on and trained_on != expected:
            result.problem = f"trained on embedder {trained_on}, the pipeline runs {expected}; the API refuses it"
            return result
        try:
            if name == "age-gender":
                self._score_age_gender(model, result)
            else:
                self._score_pairs(name, model, metadata, result)
        except Exception as exc:  # noqa: BLE001 - e.g. an input width the pipeline does not give
            result.problem = f"cannot predict: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
            result.value = None
        return result

    def _score_age_gender(self, model, result: Evaluation) -> None:
        from api.services.registry_models import select_inputs

        labels, inputs = self.utk_inputs()
        frame = model.predict(select_inputs(model, inputs, f"{result.name}:{result.version}"))
        errors = np.abs(frame["age"].to_numpy(np.float64) - np.array([x.age for x in labels], np.float64))
        genders = np.array([1 if str(g).lower() == "female" else 0 for g in frame["gender"]])
        correct = genders == np.array([x.gender for x in labels])
        result.value, result.se, result.n = float(errors.mean()), standard_error(errors), len(errors)
        result.per_item = errors
        result.extra = {"gender_acc": float(correct.mean()), "gender_acc_se": standard_error(correct)}

    def _score_pairs(self, name: str, model, metadata: dict, result: Evaluation) -> None:
        from sklearn.metrics import roc_auc_score

        from face_pipeline.calibrate import tar_at_far

        first, second, same = self.lfw_inputs()
        if name == "face-recognition":  # cosine in the projected space, as the gallery matches
            a, b = np.asarray(model.predict(first)), np.asarray(model.predict(second))
            scores = np.sum(a * b, axis=1)
        else:
            scores = np.asarray(model.predict(np.concatenate([first, second], axis=1))).ravel()
        threshold = float(metadata.get("threshold", 0.5))  # the API's default too
        correct = (scores >= threshold) == same
        result.value, result.se, result.n = float(correct.mean()), standard_error(correct), len(correct)
        result.per_item = correct.astype(np.float64)

        result.extra = {"threshold": threshold, "tar_at_far_1e-2": tar_at_far(scores, same, 1e-2),
                        "roc_auc": float(roc_auc_score(same, scores))}
