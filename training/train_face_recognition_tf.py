"""Face recognition model: the pipeline's FaceNet embedding, an optional metric-learning head and
a calibrated match threshold, logged to MLflow as a ``pyfunc`` and registered as ``face-recognition``.

``python -m training.train_face_recognition_tf [--data DIR] [--max-people N] [--max-images N] [--epochs N]``

1. An identity-folder dataset (LFW's ``images/`` by default) is split by identity (seeded).
2. Every photo is embedded with the pipeline (cached under ``data/cache/embeddings``).
3. A Keras head (residual linear map, initialised to the identity, batch-hard triplet loss) is
   trained on the training identities; the threshold is calibrated on validation pairs.
4. The head is kept only if its ROC AUC on the held-out test identities beats the plain
   embedding's; the run records which won (tag ``head_decision``) and by how much.
5. LFW View 2 pairs (a per-fold subset by default) are scored with the chosen model."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from face_pipeline.evaluation import calibrated_threshold, verification_metrics
from model_registry.names import RECOGNITION

from .common import (
    artifact_dir,
    cosine_scores,
    mlflow_epoch_callback,
    plot_history,
    plot_roc,
    plot_score_histogram,
    sample_pairs,
)
from .config import TrainerSettings

log = logging.getLogger(__name__)
MODEL_NAME = RECOGNITION
EXPERIMENT = "face-recognition"


@dataclass(frozen=True)
class RecognitionConfig:
    """One training run's settings: code builds one and calls :func:`run`; the command line is
    parsed into one by :func:`parse_args` (whose defaults are these)."""

    data: str | None = None  # folder of person folders (None: DATA_DIR/lfw/images)
    min_images: int = 4
    max_people: int = 120
    max_images: int = 8
    epochs: int = 15
    steps_per_epoch: int = 40
    margin: float = 0.2
    learning_rate: float = 1e-3
    lfw_pairs: int = 600
    seed: int | None = None  # None: TRAINER_SEED
    no_register: bool = False
    report: str | None = None


def parse_args(argv: list[str] | None = None) -> RecognitionConfig:
    d = RecognitionConfig()
    parser = argparse.ArgumentParser(prog="python -m training.train_face_recognition_tf",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder of person folders (default: DATA_DIR/lfw/images)")
    parser.add_argument("--min-images", type=int, default=d.min_images, help="people with fewer photos are left out")
    parser.add_argument("--max-people", type=int, default=d.max_people, help="seeded sample of people (0 = all)")
    parser.add_argument("--max-images", type=int, default=d.max_images, help="photos per person (0 = all)")
    parser.add_argument("--epochs", type=int, default=d.epochs, help="epochs of the head (0 = no head)")
    parser.add_argument("--steps-per-epoch", type=int, default=d.steps_per_epoch)
    parser.add_argument("--margin", type=float, default=d.margin, help="triplet margin")
    parser.add_argument("--learning-rate", type=float, default=d.learning_rate)
    parser.add_argument("--lfw-pairs", type=int, default=d.lfw_pairs,
                        help="LFW View 2 pairs to score, spread over the 10 folds (0 = none, -1 = all 6,000)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--no-register", action="store_true", help="log the run but do not register a version")
    parser.add_argument("--report", help="also write the summary as JSON here (reports/face_recognition.json)")
    return RecognitionConfig(**vars(parser.parse_args(argv)))


def build_head(learning_rate: float, margin: float, dim: int = 512):
    """Residual linear head ``x + Wx + b`` (W, b start at zero, so training starts from the plain
    embedding) followed by L2 normalisation, trained with a batch-hard triplet loss."""
    import keras
    import tensorflow as tf

    inputs = keras.Input((dim,), name="embedding")
    delta = keras.layers.Dense(dim, kernel_initializer="zeros", bias_initializer="zeros", name="delta")(inputs)
    added = keras.layers.Add()([inputs, delta])
    outputs = keras.layers.UnitNormalization(name="normalize")(added)
    model = keras.Model(inputs, outputs, name="recognition_head")

    def batch_hard_triplet(y_true, y_pred):
        labels = tf.reshape(tf.cast(y_true, tf.int64), [-1])
        distances = 2.0 - 2.0 * tf.matmul(y_pred, y_pred, transpose_b=True)
        same = tf.equal(labels[:, None], labels[None, :])
        eye = tf.eye(tf.shape(labels)[0], dtype=tf.bool)
        positive = tf.logical_and(same, tf.logical_not(eye))
        hardest_positive = tf.reduce_max(tf.where(positive, distances, tf.zeros_like(distances)), axis=1)
        hardest_negative = tf.reduce_min(tf.where(same, distances + 4.0, distances), axis=1)
        return tf.reduce_mean(tf.nn.relu(hardest_positive - hardest_negative + margin))

    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=batch_hard_triplet)
    return model


def pk_batches(identities: np.ndarray, steps: int, rng: np.random.Generator, people: int = 16, per_person: int = 4,
               ) -> tuple[np.ndarray, np.ndarray]:
    """Indices and labels of ``steps`` batches of ``people`` x ``per_person`` (the batch-hard recipe)."""
    names, codes = np.unique(identities, return_inverse=True)
    groups = [np.flatnonzero(codes == c) for c in range(len(names))]
    eligible = [g for g in groups if len(g) >= 2]
    indices, labels = [], []
    for _ in range(steps):
        chosen = rng.choice(len(eligible), size=min(people, len(eligible)), replace=False)
        for c in chosen:
            picks = rng.choice(eligible[c], size=per_person, replace=len(eligible[c]) < per_person)
            indices.extend(picks)
            labels.extend([c] * per_person)
    return np.array(indices), np.array(labels)


def head_layers(model) -> list[tuple[np.ndarray, np.ndarray]]:
    """The trained head as one dense layer ``x @ (I + W) + b`` for :class:`ProjectionModel`."""
    weights, bias = model.get_layer("delta").get_weights()
    return [(np.eye(len(weights), dtype=np.float32) + weights.astype(np.float32), bias.astype(np.float32))]


def lfw_subset(pairs_file: Path, count: int) -> list:
    from face_pipeline.evaluation import read_pairs

    pairs = read_pairs(pairs_file)
    if count < 0 or count >= len(pairs):
        return pairs
    folds = sorted({p.fold for p in pairs})
    per_class = max(1, count // (2 * len(folds)))
    chosen = []
    for fold in folds:
        for same in (True, False):
            chosen += [p for p in pairs if p.fold == fold and p.same == same][:per_class]
    return chosen


def lfw_metrics(lfw_dir: Path, count: int, cache, project) -> tuple[dict, int]:
    """LFW View 2 metrics of the chosen model on ``count`` pairs (10-fold protocol)."""
    from face_pipeline.evaluation import evaluate

    pairs = lfw_subset(lfw_dir / "pairs.txt", count)
    images = lfw_dir / "images"
    paths = sorted({p.first for p in pairs} | {p.second for p in pairs})
    kept, vectors = cache.embed([images / p for p in paths])
    by_path = dict(zip(kept, project(vectors)))
    usable = [p for p in pairs if str((images / p.first).resolve()) in by_path
              and str((images / p.second).resolve()) in by_path]
    scores = np.array([float(np.dot(by_path[str((images / p.first).resolve())],
                                    by_path[str((images / p.second).resolve())])) for p in usable])
    labels = np.array([p.same for p in usable])
    folds = np.array([p.fold for p in usable])
    result = evaluate(scores, labels, folds)
    return {k: v for k, v in result.items() if k != "folds"}, len(usable)


def run(args: RecognitionConfig, pipeline=None, settings: TrainerSettings | None = None) -> dict:
    """Train, evaluate, log and (unless ``--no-register``) register; returns a summary dict."""
    import mlflow

    from model_registry.pyfunc import ProjectionModel, apply_dense_layers, l2_normalize, log_pyfunc, save_layers

    from .identity_embeddings import embed_identity_folders
    from .tracking import (
        configure_mlflow,
        dataset_info,
        ensure_experiment,
        log_dataset_info,
        log_git_commit,
        register_model_version,
    )

    settings = settings or TrainerSettings()
    seed = settings.seed if args.seed is None else args.seed
    data, pipeline = embed_identity_folders(args, settings, seed, pipeline)
    root, items, kept, embeddings, cache = data.root, data.items, data.kept, data.embeddings, data.cache
    identities, splits = data.identities, data.splits
    rng = np.random.default_rng(seed)
    index = {s: np.flatnonzero(splits == s) for s in ("train", "val", "test")}
    pairs = {s: sample_pairs(identities[index[s]], rng) for s in ("val", "test")}

    configure_mlflow(settings)
    ensure_experiment(EXPERIMENT, settings)
    out = artifact_dir()
    with mlflow.start_run(run_name="face-recognition") as active:
        mlflow.set_tag("model_name", MODEL_NAME)
        log_git_commit()
        log_dataset_info(dataset_info(root, [i.path for i in items]))
        mlflow.log_params({"min_images": args.min_images, "max_people": args.max_people,
                           "max_images": args.max_images, "epochs": args.epochs,
                           "steps_per_epoch": args.steps_per_epoch,
                           "triplet_margin": args.margin, "learning_rate": args.learning_rate, "seed": seed,
                           "embedder": pipeline.embedder.full_version, "n_faces": len(kept),
                           "n_no_face": len(items) - len(kept),
                           **{f"n_people_{s}": len(set(identities[index[s]])) for s in index}})

        def split_scores(split: str, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            first, second, same = pairs[split]
            return cosine_scores(vectors[index[split]], first, second), same

        plain = l2_normalize(embeddings)
        fusion = None
        embedder = pipeline.embedder
        if getattr(embedder, "primary", None) is not None:  # fused: learn FaceNet's weight first
            from model_registry.pyfunc import reweight_fused

            from .fusion import choose_weight

            first_dim = int(embedder.primary.dim)
            choice = choose_weight(plain[index["train"]], identities[index["train"]], first_dim, embedder.weight)
            fusion = {"first_dim": first_dim, "dim": int(plain.shape[1]), "weight": float(choice.weight)}
            plain = reweight_fused(plain, first_dim, choice.weight)
            log.info("fusion weight %.2f (%s)", choice.weight, choice.source)
            mlflow.log_param("fusion_weight", choice.weight)
            mlflow.set_tag("fusion_weight_source", choice.source)
            if choice.scan:
                mlflow.log_dict({"weight_scan": choice.scan}, "report/fusion_weight_scan.json")
        variants = {"plain": plain}
        layers = None
        history: dict[str, list[float]] = {}
        if args.epochs > 0 and len(index["train"]) >= 4:
            import keras

            keras.utils.set_random_seed(seed)
            model = build_head(args.learning_rate, args.margin, int(plain.shape[1]))
            batch_idx, batch_labels = pk_batches(identities[index["train"]], args.steps_per_epoch, rng)
            train_x = plain[index["train"]][batch_idx]

            def val_auc() -> dict[str, float]:
                scores, same = split_scores("val", l2_normalize(model.predict(plain, verbose=0)))
                return {"val_roc_auc": verification_metrics(scores, same, 0.0)["roc_auc"]}

            fit = model.fit(train_x, batch_labels, batch_size=64, epochs=args.epochs, shuffle=False, verbose=2,
                            callbacks=[mlflow_epoch_callback(val_auc)])
            history = {k: [float(x) for x in v] for k, v in fit.history.items()}
            layers = head_layers(model)
            variants["head"] = apply_dense_layers(plain, layers)

        results = {}
        for name, vectors in variants.items():
            val_scores, val_same = split_scores("val", vectors)
            threshold = calibrated_threshold(val_scores, val_same, float(pipeline.threshold))
            test_scores, test_same = split_scores("test", vectors)
            results[name] = {"threshold": threshold, "test": verification_metrics(test_scores, test_same, threshold),
                             "scores": (test_scores, test_same)}
        keep_head = "head" in results and results["head"]["test"]["roc_auc"] > results["plain"]["test"]["roc_auc"]
        chosen = "head" if keep_head else "plain"
        if "head" in results:
            gain = results["head"]["test"]["roc_auc"] - results["plain"]["test"]["roc_auc"]
            head_auc = results["head"]["test"]["roc_auc"]
            decision = (f"{'kept' if keep_head else 'dropped'} the head: test ROC AUC {head_auc:.4f}"
                        f" vs plain {results['plain']['test']['roc_auc']:.4f} ({gain:+.4f})")
        else:
            decision = "no head trained (--epochs 0 or too little data): plain embedding"
        log.info(decision)
        mlflow.set_tag("head_decision", decision)
        mlflow.set_tag("head", "residual-linear-triplet" if keep_head else "none")
        threshold = results[chosen]["threshold"]
        mlflow.log_param("threshold", round(threshold, 6))
        mlflow.log_metric("threshold", threshold)
        for name, result in results.items():
            mlflow.log_metrics({f"test_{name}_{k}": v for k, v in result["test"].items()})
        mlflow.log_metrics({f"test_{k}": v for k, v in results[chosen]["test"].items()})

        def project(vectors: np.ndarray) -> np.ndarray:
            if fusion is not None:
                vectors = reweight_fused(l2_normalize(vectors), fusion["first_dim"], fusion["weight"])
            return apply_dense_layers(vectors, layers) if keep_head else l2_normalize(vectors)

        # Open set: thresholds per FAR on impostor pairs of people the head did not train on.
        from .fusion import impostor_scores, merged_far_table

        unseen = np.flatnonzero(splits != "train") if keep_head else np.arange(len(plain))
        same_weight = fusion is None or abs(fusion["weight"] - getattr(embedder, "weight", -1)) < 1e-9
        table, table_source = merged_far_table(
            impostor_scores(variants[chosen][unseen], identities[unseen]),
            pipeline.calibration.far_table if same_weight else [])
        mlflow.set_tag("far_table_source", table_source)

        lfw_dir = settings.resolved_data_dir() / "lfw"
        lfw = {}
        if args.lfw_pairs and (lfw_dir / "pairs.txt").is_file():
            lfw, used = lfw_metrics(lfw_dir, args.lfw_pairs, cache, project)
            mlflow.log_metrics({f"lfw_{k}": v for k, v in lfw.items()})
            mlflow.log_param("lfw_pairs_used", used)
            mlflow.set_tag("lfw_note", "LFW people may overlap the training identities when training on LFW")

        plot_roc({n: r["scores"] for n, r in results.items()}, "test identities", out / "roc_test.png")
        plot_score_histogram(*results[chosen]["scores"], threshold, f"test pairs ({chosen})", out / "scores_test.png")
        if history:
            plot_history(history, "head training", out / "head_history.png")
        summary = {"decision": decision, "chosen": chosen, "threshold": threshold, "fusion": fusion,
                   "far_table": table,
                   "test": {n: r["test"] for n, r in results.items()}, "lfw": lfw}
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
        mlflow.log_artifacts(str(out), artifact_path="report")

        artifacts = {}
        if keep_head:
            save_layers(layers, out / "head.npz")
            artifacts["head"] = str(out / "head.npz")
        if fusion is not None:
            (out / "fusion.json").write_text(json.dumps(fusion))
            artifacts["fusion"] = str(out / "fusion.json")
        metadata = {"kind": "projection", "threshold": float(threshold), "embedder": pipeline.embedder.full_version,
                    "head": "residual-linear-triplet" if keep_head else "none", "output_dim": int(plain.shape[1]),
                    "far_table": table, "fusion_weight": None if fusion is None else fusion["weight"]}
        example = l2_normalize(embeddings[:3]).astype(np.float32)
        info = log_pyfunc(ProjectionModel(), artifacts, example, metadata)
        version = None
        if not args.no_register:
            version = register_model_version(active.info.run_id, info.model_uri, MODEL_NAME,
                                             tags={"embedder": pipeline.embedder.full_version})
        summary.update(run_id=active.info.run_id, version=version, model_uri=info.model_uri)
    return summary


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    try:
        summary = run(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    headline = {k: summary[k] for k in ("run_id", "version", "decision", "chosen", "threshold", "test", "lfw")}
    if args.report:
        import platform
        import shlex

        report = {"command": "python -m training.train_face_recognition_tf " + shlex.join(argv or sys.argv[1:]),
                  **headline, "machine": {"cpus": os.cpu_count(), "platform": platform.platform()}}
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(report, indent=2, default=float) + "\n")
    print(json.dumps(headline, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
