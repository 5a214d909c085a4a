"""Choose the crop on LFW View 1, never on View 2: ``python -m benchmarks.lfw_alignment``.

Each variant (alignment mode, margin, mirror averaging) is scored with the threshold that is best
on ``pairsDevTrain.txt`` and the accuracy it gives on ``pairsDevTest.txt``. Writes
``reports/lfw_alignment.json``; the winner becomes the pipeline's default and View 2
(``benchmarks.lfw``) then reports it."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from face_pipeline.calibrate import best_accuracy_threshold as best_threshold
from face_pipeline.evaluation import accuracy, read_pairs

from .lfw import DEFAULT_DATA, ROOT, detect_all, embed_all

VARIANTS = [
    {"align": "box", "margin": 16, "flip": False},
    {"align": "box", "margin": 10, "flip": False},
    {"align": "box", "margin": 22, "flip": False},
    {"align": "box_level", "margin": 16, "flip": False},
    {"align": "landmarks", "margin": 16, "flip": False},
    {"align": "box", "margin": 16, "flip": True},
]


def main(argv: list[str] | None = None) -> int:
    from face_pipeline import FacePipeline, PipelineSettings

    parser = argparse.ArgumentParser(prog="python -m benchmarks.lfw_alignment", description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--cache-dir", default=str(ROOT / "data" / "cache" / "lfw"))
    parser.add_argument("--out", default=str(ROOT / "reports" / "lfw_alignment.json"))
    args = parser.parse_args(argv)

    data = Path(args.data)
    train, test = read_pairs(data / "pairsDevTrain.txt"), read_pairs(data / "pairsDevTest.txt")
    paths = sorted({p.first for p in train + test} | {p.second for p in train + test})
    cache_dir = Path(args.cache_dir)
    results = []
    pipelines: dict[bool, FacePipeline] = {}
    for variant in VARIANTS:
        flip = variant["flip"]
        if flip not in pipelines:
            pipelines[flip] = FacePipeline(PipelineSettings(detector="mtcnn", flip_embeddings=flip))
        pipeline = pipelines[flip]
        settings = pipeline.settings
        det_key = f"mtcnn-min{settings.min_face_size}-conf{settings.min_confidence}"
        detections = detect_all(data / "images", paths, pipeline, cache_dir / f"detections-{det_key}.json")
        key = f"{det_key}|{variant['align']}|{variant['margin']}|{pipeline.embedder.full_version}"
        vectors, _ = embed_all(data / "images", paths, detections, pipeline, variant["align"], variant["margin"],
                               cache_dir / f"embeddings-{hashlib.sha1(key.encode()).hexdigest()[:12]}.npz")

        def scores(pairs, vectors=vectors):
            return (np.array([float(np.dot(vectors[p.first], vectors[p.second])) for p in pairs]),
                    np.array([p.same for p in pairs]))

        train_scores, train_labels = scores(train)
        test_scores, test_labels = scores(test)
        threshold = best_threshold(train_scores, train_labels)
        results.append({**variant, "threshold_dev_train": round(threshold, 4),
                        "accuracy_dev_test": accuracy(test_scores, test_labels, threshold),
                        "auc_dev_train": round(float(roc_auc_score(train_labels, train_scores)), 5),
                        "auc_dev_test": round(float(roc_auc_score(test_labels, test_scores)), 5)})
        print(json.dumps(results[-1]), flush=True)
    best = max(results, key=lambda r: (r["accuracy_dev_test"], r["auc_dev_train"]))
    report = {"benchmark": "LFW View 1: crop and preprocessing variants (FaceNet-CASIA, MTCNN boxes)",
              "protocol": "threshold chosen on pairsDevTrain.txt (2,200 pairs), accuracy on pairsDevTest.txt (1,000)",
              "command": "python -m benchmarks.lfw_alignment " + " ".join(sys.argv[1:]),
              "variants": results, "best": best}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
