"""``python -m benchmarks.age_gender_features``: which of FaceNet's layers tell gender best, and how
wide the ``features`` design's first layer needs to be; writes ``reports/age_gender_features.json``.

Why this exists: the identity embedding is trained to drop what identity does not need, and age
and sex are much of that; the layers below it still carry them. This measures it on the UTKFace
**train and validation** photos only (the test split is never read), from the crops cached by
``scripts.prepare_utk_face``:

* ``probes``: a logistic regression (standardised inputs, C chosen from a small grid on validation)
  on each candidate layer, averaged over space and over the photo and its mirror image, and on
  combinations of them: validation gender accuracy overall, adults (13+) and children (0-12).
* ``widths``: the ``features`` design (embedding + ``block17_10`` + pre-bottleneck pool, what the
  pipeline hands out) trained with ``--members`` seeds at each ``--widths`` first-layer width:
  each member's and the averaged ensemble's validation gender accuracy and age MAE."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {
    "block35_5": "InceptionResnetV1/Repeat/block35_5/Relu:0",
    "mixed_6a": "InceptionResnetV1/Mixed_6a/concat:0",
    "block17_5": "InceptionResnetV1/Repeat_1/block17_5/Relu:0",
    "block17_10": "InceptionResnetV1/Repeat_1/block17_10/Relu:0",
    "mixed_7a": "InceptionResnetV1/Mixed_7a/concat:0",
    "block8_5": "InceptionResnetV1/Repeat_2/block8_5/Relu:0",
    "pool": "InceptionResnetV1/Logits/AvgPool_1a_8x8/AvgPool:0",
}
"""Candidate layers, input to output (names in ``graph_final.pb``)."""
COMBINATIONS = {
    "block17_10+pool (the pipeline's features)": ("block17_10", "pool"),
    "embedding+block17_10+pool": ("embedding", "block17_10", "pool"),
    "block35_5+block17_10+pool": ("block35_5", "block17_10", "pool"),
    "mixed_6a+block17_10+block8_5+pool": ("mixed_6a", "block17_10", "block8_5", "pool"),
    "all layers": tuple(LAYERS),
}
PROBE_C = (0.003, 0.01, 0.03)


def probing_embedder(embedder):
    """An embedder that can pool any FaceNet layer: the pipeline's own when it runs FaceNet on
    TensorFlow, else FaceNet on TensorFlow (OpenVINO's model hands out only the two feature layers;
    its features equal TensorFlow's within bfloat16 rounding, ``tests/test_recognition_core.py``)."""
    if hasattr(embedder, "pooled_layers"):
        return embedder
    from face_pipeline.embedding.facenet import FaceNetEmbedder

    primary = getattr(embedder, "primary", embedder)
    return FaceNetEmbedder(batch_size=primary.batch_size, flip=primary.flip)


def pooled_layers(embedder, crops: np.ndarray) -> dict[str, np.ndarray]:
    """Every :data:`LAYERS` activation averaged over space and over the crop and its mirror image,
    by FaceNet's own passes (:func:`probing_embedder`)."""
    return dict(zip(LAYERS, probing_embedder(embedder).pooled_layers(crops, list(LAYERS.values()))))


def probe(x: np.ndarray, y: np.ndarray, age: np.ndarray, train: np.ndarray, val: np.ndarray) -> dict:
    """Validation gender accuracy of a standardised logistic regression, best C of :data:`PROBE_C`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    best = None
    for c in PROBE_C:
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000))
        clf.fit(x[train], y[train])
        right = clf.predict(x[val]) == y[val]
        child = age[val] < 13
        result = {"C": c, "val_gender_acc": float(right.mean()), "val_gender_acc_adults": float(right[~child].mean()),
                  "val_gender_acc_children": float(right[child].mean()), "dim": int(x.shape[1])}
        if best is None or result["val_gender_acc"] > best["val_gender_acc"]:
            best = result
    return best


def width_runs(arrays: dict, train: np.ndarray, val: np.ndarray, widths: list[int], members: int) -> dict:
    """The ``features`` design at each first-layer width, ``members`` seeds each, each trained as
    the trainer trains a member (its defaults: early stopping, learning-rate schedule, seeds)."""
    from training import train_age_gender_tf as trainer
    from training.age_gender import models

    args = trainer.parse_args([])
    stats = trainer.design_stats("features", arrays, train)
    results = {}
    original = models.FEATURES_WIDTH
    try:
        for width in widths:
            models.FEATURES_WIDTH = width
            ages, probs, singles = [], [], []
            for member in range(members):
                model, _ = trainer.fit_member("features", arrays, train, val, args, seed=args.seed + member,
                                              stats=stats)
                age, prob = trainer.predict(model, arrays, "features", val)
                ages.append(age)
                probs.append(prob)
                singles.append({"val_gender_acc": float(np.mean((prob >= 0.5) == arrays["gender"][val])),
                                "val_age_mae": float(np.mean(np.abs(age - arrays["age"][val])))})
            mean_prob, mean_age = np.mean(probs, axis=0), np.mean(ages, axis=0)
            results[str(width)] = {
                "members": singles,
                "ensemble": {"val_gender_acc": float(np.mean((mean_prob >= 0.5) == arrays["gender"][val])),
                             "val_age_mae": float(np.mean(np.abs(mean_age - arrays["age"][val])))}}
            print(f"width {width}: {json.dumps(results[str(width)]['ensemble'])}", flush=True)
    finally:
        models.FEATURES_WIDTH = original
    return results


def _widths(text: str) -> list[int]:
    from training.train_age_gender_tf import positive_int

    return [positive_int(part) for part in text.split(",")]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.age_gender_features",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", type=Path, default=ROOT / "data" / "cache" / "utkface" / "manifest.csv",
                        help="manifest.csv of scripts.prepare_utk_face")
    parser.add_argument("--widths", type=_widths, default="128,256,512",
                        help="first-layer widths of the features design, comma-separated")
    from training.train_age_gender_tf import positive_int

    parser.add_argument("--members", type=positive_int, default=5, help="seeds per width")
    parser.add_argument("--skip-widths", action="store_true", help="only the layer probes")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "age_gender_features.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.manifest.is_file():
        print(f"error: manifest {args.manifest} not found (run python -m scripts.prepare_utk_face)", file=sys.stderr)
        return 2
    from face_pipeline import FacePipeline, PipelineSettings
    from training.age_gender import prepare
    from training.config import TrainerSettings

    started = time.monotonic()
    pipeline = FacePipeline(PipelineSettings(min_face_size=60))
    cache = prepare.cache_folder(TrainerSettings().resolved_cache_dir(), pipeline)
    rows = [row for row in prepare.read_manifest(args.manifest) if row["split"] in ("train", "val")]  # never test
    try:
        prepare.add_features(pipeline, cache, [row["file"] for row in rows])
        arrays = prepare.load_arrays(rows, cache, pixel_size=160, features=True)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    split = np.array([row["split"] for row in rows])
    train, val = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
    layers = {"embedding": arrays["embedding"], **pooled_layers(pipeline.embedder, arrays.pop("crop"))}
    probes = {}
    for name in [*layers, *COMBINATIONS]:
        x = layers[name] if name in layers else np.hstack([layers[part] for part in COMBINATIONS[name]])
        probes[name] = probe(x, arrays["gender"], arrays["age"], train, val)
        print(f"{name}: {json.dumps(probes[name])}", flush=True)
    widths = None if args.skip_widths else width_runs(
        arrays, train, val, args.widths, args.members)
    report = {
        "benchmark": "age/gender: FaceNet layers as gender features, and the features design's width",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.age_gender_features " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.machine()}, {platform.system()}, shared CPU cores",
        "data": {"manifest": str(args.manifest.name), "train": len(train), "val": len(val),
                 "test": "not read"},
        "pooling": "mean over space, averaged over the crop and its mirror image",
        "probes": probes, "widths": widths, "seconds": time.monotonic() - started,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
