"""Verifiers, logged to MLflow as ``pyfunc`` models and registered.

General 1:1 verifier (registered as ``face-verifier``)::

    python -m training.train_verifier general [--data DIR] [--max-people N] [--max-images N]

  A logistic regression on similarity features of a pair of embeddings (cosine, L1 distance,
  largest coordinate gap; see ``model_registry.pyfunc.pair_features``) fitted on pairs of the
  training identities; its output is a calibrated probability of "same person" (checked with a
  reliability plot and the Brier score on held-out identities) and the decision threshold is
  chosen on validation pairs. Model input: ``(N, 2d)`` = two raw embeddings side by side.

Personal verifier (registered as ``verifier-<name>``, the "me / not me" case)::

    python -m training.train_verifier personal --positive DIR --name NAME [--negative DIR] [--out DIR]

  StandardScaler + LogisticRegression on the embeddings of the photos (one face per photo);
  threshold 0.75 unless validation data shows a clearly better one; writes ``metrics.json``
  (accuracy, precision, recall, F1, ROC AUC on the test split, and the false-accept rate on
  people absent from training) and ``confusion_matrix.png``.

  Negatives: "not me" means anybody else, so by default they are a broad impostor set, a seeded
  sample of ``--impostor-people`` people x ``--impostor-images`` photos from ``--impostors``
  (default DATA_DIR/lfw/images; folders of the person themself left out), split BY PERSON so the
  test split holds people the model never saw; the person's own ``--negative`` photos (the people
  they are usually confused with) are added on top, split by photo."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from face_pipeline.evaluation import calibrated_threshold, verification_metrics
from model_registry.names import VERIFIER, person_model_name, slugify

from .common import (
    artifact_dir,
    plot_confusion_matrix,
    plot_roc,
    plot_score_histogram,
    sample_pairs,
)
from .config import ROOT, TrainerSettings

log = logging.getLogger(__name__)
GENERAL_NAME = VERIFIER
DEFAULT_PERSON_THRESHOLD = 0.75
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass(frozen=True)
class GeneralConfig:
    """The 1:1 verifier's run settings (code builds one; :func:`parse_args` parses ``general ...`` into one)."""

    data: str | None = None  # folder of person folders (None: DATA_DIR/lfw/images)
    min_images: int = 4
    max_people: int = 120
    max_images: int = 8
    max_pairs: int = 3000
    seed: int | None = None  # None: TRAINER_SEED
    no_register: bool = False
    kind: str = "general"


@dataclass(frozen=True)
class PersonalConfig:
    """One person's verifier run settings (``personal ...`` on the command line)."""

    positive: str
    name: str
    negative: str | None = None
    impostors: str | None = None  # None: DATA_DIR/lfw/images
    impostor_people: int = 300
    impostor_images: int = 2
    max_positive: int = 400
    max_negative: int = 400
    out: str | None = None  # None: data/verifiers/<slug>
    seed: int | None = None
    no_register: bool = False
    kind: str = "personal"


def parse_args(argv: list[str] | None = None) -> GeneralConfig | PersonalConfig:
    g, p = GeneralConfig(), PersonalConfig(positive="", name="")
    parser = argparse.ArgumentParser(prog="python -m training.train_verifier", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    general = sub.add_parser("general", help="the 1:1 verifier on pair similarity features")
    general.add_argument("--data", help="folder of person folders (default: DATA_DIR/lfw/images)")
    general.add_argument("--min-images", type=int, default=g.min_images)
    general.add_argument("--max-people", type=int, default=g.max_people, help="seeded sample of people (0 = all)")
    general.add_argument("--max-images", type=int, default=g.max_images, help="photos per person (0 = all)")
    general.add_argument("--max-pairs", type=int, default=g.max_pairs,
                         help="same-person pairs per split (as many different)")
    general.add_argument("--seed", type=int)
    general.add_argument("--no-register", action="store_true")
    personal = sub.add_parser("personal", help="one person's verifier (me / not me)")
    personal.add_argument("--positive", required=True, help="folder of photos of the person")
    personal.add_argument("--negative", help="folder of photos of other people (searched recursively), added to "
                          "the impostors")
    personal.add_argument("--impostors", help="folder of person folders to sample impostors from "
                          "(default DATA_DIR/lfw/images)")
    personal.add_argument("--impostor-people", type=int, default=p.impostor_people,
                          help="impostor people sampled (seeded; 0 = none)")
    personal.add_argument("--impostor-images", type=int, default=p.impostor_images, help="photos per impostor person")
    personal.add_argument("--name", required=True, help="the person's name (model: verifier-<slug>)")
    personal.add_argument("--max-positive", type=int, default=p.max_positive,
                          help="at most this many positive photos (seeded)")
    personal.add_argument("--max-negative", type=int, default=p.max_negative,
                          help="at most this many negative photos (seeded)")
    personal.add_argument("--out", help="folder for metrics.json and confusion_matrix.png "
                          "(default data/verifiers/<slug>)")
    personal.add_argument("--seed", type=int)
    personal.add_argument("--no-register", action="store_true")
    values = vars(parser.parse_args(argv))
    return GeneralConfig(**values) if values["kind"] == "general" else PersonalConfig(**values)


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _start(settings: TrainerSettings, experiment: str):
    import mlflow

    from .tracking import configure_mlflow, ensure_experiment, log_git_commit

    configure_mlflow(settings)
    ensure_experiment(experiment, settings)
    run = mlflow.start_run(run_name=experiment)
    log_git_commit()
    return run


def run_general(args: GeneralConfig, pipeline=None, settings: TrainerSettings | None = None) -> dict:
    import mlflow
    from sklearn.calibration import calibration_curve
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import brier_score_loss

    from model_registry.pyfunc import PairVerifierModel, log_pyfunc, pair_features

    from .identity_embeddings import embed_identity_folders
    from .tracking import dataset_info, log_dataset_info, register_model_version

    settings = settings or TrainerSettings()
    seed = settings.seed if args.seed is None else args.seed
    data, pipeline = embed_identity_folders(args, settings, seed, pipeline)
    root, items, embeddings = data.root, data.items, data.embeddings
    identities, splits = data.identities, data.splits
    rng = np.random.default_rng(seed)
    data = {}
    for split in ("train", "val", "test"):
        idx = np.flatnonzero(splits == split)
        first, second, same = sample_pairs(identities[idx], rng, args.max_pairs)
        pairs = np.concatenate([embeddings[idx][first], embeddings[idx][second]], axis=1).astype(np.float32)
        data[split] = (pairs, same)

    with _start(settings, GENERAL_NAME) as active:
        mlflow.set_tag("model_name", GENERAL_NAME)
        log_dataset_info(dataset_info(root, [i.path for i in items]))
        mlflow.log_params({"min_images": args.min_images, "max_people": args.max_people, "max_images": args.max_images,
                           "max_pairs": args.max_pairs, "seed": seed, "embedder": pipeline.embedder.full_version,
                           "features": "cosine,l1,max_abs_diff", "classifier": "LogisticRegression",
                           **{f"n_pairs_{s}": len(d[1]) for s, d in data.items()}})
        classifier = LogisticRegression(C=1.0, max_iter=1000)
        classifier.fit(pair_features(data["train"][0]), data["train"][1])
        prob = {s: classifier.predict_proba(pair_features(d[0]))[:, 1] for s, d in data.items()}
        # A calibrated probability's natural cut is 0.5; move it only when validation clearly says so.
        best = calibrated_threshold(prob["val"], data["val"][1], 0.5)
        val_at = {t: verification_metrics(prob["val"], data["val"][1], t)["accuracy"] for t in (0.5, best)}
        threshold = best if val_at[best] > val_at[0.5] + 0.01 else 0.5
        mlflow.set_tag("threshold_choice", f"val accuracy {val_at[0.5]:.4f} at 0.5, {val_at[best]:.4f} at {best:.4f}")
        metrics = {f"test_{k}": v for k, v in verification_metrics(prob["test"], data["test"][1], threshold).items()}
        metrics["test_brier"] = float(brier_score_loss(data["test"][1], prob["test"]))
        metrics["val_accuracy"] = verification_metrics(prob["val"], data["val"][1], threshold)["accuracy"]
        metrics["train_accuracy"] = verification_metrics(prob["train"], data["train"][1], threshold)["accuracy"]
        metrics["threshold"] = threshold
        mlflow.log_metrics(metrics)
        mlflow.log_param("threshold", round(threshold, 6))

        out = artifact_dir()
        plot_roc({"verifier": (prob["test"], data["test"][1])}, "general verifier, test identities",
                 out / "roc_test.png")
        plot_score_histogram(prob["test"], data["test"][1], threshold, "test pairs", out / "probabilities_test.png")
        plot_confusion_matrix(data["test"][1], prob["test"] >= threshold, ("different", "same"),
                              "test pairs", out / "confusion_matrix.png")
        _plot_calibration(calibration_curve(data["test"][1], prob["test"], n_bins=10), out / "calibration_test.png")
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        joblib_path = out / "classifier.joblib"
        import joblib

        joblib.dump(classifier, joblib_path)
        mlflow.log_artifacts(str(out), artifact_path="report")
        metadata = {"kind": "pair-verifier", "threshold": float(threshold), "embedder": pipeline.embedder.full_version,
                    "input": "(N,2d) float32: [raw embedding a | raw embedding b]", "output": "P(same person)"}
        info = log_pyfunc(PairVerifierModel(), {"classifier": str(joblib_path)}, data["test"][0][:3], metadata)
        version = None
        if not args.no_register:
            version = register_model_version(active.info.run_id, info.model_uri, GENERAL_NAME,
                                             tags={"embedder": pipeline.embedder.full_version})
    return {"run_id": active.info.run_id, "version": version, "threshold": threshold, "metrics": metrics,
            "model_uri": info.model_uri, "name": GENERAL_NAME}


def _plot_calibration(curve: tuple[np.ndarray, np.ndarray], out: Path) -> None:
    from .common import _pyplot

    plt = _pyplot()
    fraction, predicted = curve
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot([0, 1], [0, 1], "k--", label="perfectly calibrated")
    ax.plot(predicted, fraction, "o-", label="verifier")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("fraction of same-person pairs")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def choose_person_threshold(prob: np.ndarray, labels: np.ndarray, default: float = DEFAULT_PERSON_THRESHOLD,
                            ) -> tuple[float, str]:
    """0.75 unless the validation data clearly prefers another threshold (F1 better by > 0.02)."""
    from sklearn.metrics import f1_score

    labels = np.asarray(labels, bool)
    if labels.sum() < 3 or (~labels).sum() < 3:
        return default, f"default {default}: too few validation photos to choose"
    candidates = np.round(np.arange(0.05, 0.96, 0.01), 2)
    scores = np.array([f1_score(labels, prob >= t, zero_division=0) for t in candidates])
    default_f1 = f1_score(labels, prob >= default, zero_division=0)
    best = candidates[np.flatnonzero(scores == scores.max())]
    nearest = float(best[np.argmin(np.abs(best - default))])
    if scores.max() > default_f1 + 0.02:
        return nearest, f"validation F1 {scores.max():.3f} at {nearest} vs {default_f1:.3f} at {default}"
    return default, f"default {default} kept: validation F1 {default_f1:.3f} (best {scores.max():.3f})"


IMPOSTOR_SPLIT = (0.6, 0.2)
"""Fractions of the impostor PEOPLE in train and validation; the rest are the unseen test people."""


def sample_impostors(folder: Path, exclude: set[str], people: int, per_person: int, seed: int,
                     ) -> dict[str, list[Path]]:
    """A seeded sample of ``people`` person folders of ``folder`` (not in ``exclude``, by folder name
    or its slug) -> up to ``per_person`` seeded photos each."""
    if people <= 0 or per_person <= 0:
        return {}
    if not Path(folder).is_dir():
        raise FileNotFoundError(f"impostor folder not found: {folder} (set DATA_DIR or --impostors)")
    rng = np.random.default_rng(seed + 1)
    photos = {p.name: list_images(p) for p in sorted(Path(folder).iterdir())
              if p.is_dir() and p.name not in exclude and _slug_or_none(p.name) not in exclude}
    names = [name for name, files in photos.items() if files]
    chosen = [names[i] for i in sorted(rng.choice(len(names), min(people, len(names)), replace=False))]
    sample = {}
    for name in chosen:
        picks = sorted(rng.choice(len(photos[name]), min(per_person, len(photos[name])), replace=False))
        sample[name] = [photos[name][i] for i in picks]
    return sample


def _slug_or_none(name: str) -> str | None:
    try:
        return slugify(name)
    except ValueError:
        return None


def split_people(people: list[str], seed: int) -> dict[str, str]:
    """Person -> train / val / test (seeded, by person)."""
    order = [people[i] for i in np.random.default_rng(seed + 2).permutation(len(people))]
    n_train = int(round(IMPOSTOR_SPLIT[0] * len(order)))
    n_val = int(round(IMPOSTOR_SPLIT[1] * len(order)))
    return {p: "train" if i < n_train else "val" if i < n_train + n_val else "test" for i, p in enumerate(order)}


def split_photos(count: int, seed: int) -> np.ndarray:
    """A seeded 60/20/20 train / val / test split of ``count`` photos."""
    order = np.random.default_rng(seed + 3).permutation(count)
    labels = np.empty(count, dtype=object)
    n_train, n_val = int(round(0.6 * count)), int(round(0.2 * count))
    labels[order[:n_train]], labels[order[n_train:n_train + n_val]], labels[order[n_train + n_val:]] = (
        "train", "val", "test")
    return labels


def run_personal(args: PersonalConfig, pipeline=None, settings: TrainerSettings | None = None) -> dict:
    import joblib
    import mlflow
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from face_pipeline import FacePipeline
    from model_registry.pyfunc import PersonVerifierModel, log_pyfunc

    from .embedding_cache import EmbeddingCache
    from .tracking import dataset_info, log_dataset_info, register_model_version

    settings = settings or TrainerSettings()
    seed = settings.seed if args.seed is None else args.seed
    name = person_model_name(args.name)
    for folder in (args.positive, args.negative):
        if folder is not None and not Path(folder).is_dir():
            raise FileNotFoundError(f"folder not found: {folder}")
    positive_dir = Path(args.positive).resolve()
    positives = list_images(positive_dir)
    negatives = [p for p in list_images(args.negative) if positive_dir not in p.resolve().parents] \
        if args.negative else []
    rng = np.random.default_rng(seed)
    if args.max_positive and len(positives) > args.max_positive:
        positives = [positives[i] for i in sorted(rng.choice(len(positives), args.max_positive, replace=False))]
    if args.max_negative and len(negatives) > args.max_negative:
        negatives = [negatives[i] for i in sorted(rng.choice(len(negatives), args.max_negative, replace=False))]
    impostor_dir = Path(args.impostors) if args.impostors else settings.resolved_data_dir() / "lfw" / "images"
    # The person themself (their folder, their name) and everyone among the given negatives stay out,
    # so the unseen test people really are unseen.
    exclude = {positive_dir.name, slugify(args.name)} | {p.parent.name for p in negatives}
    impostors = sample_impostors(impostor_dir, exclude, args.impostor_people, args.impostor_images, seed) \
        if args.impostor_people else {}
    if len(positives) < 5 or len(negatives) + sum(map(len, impostors.values())) < 5:
        raise ValueError(f"need at least 5 photos with a face on each side (found {len(positives)} positive, "
                         f"{len(negatives)} negative and {sum(map(len, impostors.values()))} impostor photos)")
    pipeline = pipeline or FacePipeline()
    cache = EmbeddingCache(pipeline, settings.resolved_cache_dir())
    _, pos = cache.embed(positives)
    _, neg = cache.embed(negatives) if negatives else ([], np.zeros((0, cache.dim), np.float32))
    impostor_people = split_people(sorted(impostors), seed)
    imp_paths = [(person, p) for person in sorted(impostors) for p in impostors[person]]
    imp_kept, imp = cache.embed([p for _, p in imp_paths]) if imp_paths else ([], np.zeros((0, cache.dim)))
    person_of = {str(Path(p).resolve()): person for person, p in imp_paths}
    imp_split = np.array([impostor_people[person_of[k]] for k in imp_kept], dtype=object)
    if len(pos) < 5 or len(neg) + len(imp) < 5:
        raise ValueError(f"need at least 5 photos with a face on each side "
                         f"(found {len(pos)} positive, {len(neg) + len(imp)} negative)")
    x = np.concatenate([pos, neg, imp]).astype(np.float32)
    y = np.concatenate([np.ones(len(pos), bool), np.zeros(len(neg) + len(imp), bool)])
    source = np.array(["positive"] * len(pos) + ["negative"] * len(neg) + ["impostor"] * len(imp), dtype=object)
    split = np.concatenate([split_photos(len(pos), seed), split_photos(len(neg), seed + 10), imp_split])
    x_train, y_train = x[split == "train"], y[split == "train"]
    x_val, y_val = x[split == "val"], y[split == "val"]
    x_test, y_test = x[split == "test"], y[split == "test"]
    unseen = (split == "test") & (source == "impostor")
    out = Path(args.out) if args.out else ROOT / "data" / "verifiers" / slugify(args.name)
    out.mkdir(parents=True, exist_ok=True)

    with _start(settings, "personal-verifiers") as active:
        mlflow.set_tag("model_name", name)
        mlflow.set_tag("person", args.name)
        log_dataset_info(dataset_info(positive_dir, positives), prefix="positive")
        if negatives:
            log_dataset_info(dataset_info(Path(args.negative), negatives), prefix="negative")
        if imp_paths:
            log_dataset_info(dataset_info(impostor_dir, [p for _, p in imp_paths]), prefix="impostor")
        mlflow.log_params({"seed": seed, "embedder": pipeline.embedder.full_version, "n_positive_faces": len(pos),
                           "n_negative_faces": len(neg), "n_impostor_faces": len(imp),
                           "n_impostor_people": len(impostors), "impostor_images": args.impostor_images,
                           "classifier": "StandardScaler+LogisticRegression(balanced)",
                           "n_train": len(y_train), "n_val": len(y_val), "n_test": len(y_test)})
        classifier = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, class_weight="balanced", max_iter=2000))
        classifier.fit(x_train, y_train)
        threshold, why = choose_person_threshold(classifier.predict_proba(x_val)[:, 1], y_val)
        mlflow.set_tag("threshold_choice", why)
        mlflow.log_param("threshold", threshold)
        prob_test = classifier.predict_proba(x_test)[:, 1]
        metrics = verification_metrics(prob_test, y_test, threshold)
        unseen_prob = classifier.predict_proba(x[unseen])[:, 1] if unseen.any() else np.zeros(0)
        unseen_people = sorted({p for p, s in impostor_people.items() if s == "test"})
        if len(unseen_prob):
            metrics["unseen_far"] = float(np.mean(unseen_prob >= threshold))
        report = {"model": name, "person": args.name, "threshold": threshold, "threshold_choice": why,
                  "test_photos": {"positive": int(y_test.sum()), "negative": int((~y_test).sum())},
                  "unseen_people": {"people": len(unseen_people), "photos": int(unseen.sum()),
                                    "false_accepts": int(np.sum(unseen_prob >= threshold)),
                                    "note": "impostors of people absent from training and validation"},
                  **metrics}
        (out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
        plot_confusion_matrix(y_test, prob_test >= threshold, ("not " + args.name, args.name),
                              f"{name}: test photos", out / "confusion_matrix.png")
        mlflow.log_metrics({**{f"test_{k}": v for k, v in metrics.items()}, "threshold": threshold})
        mlflow.log_artifact(str(out / "metrics.json"), artifact_path="report")
        mlflow.log_artifact(str(out / "confusion_matrix.png"), artifact_path="report")
        model_dir = artifact_dir()
        joblib.dump(classifier, model_dir / "classifier.joblib")
        metadata = {"kind": "person-verifier", "person": args.name, "threshold": float(threshold),
                    "embedder": pipeline.embedder.full_version}
        artifacts = {"classifier": str(model_dir / "classifier.joblib")}
        info = log_pyfunc(PersonVerifierModel(), artifacts, x_test[:3], metadata)
        version = None
        if not args.no_register:
            version = register_model_version(active.info.run_id, info.model_uri, name,
                                             tags={"embedder": pipeline.embedder.full_version, "person": args.name})
    return {"run_id": active.info.run_id, "version": version, "threshold": threshold, "metrics": report,
            "model_uri": info.model_uri, "name": name, "out": str(out),
            "unseen_people": unseen_people}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    try:
        summary = run_general(args) if args.kind == "general" else run_personal(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
