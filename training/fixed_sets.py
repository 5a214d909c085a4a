"""The evaluator the promotion gate runs: registered versions measured on the fixed evaluation
sets of ``model_registry.fixed_sets`` with the pipeline the API serves with. It lives with the
trainer because building the sets' inputs is the trainer's data preparation (the embedding cache,
UTKFace's crops and features); embeddings and crops are cached (``TRAINER_CACHE_DIR``), so judging
several versions costs one pass over the photos plus each model's predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model_registry.fixed_sets import (
    AGE_GENDER_PHOTOS,
    Evaluation,
    EvaluationUnavailable,
    has_fixed_set,
    lfw_fixed_pairs,
    seeded,
    standard_error,
)
from model_registry.inputs import select_inputs
from model_registry.names import AGE_GENDER, GATE_METRICS
from model_registry.registry import get_version, load_version

from .age_gender import prepare, utk
from .config import TrainerSettings
from .embedding_cache import EmbeddingCache


def utk_fixed_labels(utk_dir: Path) -> list:
    """The fixed UTKFace photos: a seeded subset of the fixed test split (files that exist)."""
    src, split = Path(utk_dir) / "crop_part1", Path(utk_dir) / "test_split.txt"
    if not split.is_file() or not src.is_dir():
        raise EvaluationUnavailable(f"fixed evaluation set not found: {split} and {src} (set DATA_DIR)")
    labels = [utk.parse_name(n) for n in sorted(utk.read_split_file(split))]
    labels = [label for label in labels if label is not None and (src / label.file).is_file()]
    return seeded(labels, AGE_GENDER_PHOTOS)


class Evaluator:
    """Evaluates registered versions on the fixed sets; builds each set's inputs once per process."""

    def __init__(self, pipeline=None, settings=None) -> None:
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
        if name == AGE_GENDER:
            utk_fixed_labels(self.data_dir / "utkface")
        elif has_fixed_set(name):
            lfw_fixed_pairs(self.data_dir / "lfw")

    # inputs ------------------------------------------------------------------------------------

    def lfw_inputs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(first embeddings, second embeddings, same) of the fixed pairs whose faces were found."""
        if self._pairs is None:
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
        return embedder.attribute_version if name == AGE_GENDER else embedder.full_version

    def evaluate(self, client, name: str, version: str | int) -> Evaluation:
        """``name`` v``version`` on its fixed set (a not-ok Evaluation when it cannot be served here)."""
        metric, higher = GATE_METRICS[name]
        result = Evaluation(name, str(version), metric, higher)
        get_version(client, name, version)
        self.check_data(name)
        try:
            model = load_version(client, name, version)
        except Exception as exc:  # noqa: BLE001 - a version whose files are gone or broken cannot win
            result.problem = f"cannot load: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
            return result
        metadata = dict(getattr(model.metadata, "metadata", None) or {})
        trained_on, expected = metadata.get("embedder"), self._expected_embedder(name)
        if trained_on and trained_on != expected:
            result.problem = f"trained on embedder {trained_on}, the pipeline runs {expected}; the API refuses it"
            return result
        try:
            if name == AGE_GENDER:
                self._score_age_gender(model, result)
            else:
                self._score_pairs(name, model, metadata, result)
        except Exception as exc:  # noqa: BLE001 - e.g. an input width the pipeline does not give
            result.problem = f"cannot predict: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
            result.value = None
        return result

    def _score_age_gender(self, model, result: Evaluation) -> None:
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
