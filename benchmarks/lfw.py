"""LFW View 2 verification benchmark: ``python -m benchmarks.lfw --data ../shared/data/lfw``.

Detections and embeddings are cached under ``data/cache/lfw`` (keyed by detector and by every
option that changes a vector), so a rerun, or a run that only changes the alignment, is quick.
Writes ``reports/lfw.json`` and ``reports/lfw_roc.png``."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from face_pipeline.evaluation import evaluate, read_pairs

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("DATA_DIR", ROOT.parent / "shared" / "data")) / "lfw"
# Where the deep-funneled LFW face sits when no detector finds it (250x250 images).
FALLBACK_BOX = {"x": 70, "y": 60, "width": 110, "height": 110}


def choose_face(faces: list[dict], width: int, height: int) -> dict | None:
    """The face the pair is about: LFW centres it, so the detection nearest the centre wins,
    larger faces breaking near-ties (a face in the background is small and off-centre)."""
    if not faces:
        return None

    def cost(face: dict) -> float:
        box = face["bbox"]
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        return float(np.hypot(cx - width / 2, cy - height / 2)) - 0.25 * box["width"]

    return min(faces, key=cost)


def load_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def detect_all(images_dir: Path, paths: list[str], pipeline, cache_file: Path) -> dict[str, list[dict]]:
    """Every face of every image, from the cache where present."""
    from tqdm import tqdm

    cache = load_json(cache_file)
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    todo = [p for p in paths if p not in cache]
    for i, rel in enumerate(tqdm(todo, desc="detect", unit="img", disable=not todo)):
        image = pipeline.load(images_dir / rel)
        cache[rel] = [face.to_dict() for face in pipeline.detect(image)]
        if (i + 1) % 500 == 0:
            cache_file.write_text(json.dumps(cache))
    if todo:
        cache_file.write_text(json.dumps(cache))
    return cache


def face_from_dict(data: dict):
    from face_pipeline.types import BoundingBox, Face

    landmarks = {k: tuple(v) for k, v in data.get("landmarks", {}).items()}
    return Face(box=BoundingBox(**data["bbox"]), confidence=float(data.get("confidence", 0.0)), landmarks=landmarks)


def embed_all(images_dir: Path, paths: list[str], detections: dict, pipeline, align: str, margin: int,
              cache_file: Path, batch_size: int = 32) -> tuple[dict[str, np.ndarray], dict]:
    """Embedding of the chosen face of each image; returns vectors and embedding statistics."""
    from tqdm import tqdm

    from face_pipeline.alignment import align_face

    cached: dict[str, np.ndarray] = {}
    if cache_file.is_file():
        with np.load(cache_file) as data:
            cached = dict(zip(data["paths"].tolist(), data["vectors"]))
    todo = [p for p in paths if p not in cached]
    embed_seconds, embedded = 0.0, 0
    for start in tqdm(range(0, len(todo), batch_size), desc="embed", unit="batch", disable=not todo):
        batch = todo[start : start + batch_size]
        crops = []
        for rel in batch:
            image = pipeline.load(images_dir / rel)
            height, width = image.shape[:2]
            chosen = choose_face(detections[rel], width, height)
            face = face_from_dict(chosen or {"bbox": FALLBACK_BOX})
            mode = align if chosen is not None else "box"
            crops.append(align_face(image, face, size=pipeline.embedder.input_size, mode=mode, margin=margin))
        started = time.perf_counter()
        vectors = pipeline.embed(np.stack(crops))
        embed_seconds += time.perf_counter() - started
        embedded += len(batch)
        cached.update(zip(batch, vectors))
    if todo:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(cached)
        np.savez(cache_file, paths=np.array(keys), vectors=np.stack([cached[k] for k in keys]))
    stats_file = cache_file.with_suffix(".stats.json")
    if embedded:
        stats = {"faces_embedded": embedded, "embed_seconds": round(embed_seconds, 2),
                 "faces_per_second": round(embedded / embed_seconds, 1), "batch_size": batch_size,
                 "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
                 "note": "embedder time only (both passes when mirror averaging is on), "
                         "measured when the cache was built"}
        stats_file.write_text(json.dumps(stats, indent=2))
    else:
        stats = load_json(stats_file) or {"note": "all embeddings came from the cache; its build was not timed"}
    return cached, stats


def plot_roc(scores: np.ndarray, labels: np.ndarray, title: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(fpr, tpr)
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> dict:
    from face_pipeline import FacePipeline, PipelineSettings

    data = Path(args.data)
    pairs_file = data / args.pairs
    if not pairs_file.is_file():
        raise SystemExit(f"error: {pairs_file} not found: pass --data pointing at the LFW folder")
    images_dir = data / "images"
    pairs = read_pairs(pairs_file)
    paths = sorted({p.first for p in pairs} | {p.second for p in pairs})
    settings = PipelineSettings(detector=args.detector, flip_embeddings=not args.no_flip)
    pipeline = FacePipeline(settings)
    cache_dir = Path(args.cache_dir)
    det_key = f"{args.detector}-min{settings.min_face_size}-conf{settings.min_confidence}"
    detections = detect_all(images_dir, paths, pipeline, cache_dir / f"detections-{det_key}.json")
    variant = f"{det_key}|{args.align}|{args.margin}|{pipeline.embedder.full_version}"
    emb_key = hashlib.sha1(variant.encode()).hexdigest()[:12]
    vectors, embed_stats = embed_all(images_dir, paths, detections, pipeline, args.align, args.margin,
                                     cache_dir / f"embeddings-{emb_key}.npz")

    scores = np.array([float(np.dot(vectors[p.first], vectors[p.second])) for p in pairs])
    labels = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    metrics = evaluate(scores, labels, folds)
    no_face = [p for p in paths if not detections[p]]
    report = {
        "benchmark": "LFW verification",
        "protocol": f"{args.pairs}: {len(set(folds.tolist()))} folds, each fold's threshold chosen on the others",
        "command": "python -m benchmarks.lfw " + " ".join(sys.argv[1:]),
        "pipeline": {"detector": args.detector, "alignment": args.align, "margin_px": args.margin,
                     "embedder": pipeline.embedder.full_version, "flip_average": not args.no_flip,
                     "min_face_size": settings.min_face_size, "min_confidence": settings.min_confidence},
        "pairs": len(pairs),
        "images": len(paths),
        "images_without_face": len(no_face),
        "images_without_face_handling": f"embedded from a fixed central box {FALLBACK_BOX} (LFW centres the face)",
        "images_without_face_list": no_face[:50],
        **{k: round(v, 5) if isinstance(v, float) else v for k, v in metrics.items()},
        "embedding_throughput": embed_stats,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    if not args.no_plot:
        title = f"LFW {args.pairs}: acc {metrics['accuracy_mean'] * 100:.2f}%"
        plot_roc(scores, labels, title, out.with_name(out.stem + "_roc.png"))
    if args.write_calibration:
        calibration = {
            "embedder": pipeline.embedder.full_version,
            "threshold": round(metrics["threshold_all_pairs"], 4),
            "source": (f"accuracy-optimal cosine threshold on all {len(pairs)} LFW View 2 pairs "
                       f"({args.detector} detector, {args.align} alignment, margin {args.margin}); "
                       f"10-fold accuracy {metrics['accuracy_mean'] * 100:.2f}%; made by: {report['command']}"),
        }
        (ROOT / "face_pipeline" / "data" / "calibration.json").write_text(json.dumps(calibration, indent=2) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lfw", description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="LFW folder with images/ and pairs.txt")
    parser.add_argument("--pairs", default="pairs.txt", help="pairs file inside --data (pairsDevTest.txt for View 1)")
    parser.add_argument("--detector", choices=("mtcnn", "yunet"), default="mtcnn")
    parser.add_argument("--align", choices=("box", "box_level", "landmarks"), default="box")
    parser.add_argument("--margin", type=int, default=16, help="pixels added on each side of the box")
    parser.add_argument("--no-flip", action="store_true", help="do not average with the mirror image's embedding")
    parser.add_argument("--cache-dir", default=str(ROOT / "data" / "cache" / "lfw"))
    parser.add_argument("--out", default=str(ROOT / "reports" / "lfw.json"))
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--write-calibration", action="store_true",
                        help="store the all-pairs threshold as the package's calibrated threshold")
    args = parser.parse_args(argv)
    report = run(args)
    print(json.dumps({k: report[k] for k in ("accuracy_mean", "accuracy_std", "tar_at_far_1e-3", "tar_at_far_1e-2",
                                             "roc_auc", "images_without_face", "threshold_all_pairs")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
