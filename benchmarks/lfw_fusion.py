"""The recognition core's variants on LFW, scored from one embedding pass
(``benchmarks.lfw_parts``), and the calibration the pipeline ships with:
``python -m benchmarks.lfw_fusion [--detectors yunet,mtcnn] [--write-calibration]``.

* View 2 (``pairs.txt``, 10 folds, each fold's threshold from the other nine) for FaceNet alone,
  SFace alone, and fused: with the weight chosen per fold on the other nine folds, and with the
  weight the pipeline ships (chosen on View 1's training people only); with and without mirror
  averaging of each network (mirroring costs a second pass).
* Calibration, from ``peopleDevTrain.txt`` identities only (View 1's training people, never
  View 2's test folds): the fusion weight with the best TAR at FAR 1e-4 over all their genuine
  and impostor photo pairs, the 1:1 threshold (best accuracy on ``pairsDevTrain.txt``) and the
  table of thresholds per false-accept rate that open-set identification reads.
Writes ``reports/lfw_fusion.json``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

from face_pipeline.calibrate import (
    WEIGHT_FAR,
    best_accuracy_threshold,
    choose_fusion_weight,
    far_table,
    tar_at_far,
)
from face_pipeline.evaluation import evaluate, read_pairs

from .lfw import DEFAULT_DATA
from .lfw_parts import CACHE, load_parts

ROOT = Path(__file__).resolve().parents[1]
CALIBRATION = ROOT / "face_pipeline" / "data" / "calibration.json"


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def network_vectors(parts: dict, network: str, mirror: bool) -> np.ndarray:
    """One network's descriptor per photo: the crop's, or the normalised sum with its mirror's."""
    vectors = unit(parts[network])
    return unit(vectors + unit(parts[f"{network}_mirror"])) if mirror else vectors


def fused_vectors(parts: dict, weight: float, facenet_mirror: bool = True, sface_mirror: bool = True) -> np.ndarray:
    return np.concatenate([np.sqrt(weight) * network_vectors(parts, "facenet", facenet_mirror),
                           np.sqrt(1 - weight) * network_vectors(parts, "sface", sface_mirror)], axis=1)


def pair_cosines(vectors: np.ndarray, index: dict[str, int], pairs) -> np.ndarray:
    a = np.array([index[p.first] for p in pairs])
    b = np.array([index[p.second] for p in pairs])
    return np.sum(vectors[a] * vectors[b], axis=1)


def people_pairs(parts: dict, people: set[str], max_per_person: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``parts`` for up to ``max_per_person`` photos of each of ``people`` (sorted order),
    and each row's identity."""
    rows, owners = [], []
    counts: dict[str, int] = {}
    for i, path in enumerate(parts["paths"].tolist()):
        name = path.split("/")[0]
        if name in people and counts.get(name, 0) < max_per_person:
            counts[name] = counts.get(name, 0) + 1
            rows.append(i)
            owners.append(name)
    return np.array(rows), np.array(owners)


def all_pair_scores(vectors: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every unordered pair's cosine and whether it is the same person."""
    scores = vectors @ vectors.T
    upper = np.triu_indices(len(vectors), k=1)
    same = owners[:, None] == owners[None, :]
    return scores[upper].astype(np.float32), same[upper]


def read_people(path: Path) -> set[str]:
    return {line.split()[0] for line in path.read_text().splitlines()[1:] if line.strip()}


def calibrate(parts: dict, lfw: Path) -> dict:
    """Weight, 1:1 threshold and FAR table from View 1's training people only."""
    rows, owners = people_pairs(parts, read_people(lfw / "peopleDevTrain.txt"))
    sub = {key: value[rows] for key, value in parts.items() if key != "paths"}
    facenet, same = all_pair_scores(network_vectors(sub, "facenet", True), owners)
    sface, _ = all_pair_scores(network_vectors(sub, "sface", True), owners)
    # The weight scan scores 19 weights: all genuine pairs and a seeded 2 M of the impostors are
    # plenty at FAR 1e-4 (200 impostors above the threshold); the FAR table uses every impostor.
    rng = np.random.default_rng(0)
    impostors = np.flatnonzero(~same)
    scan_rows = np.concatenate([np.flatnonzero(same), rng.choice(impostors, min(len(impostors), 2_000_000),
                                                                 replace=False)])
    weight, scan = choose_fusion_weight(facenet[scan_rows], sface[scan_rows], same[scan_rows], far=WEIGHT_FAR)
    fused = weight * facenet + (1 - weight) * sface
    index = {p: i for i, p in enumerate(parts["paths"].tolist())}
    dev_pairs = read_pairs(lfw / "pairsDevTrain.txt")
    vectors = fused_vectors(parts, weight)
    dev_scores = pair_cosines(vectors, index, dev_pairs)
    dev_labels = np.array([p.same for p in dev_pairs])
    sface_dev = pair_cosines(network_vectors(parts, "sface", True), index, dev_pairs)
    return {
        "sface_alone": {"threshold": round(best_accuracy_threshold(sface_dev, dev_labels), 6),
                        "far_table": far_table(sface[~same])},
        "weight": weight,
        "threshold": round(best_accuracy_threshold(dev_scores, dev_labels), 6),
        "far_table": far_table(fused[~same]),
        "weight_scan": scan,
        "people": int(len(set(owners.tolist()))), "photos": int(len(rows)),
        "genuine_pairs": int(same.sum()), "impostor_pairs": int((~same).sum()),
        "tar_at_far_1e-4_devtrain": tar_at_far(fused, same, 1e-4),
    }


def view2(parts: dict, lfw: Path, vectors_for) -> dict:
    pairs = read_pairs(lfw / "pairs.txt")
    index = {p: i for i, p in enumerate(parts["paths"].tolist())}
    labels = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    scores = pair_cosines(vectors_for(parts), index, pairs)
    result = evaluate(scores, labels, folds)
    return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in result.items() if k != "folds"}


def weight_per_fold(parts: dict, lfw: Path, facenet_mirror: bool = True, sface_mirror: bool = True) -> dict:
    """Fused, the weight of each fold chosen (TAR@1e-3, then accuracy) on the other nine."""
    pairs = read_pairs(lfw / "pairs.txt")
    index = {p: i for i, p in enumerate(parts["paths"].tolist())}
    labels = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    facenet = pair_cosines(network_vectors(parts, "facenet", facenet_mirror), index, pairs)
    sface = pair_cosines(network_vectors(parts, "sface", sface_mirror), index, pairs)
    scores = np.zeros(len(pairs))
    weights = []
    for fold in sorted(set(folds.tolist())):
        train = folds != fold
        weight, _ = choose_fusion_weight(facenet[train], sface[train], labels[train], far=1e-3)
        weights.append(weight)
        scores[~train] = weight * facenet[~train] + (1 - weight) * sface[~train]
    # each fold is scored with its own weight; thresholds again from the other nine folds
    result = evaluate(scores, labels, folds)
    out = {k: (round(v, 5) if isinstance(v, float) else v) for k, v in result.items() if k != "folds"}
    out["weights"] = weights
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lfw_fusion", description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--detectors", default="yunet,mtcnn")
    parser.add_argument("--write-calibration", action="store_true",
                        help="write the default detector's calibration into face_pipeline/data/calibration.json")
    parser.add_argument("--out", default=str(ROOT / "reports" / "lfw_fusion.json"))
    args = parser.parse_args(argv)
    lfw = Path(args.data)
    detectors = [d for d in args.detectors.split(",") if list(CACHE.glob(f"{d}-*.npz"))]
    if not detectors:
        print(f"error: no embeddings cached under {CACHE}: run python -m benchmarks.lfw_parts first", file=sys.stderr)
        return 2
    report: dict = {"command": "python -m benchmarks.lfw_fusion " + " ".join(argv or sys.argv[1:]),
                    "protocol": "LFW View 2, 10 folds, each fold's threshold from the other nine; TAR pooled",
                    "machine": {"cpus": os.cpu_count(), "platform": platform.platform()}, "detectors": {}}
    for detector in detectors:
        parts = load_parts(detector)
        calibration = calibrate(parts, lfw)
        weight = calibration["weight"]
        variants = {
            "facenet (mirror-averaged)": lambda p: network_vectors(p, "facenet", True),
            "facenet (one pass)": lambda p: network_vectors(p, "facenet", False),
            "sface (mirror-averaged)": lambda p: network_vectors(p, "sface", True),
            "sface (one pass)": lambda p: network_vectors(p, "sface", False),
            f"fused w={weight} from View 1 (both mirror-averaged)": lambda p, w=weight: fused_vectors(p, w),
            f"fused w={weight}, facenet one pass, sface mirrored": lambda p, w=weight: fused_vectors(p, w, False, True),
            f"fused w={weight}, both one pass": lambda p, w=weight: fused_vectors(p, w, False, False),
        }
        results = {name: view2(parts, lfw, fn) for name, fn in variants.items()}
        results["fused, weight per fold from the other nine (both mirror-averaged)"] = weight_per_fold(parts, lfw)
        report["detectors"][detector] = {
            "photos": int(len(parts["paths"])), "no_face_found": int((~parts["found"].astype(bool)).sum()),
            "calibration": calibration, "view2": results,
        }
        print(detector, json.dumps({k: (v["accuracy_mean"], v["tar_at_far_1e-3"], v["tar_at_far_1e-4"])
                                    for k, v in results.items()}, indent=1))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    if args.write_calibration:
        default = report["detectors"].get("yunet") or next(iter(report["detectors"].values()))
        cal = default["calibration"]
        data = json.loads(CALIBRATION.read_text())
        data["fused"] = {
            "embedder": f"fused[facenet-casia:20180408-102900:flip*{cal['weight']:.2f}+sface:2021dec:flip]",
            "weight": cal["weight"], "threshold": cal["threshold"], "far_table": cal["far_table"],
            "source": (f"LFW View 1 training people only ({cal['people']} people, {cal['photos']} photos, "
                       f"{cal['impostor_pairs']} impostor pairs; threshold: best accuracy on pairsDevTrain); "
                       "made by: python -m benchmarks.lfw_fusion --write-calibration"),
        }
        data["sface"] = {
            "embedder": "sface:2021dec:flip", **cal["sface_alone"],
            "source": data["fused"]["source"].replace("threshold:", "SFace alone; threshold:"),
        }
        CALIBRATION.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
