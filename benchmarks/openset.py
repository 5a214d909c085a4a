"""Open-set identification on LFW: "who is this?" with strangers in the queries:
``python -m benchmarks.openset [--detector yunet] [--sizes 100,1000]``.

For each gallery size P: P people enrolled from ONE photo each (their first), queried with
another photo of each (their second), plus one photo each of people never enrolled. A query is
named when its best match reaches the identification threshold, which is the calibrated
threshold for the per-comparison FAR ``stranger_rate / P`` (``face_pipeline.calibrate``, the
rule the API applies to its gallery), for the default embedder (fused, at the shipped weight).
The 100-person gallery and its strangers come from View 1's test people only (``peopleDevTest``),
disjoint from the people the thresholds were calibrated on; the 1,000-person gallery needs more
people than that split has, so it draws from all of LFW (the report counts the overlap).
Also reported: the rule the API used before (the 1:1 accuracy threshold on the best match).
Reads the embeddings of ``benchmarks.lfw_parts``; writes ``reports/openset.json``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

from face_pipeline.calibrate import identify_threshold

from .lfw import DEFAULT_DATA
from .lfw_fusion import CALIBRATION, fused_vectors, read_people
from .lfw_parts import load_parts

ROOT = Path(__file__).resolve().parents[1]


def photos_by_person(paths: list[str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for i, path in enumerate(paths):
        out.setdefault(path.split("/")[0], []).append(i)
    return {name: sorted(rows, key=lambda r: paths[r]) for name, rows in out.items()}


def decide(scores: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Index of the best match of each query row and whether it reaches ``threshold``."""
    best = np.argmax(scores, axis=1)
    return best, scores[np.arange(len(scores)), best] >= threshold


def run_size(vectors: np.ndarray, by_person: dict[str, list[int]], pool: list[str], strangers_pool: list[str],
             size: int, strangers: int, rng: np.random.Generator, thresholds: dict[str, float]) -> dict:
    enrolled = sorted(rng.choice(pool, size=size, replace=False).tolist())
    rest = sorted(set(strangers_pool) - set(enrolled))
    outsiders = sorted(rng.choice(rest, size=min(strangers, len(rest)), replace=False).tolist())
    gallery = vectors[[by_person[name][0] for name in enrolled]]
    genuine = vectors[[by_person[name][1] for name in enrolled]] @ gallery.T
    impostor = vectors[[by_person[name][0] for name in outsiders]] @ gallery.T
    out = {"enrolled": size, "strangers": len(outsiders), "enrolled_people": enrolled}
    for rule, threshold in thresholds.items():
        threshold = identify_threshold(TABLE, size, RATE) if threshold is None else threshold
        best, named = decide(genuine, threshold)
        correct = named & (best == np.arange(size))
        _, stranger_named = decide(impostor, threshold)
        out[rule] = {
            "threshold": round(float(threshold), 4),
            "enrolled_named_correctly": round(float(correct.mean()), 4),
            "enrolled_named_as_someone_else": round(float((named & ~correct).mean()), 4),
            "enrolled_not_named": round(float((~named).mean()), 4),
            "strangers_named_as_someone": round(float(stranger_named.mean()), 4),
            "rank1_accuracy_closed_set": round(float((best == np.arange(size)).mean()), 4),
        }
    return out


TABLE: list = []
RATE = 0.01


def main(argv: list[str] | None = None) -> int:
    global TABLE, RATE
    parser = argparse.ArgumentParser(prog="python -m benchmarks.openset", description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--detector", default="yunet")
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--strangers", type=int, default=1000, help="never-enrolled people queried per size")
    parser.add_argument("--stranger-rate", type=float, default=0.01,
                        help="target share of strangers named as someone (IDENTIFY_STRANGER_RATE)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default=str(ROOT / "reports" / "openset.json"))
    args = parser.parse_args(argv)
    lfw = Path(args.data)
    try:
        parts = load_parts(args.detector)
    except FileNotFoundError:
        print("error: no cached LFW embeddings: run python -m benchmarks.lfw_parts first", file=sys.stderr)
        return 2
    calibration = json.loads(CALIBRATION.read_text())["fused"]
    TABLE, RATE = calibration["far_table"], args.stranger_rate
    vectors = fused_vectors(parts, calibration["weight"])
    paths = parts["paths"].tolist()
    by_person = photos_by_person(paths)
    dev_test = read_people(lfw / "peopleDevTest.txt")
    dev_train = read_people(lfw / "peopleDevTrain.txt")
    thresholds = {"open-set threshold for the gallery size": None,
                  "old rule: 1:1 accuracy threshold": calibration["threshold"]}
    report = {"command": "python -m benchmarks.openset " + " ".join(argv or sys.argv[1:]),
              "detector": args.detector, "embedder": calibration["embedder"], "stranger_rate": RATE,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform()}, "sizes": {}}
    for size in [int(s) for s in args.sizes.split(",")]:
        rng = np.random.default_rng(args.seed + size)
        two_photos = [n for n, rows in by_person.items() if len(rows) >= 2]
        clean = [n for n in two_photos if n in dev_test]
        pool = clean if len(clean) >= size else two_photos
        strangers_pool = sorted(n for n in by_person if n in dev_test) if pool is clean else sorted(by_person)
        result = run_size(vectors, by_person, pool, strangers_pool, size, args.strangers, rng, thresholds)
        result["people_from"] = "peopleDevTest only" if pool is clean else "all of LFW"
        enrolled_people = result.pop("enrolled_people")
        result["enrolled_also_in_calibration_people"] = int(len(set(enrolled_people) & dev_train))
        report["sizes"][str(size)] = result
        print(size, json.dumps(result, indent=1))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
