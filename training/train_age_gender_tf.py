"""Age and gender trainer: ``python -m training.train_age_gender_tf``.

Reads the UTKFace manifest made by ``scripts.prepare_utk_face`` (or prepares the photos itself,
from the cache), trains each design in ``--designs`` on the train split with early stopping on the
validation split, keeps the design with the best validation score (age MAE / 5.5 years + gender
error / 10 %: both targets weigh the same), reports it on the test split (the fixed
``test_split.txt``, never used for training or choosing) and logs everything to MLflow: a parent
run with the dataset, git commit, the winner's test metrics, plots and the pyfunc model
(registered as ``age-gender``, never promoted here) and one nested run per design with its
parameters, per-epoch metrics and validation metrics.

With ``--aaf DIR`` the All-Age-Faces photos join in (:mod:`training.age_gender.aaf`): its train part
trains beside UTKFace's, its committed validation part validates beside UTKFace's (early stopping
on both; the design is chosen on the mean of the two sets' selection scores, so neither domain
dominates by size), and the test split stays UTKFace's fixed one, never used for any choice."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from model_registry.names import AGE_GENDER

from .age_gender import aaf, models, prepare, utk
from .age_gender import metrics as agm
from .config import TrainerSettings

log = logging.getLogger(__name__)
AAF_VAL_LIST = aaf.VAL_LIST  # the class below has a field named aaf
MODEL_NAME = AGE_GENDER
EXPERIMENT = "age-gender"
TARGET_AGE_MAE = 5.5
TARGET_GENDER_ERROR = 0.10


def selection_score(val: dict) -> float:
    """Lower is better: each target's share, so an age MAE at target and a gender error at target both count 1."""
    return val["age_mae"] / TARGET_AGE_MAE + (1.0 - val["gender_acc"]) / TARGET_GENDER_ERROR


def domain_scores(per_domain: dict[str, dict]) -> float:
    """The selection score over several validation sets: the mean of each set's
    :func:`selection_score`, so a small second domain weighs as much as UTKFace."""
    return float(np.mean([selection_score(val) for val in per_domain.values()]))


def _mlflow_epoch_callback(prefix: str = ""):
    import keras
    import mlflow

    class MlflowEpochLogger(keras.callbacks.Callback):
        """Per-epoch Keras metrics into the active MLflow run (step = epoch)."""

        def on_epoch_end(self, epoch, logs=None):
            values = {f"{prefix}{k}": float(v) for k, v in (logs or {}).items() if np.isfinite(v)}
            if values:
                mlflow.log_metrics(values, step=epoch)

    return MlflowEpochLogger()


def _inputs(arrays: dict, design: str, index: np.ndarray) -> dict:
    return {name: arrays[name][index] for name in models.design_inputs(design)}


def predict(model, arrays: dict, design: str, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out = model.predict(_inputs(arrays, design, index), verbose=0, batch_size=256)
    return np.asarray(out["age"]).reshape(-1), np.asarray(out["gender"]).reshape(-1)


def evaluate(model, arrays: dict, design: str, index: np.ndarray) -> tuple[dict, np.ndarray, np.ndarray]:
    age, p_female = predict(model, arrays, design, index)
    pred_gender = (p_female >= 0.5).astype(int)
    return (agm.all_metrics(arrays["age"][index], arrays["gender"][index], age, pred_gender), age, pred_gender)


def evaluate_domains(model, arrays: dict, design: str, val_idx: np.ndarray) -> dict[str, dict]:
    """Validation metrics per data set (``arrays["domain"]``): ``{"utkface": {...}, "aaf": {...}}``."""
    domains = arrays["domain"][val_idx]
    return {name: evaluate(model, arrays, design, val_idx[domains == name])[0]
            for name in dict.fromkeys(domains.tolist())}


def members_of(design: str, args) -> int:
    """How many seeds a design is trained with: ``--members`` for the designs without pixels (tens
    of seconds each), ``--cnn-members`` for those with (many minutes each)."""
    return max(1, args.cnn_members if "crop" in models.design_inputs(design) else args.members)


def design_stats(design: str, arrays: dict, train_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The training photos' feature statistics a ``features`` design standardises with (None for others)."""
    if "features" not in models.design_inputs(design):
        return None
    return models.feature_stats(arrays["embedding"][train_idx], arrays["features"][train_idx])


def sample_weights(ages: np.ndarray, child_weight: float, domains: np.ndarray | None = None,
                   aaf_age_weight: float = 1.0) -> dict[str, np.ndarray] | None:
    """Per-photo loss weights: children's (0-12) gender loss counts ``child_weight`` times, since a
    child's sex is the hardest call and children are the group that misses the target; AAF photos'
    age loss counts ``aaf_age_weight`` times (the two sets label age differently; 0.5 and 0.25 were
    tried and did not bring UTKFace's children's age error back, see docs/training.md). None when
    both are 1."""
    if child_weight == 1.0 and aaf_age_weight == 1.0:
        return None
    child = np.asarray(ages) < agm.ADULT_MIN_AGE
    from_aaf = np.zeros(len(ages), bool) if domains is None else np.asarray(domains) == "aaf"
    return {"age": np.where(from_aaf, aaf_age_weight, 1.0).astype(np.float32),
            "gender": np.where(child, child_weight, 1.0).astype(np.float32)}


def fit_member(design: str, arrays: dict, train_idx: np.ndarray, val_idx: np.ndarray, args, *, seed: int,
               stats: tuple[np.ndarray, np.ndarray] | None, verbose: int = 0, callbacks: tuple = ()):
    """One seed of one design, early-stopped on the validation loss (best weights restored);
    returns (model, history)."""
    import keras

    keras.utils.set_random_seed(seed)
    feature_dim = arrays["features"].shape[1] if stats is not None else 0
    model = models.build(design, pixel_size=args.pixel_size, learning_rate=args.learning_rate,
                         feature_dim=feature_dim, stats=stats)
    epochs = args.cnn_epochs if "crop" in models.design_inputs(design) else args.epochs
    targets = {"age": arrays["age"].reshape(-1, 1), "gender": arrays["gender"].reshape(-1, 1)}
    history = model.fit(
        _inputs(arrays, design, train_idx), {k: v[train_idx] for k, v in targets.items()},
        sample_weight=sample_weights(arrays["age"][train_idx], args.child_weight,
                                     arrays["domain"][train_idx] if "domain" in arrays else None,
                                     args.aaf_age_weight),
        validation_data=(_inputs(arrays, design, val_idx), {k: v[val_idx] for k, v in targets.items()}),
        epochs=epochs, batch_size=args.batch_size, verbose=verbose, shuffle=True, callbacks=[
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=args.patience, restore_best_weights=True),
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=max(2, args.patience // 2)),
            *callbacks])
    return model, history.history


def fit_design(design: str, arrays: dict, train_idx: np.ndarray, val_idx: np.ndarray, args, verbose: int):
    """Train one design as an ensemble of :func:`members_of` seeds (:func:`fit_member` each);
    returns (model, first member's history, seconds)."""
    stats = design_stats(design, arrays, train_idx)
    members, first_history = [], {}
    start = time.monotonic()
    for member in range(members_of(design, args)):
        # per-epoch metrics, apart from the final val_* metrics of the restored best weights; members
        # after the first get their own names so the curves do not overwrite each other
        logger = _mlflow_epoch_callback("epoch_" if member == 0 else f"epoch_m{member}_")
        model, history = fit_member(design, arrays, train_idx, val_idx, args, seed=args.seed + member, stats=stats,
                                    verbose=verbose, callbacks=(logger,))
        members.append(model)
        first_history = first_history or history
    return models.ensemble(members, design), first_history, time.monotonic() - start


def default_pipeline():
    """The pipeline as ``scripts.prepare_utk_face`` runs it (UTKFace faces fill the photo)."""
    from face_pipeline import FacePipeline, PipelineSettings

    return FacePipeline(PipelineSettings(min_face_size=60))


def _manifest_rows(args, pipeline, settings: TrainerSettings) -> tuple[list[dict], Path, Path]:
    """(rows, source folder, cache folder): the given manifest, or prepare the source (cached)."""
    src = Path(args.src)
    if args.manifest:
        rows = prepare.read_manifest(args.manifest)
        return rows, src, prepare.cache_folder(settings.resolved_cache_dir(), pipeline)
    test_split = None if args.no_test_split else utk.default_test_split(src)
    out = Path(tempfile.mkdtemp(prefix="utk-manifest-"))
    summary = prepare.prepare(pipeline, src, out, settings.resolved_cache_dir(), test_split=test_split,
                              seed=args.seed, limit=args.limit, progress=args.verbose > 0)
    log.info("prepared: %s", json.dumps({k: summary[k] for k in ("images", "malformed_skipped", "splits",
                                                                 "detect_status")}))
    return prepare.read_manifest(summary["manifest"]), src, Path(summary["cache"])


def concat_arrays(parts: list[dict[str, np.ndarray]], names: list[str]) -> dict[str, np.ndarray]:
    """Arrays of several data sets end to end, with ``domain`` saying which set each photo is from."""
    out = {}
    for key in parts[0]:
        values = [part[key] for part in parts]
        out[key] = None if any(v is None for v in values) else np.concatenate(values)
    out["domain"] = np.concatenate([np.full(len(part["age"]), name) for part, name in zip(parts, names)])
    return out


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1, or a one-line usage error."""
    value = int(text) if text.strip().isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


@dataclass(frozen=True)
class AgeGenderConfig:
    """One training run's settings: code builds one and calls :func:`run` (``smoke``, ``bootstrap``);
    the command line is parsed into one by :func:`parse_args` (whose defaults are these)."""

    src: Path | None = None  # UTKFace folder (None: DATA_DIR/utkface/crop_part1)
    manifest: Path | None = None
    limit: int | None = None
    no_test_split: bool = False
    aaf: Path | None = None  # All-Age-Faces folder: its train part trains, its validation part validates
    aaf_age_weight: float = 1.0
    aaf_val: Path = AAF_VAL_LIST
    designs: str = "embedding,features,features_cnn"
    epochs: int = 150
    cnn_epochs: int = 30
    members: int = 5
    cnn_members: int = 1
    patience: int = 8
    child_weight: float = 1.0
    batch_size: int = 64
    learning_rate: float = 1e-3
    pixel_size: int = 64
    seed: int | None = None  # None: TRAINER_SEED
    no_register: bool = False
    save_baseline: Path | None = None
    verbose: int = 2

    def resolved(self, settings: TrainerSettings) -> AgeGenderConfig:
        """The config with the settings' defaults filled in (source folder, seed)."""
        src = Path(self.src) if self.src else settings.resolved_data_dir() / "utkface" / "crop_part1"
        return replace(self, src=src, seed=settings.seed if self.seed is None else self.seed)


def parse_args(argv: list[str] | None = None) -> AgeGenderConfig:
    settings = TrainerSettings()
    d = AgeGenderConfig().resolved(settings)
    parser = argparse.ArgumentParser(prog="python -m training.train_age_gender_tf", description=__doc__.split("\n")[0])
    parser.add_argument("--src", type=Path, default=d.src,
                        help="UTKFace folder (default DATA_DIR/utkface/crop_part1)")
    parser.add_argument("--manifest", type=Path, default=None,
                        help="manifest.csv from scripts.prepare_utk_face (default: prepare --src, cached)")
    parser.add_argument("--limit", type=int, default=None, help="use only N photos (small runs; N of AAF too)")
    parser.add_argument("--aaf", type=Path, default=None,
                        help="also train on All-Age-Faces (folder with labels.csv and images/, e.g. DATA_DIR/aaf): "
                             "its train part trains, its validation part validates beside UTKFace's")
    parser.add_argument("--aaf-age-weight", type=float, default=d.aaf_age_weight,
                        help="weight of the AAF photos' age loss in training (1 = as UTKFace's)")
    parser.add_argument("--aaf-val", type=Path, default=d.aaf_val,
                        help="AAF validation list (default training/datasets/aaf_val.txt)")
    parser.add_argument("--no-test-split", action="store_true", help="ignore test_split.txt, draw a seeded one")
    parser.add_argument("--designs", default=d.designs,
                        help=f"comma-separated designs to compare ({', '.join(models.DESIGNS)})")
    parser.add_argument("--epochs", type=int, default=d.epochs,
                        help="max epochs of the designs without pixels (embedding, features)")
    parser.add_argument("--cnn-epochs", type=int, default=d.cnn_epochs,
                        help="max epochs of the designs with pixels (cnn, combined, features_cnn)")
    parser.add_argument("--members", type=positive_int, default=d.members,
                        help="seeds averaged per design without pixels (embedding, features)")
    parser.add_argument("--cnn-members", type=positive_int, default=d.cnn_members,
                        help="seeds averaged per design with pixels (each costs many minutes on a CPU)")
    parser.add_argument("--patience", type=int, default=d.patience, help="early stopping patience (epochs)")
    parser.add_argument("--child-weight", type=float, default=d.child_weight,
                        help="weight of children's (0-12) gender loss in training (class balance; 1 = none)")
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--learning-rate", type=float, default=d.learning_rate)
    parser.add_argument("--pixel-size", type=int, default=d.pixel_size, help="crop side the pixel designs see")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--no-register", action="store_true", help="log the model without registering it")
    parser.add_argument("--save-baseline", type=Path, default=None,
                        help="also save the winning model as an MLflow model folder (e.g. models/baseline/age-gender)")
    parser.add_argument("--verbose", type=int, default=d.verbose, help="Keras verbosity (2: one line per epoch)")
    return AgeGenderConfig(**vars(parser.parse_args(argv)))


def run(args: AgeGenderConfig, pipeline=None, settings: TrainerSettings | None = None) -> dict:
    """The whole training run; returns run id, version, winner and metrics."""
    import mlflow

    from .tracking import (
        configure_mlflow,
        dataset_info,
        ensure_experiment,
        log_dataset_info,
        log_git_commit,
        register_model_version,
    )

    settings = settings or TrainerSettings()
    args = args.resolved(settings)
    designs = [d.strip() for d in args.designs.split(",") if d.strip()]
    for design in designs:
        if design not in models.DESIGNS:
            raise ValueError(f"unknown design {design!r} (choose from {', '.join(models.DESIGNS)})")
    pipeline = pipeline or default_pipeline()
    rows, src, cache = _manifest_rows(args, pipeline, settings)
    aaf_rows, aaf_cache = [], None
    if args.aaf is not None:
        aaf_rows, aaf_cache, aaf_summary = aaf.prepare(pipeline, args.aaf, settings.resolved_cache_dir(), args.aaf_val,
                                                       limit=args.limit, progress=args.verbose > 0)
        log.info("AAF: %s", json.dumps({k: aaf_summary[k] for k in ("images", "splits", "detect_status")}))
    split = np.array([row["split"] for row in rows + aaf_rows])
    train_idx, val_idx, test_idx = (np.flatnonzero(split == s) for s in ("train", "val", "test"))
    if len(train_idx) == 0 or len(val_idx) == 0 or len(test_idx) == 0:
        raise ValueError(f"need train, val and test photos, got {len(train_idx)}/{len(val_idx)}/{len(test_idx)}")
    needs_pixels = any("crop" in models.design_inputs(d) for d in designs)
    needs_features = any("features" in models.design_inputs(d) for d in designs)
    if needs_features:
        prepare.add_features(pipeline, cache, [row["file"] for row in rows], progress=args.verbose > 0)
    pixel_size = args.pixel_size if needs_pixels else None
    parts = [prepare.load_arrays(rows, cache, pixel_size=pixel_size, features=needs_features)]
    if aaf_rows:
        prepare.add_features(pipeline, aaf_cache, [row["file"] for row in aaf_rows], progress=args.verbose > 0)
        parts.append(prepare.load_arrays(aaf_rows, aaf_cache, pixel_size=pixel_size, features=needs_features))
    arrays = concat_arrays(parts, ["utkface", "aaf"][: len(parts)])
    crops160 = prepare.load_arrays(rows[:2], cache, pixel_size=160, features=needs_features)

    configure_mlflow(settings)
    ensure_experiment(EXPERIMENT, settings)
    results: dict[str, dict] = {}
    with mlflow.start_run(run_name="age-gender") as parent:
        mlflow.set_tags({"model_name": MODEL_NAME, "designs": ",".join(designs)})
        log_git_commit()
        log_dataset_info(dataset_info(src, [row["file"] for row in rows]))
        if aaf_rows:
            log_dataset_info(dataset_info(aaf.images_dir(args.aaf), [row["file"] for row in aaf_rows]), prefix="aaf")
            mlflow.log_params({"aaf_val_list": Path(args.aaf_val).name,
                               "n_train_aaf": sum(row["split"] == "train" for row in aaf_rows),
                               "n_val_aaf": sum(row["split"] == "val" for row in aaf_rows),
                               "selection": "mean of the UTKFace and AAF validation selection scores"})
        mlflow.log_params({"designs": ",".join(designs), "n_train": len(train_idx), "n_val": len(val_idx),
                           "n_test": len(test_idx), "epochs": args.epochs, "cnn_epochs": args.cnn_epochs,
                           "patience": args.patience, "members": args.members, "child_weight": args.child_weight,
                           "aaf_age_weight": args.aaf_age_weight,
                           "cnn_members": args.cnn_members, "batch_size": args.batch_size,
                           "learning_rate": args.learning_rate, "pixel_size": args.pixel_size, "seed": args.seed,
                           "limit": args.limit, "adult_min_age": agm.ADULT_MIN_AGE,
                           "test_split": "fixed test_split.txt" if not args.no_test_split and
                           utk.default_test_split(src) else "seeded"})
        trained = {}
        for design in designs:
            with mlflow.start_run(run_name=f"design {design}", nested=True) as child:
                mlflow.set_tag("design", design)
                mlflow.log_params({"design": design, "inputs": ",".join(models.design_inputs(design)),
                                   "members": members_of(design, args),
                                   "age_head": f"softmax over 0..{models.AGE_BINS - 1} + expectation, MAE loss",
                                   "gender_head": "sigmoid, BCE", "age_loss_weight": models.AGE_LOSS_WEIGHT})
                log.info("training design %s on %d photos (validation %d)", design, len(train_idx), len(val_idx))
                model, history, seconds = fit_design(design, arrays, train_idx, val_idx, args, args.verbose)
                val, _, _ = evaluate(model, arrays, design, val_idx)
                per_domain = evaluate_domains(model, arrays, design, val_idx)
                score = domain_scores(per_domain) if len(per_domain) > 1 else selection_score(val)
                mlflow.log_metrics({**{f"val_{k}": v for k, v in val.items()}, "val_selection_score": score,
                                    "train_seconds": seconds, "epochs_run": len(history.get("loss", []))})
                if len(per_domain) > 1:
                    mlflow.log_metrics({f"val_{name}_{k}": v for name, m in per_domain.items()
                                        for k, v in m.items()})
                trained[design] = model
                results[design] = {"run_id": child.info.run_id, "val": val, "score": score, "seconds": seconds,
                                   "epochs": len(history.get("loss", []))}
                if len(per_domain) > 1:
                    results[design]["val_by_set"] = per_domain
                log.info("design %s: val age MAE %.2f, gender acc %.3f, score %.3f (%.0f s)",
                         design, val["age_mae"], val["gender_acc"], score, seconds)
        winner = min(results, key=lambda d: results[d]["score"])
        ranked = sorted(results, key=lambda d: results[d]["score"])
        margin = "only design" if len(ranked) == 1 else (
            f"{winner} beat {ranked[1]} on validation: age MAE {results[winner]['val']['age_mae']:.2f} vs "
            f"{results[ranked[1]]['val']['age_mae']:.2f}, gender acc {results[winner]['val']['gender_acc']:.3f} vs "
            f"{results[ranked[1]]['val']['gender_acc']:.3f}, score {results[winner]['score']:.3f} vs "
            f"{results[ranked[1]]['score']:.3f}")
        log.info("winner: %s", margin)
        mlflow.set_tags({"winner": winner, "design_decision": margin})
        for design, info in results.items():
            mlflow.log_metrics({f"val_{k}_{design}": info["val"][k] for k in ("age_mae", "gender_acc")})
        model = trained[winner]
        test, age_pred, gender_pred = evaluate(model, arrays, winner, test_idx)
        mlflow.log_metrics({f"test_{k}": v for k, v in test.items()})
        mlflow.log_metrics({f"val_{k}": v for k, v in results[winner]["val"].items()})
        if "val_by_set" in results[winner]:
            mlflow.log_metrics({f"val_{name}_{k}": v for name, m in results[winner]["val_by_set"].items()
                                for k, v in m.items()})
        metadata_sets = ["utkface", "aaf"] if aaf_rows else ["utkface"]
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp)
            agm.plot_confusion(arrays["gender"][test_idx], gender_pred, arrays["age"][test_idx],
                               report / "gender_confusion.png", title=f"gender, test split ({winner})")
            agm.plot_age_errors(arrays["age"][test_idx], age_pred, report / "age_errors.png",
                                title=f"age, test split ({winner})")
            (report / "metrics.json").write_text(json.dumps(
                {"winner": winner, "decision": margin, "trained_on": metadata_sets, "test": test,
                 "designs": {d: {k: v for k, v in r.items() if k != "run_id"} for d, r in results.items()}},
                indent=2))
            mlflow.log_artifacts(tmp, artifact_path="report")
        config = {"design": winner, "inputs": list(models.design_inputs(winner)), "pixel_size": args.pixel_size,
                  "feature_dim": int(pipeline.embedder.feature_dim), "adult_min_age": agm.ADULT_MIN_AGE}
        metadata = {"kind": "age-gender", "design": winner, "embedder": pipeline.embedder.attribute_version,
                    "test_age_mae": test["age_mae"], "test_gender_acc": test["gender_acc"],
                    "trained_on": "+".join(metadata_sets)}
        from model_registry import pyfunc

        example = pyfunc.input_example(
            crops160["embedding"][:1], crops160["crop"][:1],
            None if crops160["features"] is None else crops160["features"][:1], inputs=config["inputs"])
        info = pyfunc.log_age_gender(model, config, example, metadata)
        version = None
        if not args.no_register:
            version = register_model_version(parent.info.run_id, info.model_uri, MODEL_NAME,
                                             tags={"design": winner})
            log.info("registered %s version %s (not promoted)", MODEL_NAME, version)
        if args.save_baseline:
            save_baseline(Path(args.save_baseline), model, config, example, metadata, parent.info.run_id, version)
        result = {"run_id": parent.info.run_id, "version": version, "winner": winner, "decision": margin,
                  "test": test, "designs": {d: {k: v for k, v in r.items()} for d, r in results.items()},
                  "model_uri": info.model_uri, "params": dict(mlflow.get_run(parent.info.run_id).data.params)}
    return result


def save_baseline(folder: Path, model, config: dict, example: dict, metadata: dict, run_id: str,
                  version: str | None) -> Path:
    """The winning model as ``folder/model`` (an MLflow model folder) plus ``folder/run.json`` (the
    run's metrics, parameters and tags), the layout ``scripts.bootstrap_registry`` registers."""
    import mlflow

    from model_registry import pyfunc

    pyfunc.save_age_gender(model, config, example, metadata, folder / "model")
    run = mlflow.get_run(run_id)
    info = {"name": MODEL_NAME, "version": version, "run_id": run_id, "metrics": dict(run.data.metrics),
            "params": dict(run.data.params),
            "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}}
    (folder / "run.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return folder


def train(*, limit: int | None = None, epochs: int = 150, cnn_epochs: int = 30,
          designs: str = "embedding,features,features_cnn",
          patience: int = 8, pipeline=None, settings: TrainerSettings | None = None, register: bool = True,
          verbose: int = 0, **options) -> dict:
    """Programmatic entry point (smoke and bootstrap runs): the same run as the command line."""
    config = AgeGenderConfig(epochs=epochs, cnn_epochs=cnn_epochs, designs=designs, patience=patience,
                             verbose=verbose, limit=limit, no_register=not register)
    return run(replace(config, **options), pipeline=pipeline, settings=settings)


def smoke(pipeline=None, settings: TrainerSettings | None = None) -> dict:
    """Seconds: 40 photos, a two-member ``features`` ensemble and ``combined``, 1-2 epochs; registers
    a version (not promoted)."""
    return train(limit=40, epochs=2, cnn_epochs=1, designs="features,combined", patience=1, pipeline=pipeline,
                 settings=settings, batch_size=16, members=2)


def bootstrap(pipeline=None, settings: TrainerSettings | None = None) -> dict:
    """A quick but useful model for an empty registry: 1,500 photos, three ``features`` members
    (about a minute of training once the photos are embedded)."""
    return train(limit=1500, epochs=80, designs="features", patience=8, pipeline=pipeline, settings=settings,
                 members=3)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    if args.manifest is not None and not args.manifest.is_file():
        print(f"error: manifest {args.manifest} not found (run python -m scripts.prepare_utk_face)", file=sys.stderr)
        return 2
    if args.manifest is None and not Path(args.src).is_dir():
        print(f"error: {args.src} is not a folder (set DATA_DIR or --src)", file=sys.stderr)
        return 2
    if args.aaf is not None:
        try:  # before any photo is prepared: a wrong folder or list is a one-line error, not a late crash
            aaf.split_labels(aaf.read_labels(args.aaf), aaf.read_val_list(args.aaf_val))
        except aaf.AafDataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    try:
        result = run(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: result[k] for k in ("run_id", "version", "winner", "decision", "test")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
