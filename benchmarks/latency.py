"""Latency benchmark: ``python -m benchmarks.latency [--data ../shared/data/lfw] [--detector mtcnn|yunet|both]``.

Times detection, alignment and embedding separately on three images made from LFW photos — one
250x250 photo, the same photo pasted onto a 640x480 canvas, and a 1280x960 group photo of 20 tiled
photos — as the median and 95th percentile over ``--runs`` calls after a warm-up; embedding
throughput for batches of 1, 8 and 32 with flip test-time augmentation on and off; the whole
detect-align-embed path on the 250x250 photo; and memory. ``mtcnn`` is also timed as the ``mtcnn``
package ships (the "before" figures) next to the pipeline's compiled path. Writes
``reports/latency.json`` (with the machine's cores, load average and library versions, because
other jobs share this machine's CPUs) and prints a summary table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("DATA_DIR", ROOT.parent / "shared" / "data")) / "lfw"
DEFAULT_OUT = ROOT / "reports" / "latency.json"
SINGLE_PHOTO = "Aaron_Peirsol/Aaron_Peirsol_0001.jpg"
GROUP_GRID = (4, 5)  # rows, columns of the 1280x960 group photo
BATCH_SIZES = (1, 8, 32)


# ---------------------------------------------------------------- test images


def lfw_photos(lfw_dir: Path, count: int) -> list[Path]:
    """The first photo of the first ``count`` people, in name order (a fixed, reproducible set)."""
    people = sorted(p for p in (lfw_dir / "images").iterdir() if p.is_dir())
    return [sorted(person.glob("*.jpg"))[0] for person in people[:count]]


def on_canvas(photo: np.ndarray, width: int = 640, height: int = 480) -> np.ndarray:
    """``photo`` pasted in the middle of a black ``width`` x ``height`` canvas (one face, more pixels)."""
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - photo.shape[0]) // 2, (width - photo.shape[1]) // 2
    canvas[top : top + photo.shape[0], left : left + photo.shape[1]] = photo
    return canvas


def group_photo(photos: list[np.ndarray], width: int = 1280, height: int = 960, grid=GROUP_GRID) -> np.ndarray:
    """A group photo: ``rows x cols`` photos resized into equal cells of a ``width`` x ``height`` canvas."""
    rows, cols = grid
    cell_w, cell_h = width // cols, height // rows
    side = min(cell_w, cell_h)
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    for i, photo in enumerate(photos[: rows * cols]):
        r, c = divmod(i, cols)
        top, left = r * cell_h + (cell_h - side) // 2, c * cell_w + (cell_w - side) // 2
        canvas[top : top + side, left : left + side] = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)
    return canvas


def make_images(lfw_dir: Path) -> dict[str, np.ndarray]:
    from face_pipeline import load_image

    single = load_image(lfw_dir / "images" / SINGLE_PHOTO)
    group = group_photo([load_image(p) for p in lfw_photos(lfw_dir, GROUP_GRID[0] * GROUP_GRID[1])])
    return {"250x250": single, "640x480": on_canvas(single), "1280x960_group": group}


def lfw_sample(lfw_dir: Path, count: int, seed: int = 0) -> list[Path]:
    """``count`` LFW photos drawn at random (fixed seed) from all of them."""
    import random

    paths = sorted((lfw_dir / "images").glob("*/*.jpg"))
    return random.Random(seed).sample(paths, min(count, len(paths)))


# ---------------------------------------------------------------- agreement of the fast MTCNN path


def box_iou(a, b) -> float:
    """Intersection over union of two :class:`~face_pipeline.types.BoundingBox`."""
    width = max(0, min(a.x + a.width, b.x + b.width) - max(a.x, b.x))
    height = max(0, min(a.y + a.height, b.y + b.height) - max(a.y, b.y))
    inter = width * height
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union else 0.0


def agreement(fast, reference, images: list[np.ndarray]) -> dict:
    """How closely detector ``fast`` reproduces ``reference`` (same count, box IoU, landmarks, confidence).

    Faces are paired in the detectors' left-to-right order; an image whose counts differ counts as
    a mismatch and adds no pairs."""
    ious, landmarks, confidences, mismatches = [], [], [], 0
    for image in images:
        got, want = fast.detect(image), reference.detect(image)
        if len(got) != len(want):
            mismatches += 1
            continue
        for a, b in zip(got, want):
            ious.append(box_iou(a.box, b.box))
            landmarks.append(float(np.abs(a.landmark_array() - b.landmark_array()).max()))
            confidences.append(abs(a.confidence - b.confidence))
    return {
        "images": len(images),
        "faces": len(ious),
        "count_mismatches": mismatches,
        "min_iou": round(min(ious, default=1.0), 4),
        "mean_iou": round(float(np.mean(ious)) if ious else 1.0, 4),
        "identical_boxes": int(sum(iou == 1.0 for iou in ious)),
        "max_landmark_px": round(max(landmarks, default=0.0), 3),
        "max_confidence_diff": float(max(confidences, default=0.0)),
    }


# ---------------------------------------------------------------- timing


def timed(fn: Callable[[], object], runs: int, warmup: int, label: str = "") -> dict:
    """Median, p95, mean and min in milliseconds of ``runs`` calls after ``warmup`` untimed ones."""
    from tqdm import tqdm

    for _ in range(warmup):
        fn()
    times = []
    for _ in tqdm(range(runs), desc=label, unit="run", leave=False, disable=not label):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    values = np.asarray(times)
    return {
        "median_ms": round(float(np.median(values)), 2),
        "p95_ms": round(float(np.percentile(values, 95)), 2),
        "mean_ms": round(float(values.mean()), 2),
        "min_ms": round(float(values.min()), 2),
        "runs": runs,
    }


def peak_rss_mb() -> float:
    """The process's peak resident memory so far (ru_maxrss is in KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def python_peak_mb(fn: Callable[[], object]) -> float:
    """Peak Python-heap allocation during one call (tracemalloc; TensorFlow's own buffers are not seen)."""
    tracemalloc.start()
    try:
        fn()
        return round(tracemalloc.get_traced_memory()[1] / 2**20, 2)
    finally:
        tracemalloc.stop()


def machine_info() -> dict:
    from importlib.metadata import version

    import tensorflow as tf

    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), platform.processor())
    return {
        "cpu": model,
        "cores_visible": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {"tensorflow": tf.__version__, "mtcnn": version("mtcnn"), "opencv": cv2.__version__,
                     "numpy": np.__version__},
        "tf_threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                       "inter_op": tf.config.threading.get_inter_op_parallelism_threads()},
    }


@contextmanager
def flipping(embedder, flip: bool):
    """Flip test-time augmentation switched for the block, then put back as it was."""
    before = embedder.flip
    embedder.flip = flip
    try:
        yield embedder
    finally:
        embedder.flip = before


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ---------------------------------------------------------------- measurements


def bench_detector(name: str, pipeline, images: dict[str, np.ndarray], runs: int, warmup: int) -> dict:
    """Detection per image, alignment per face, and detect-align-embed on the 250x250 photo."""
    detector = pipeline.detector
    result: dict = {"detector": name, "detection": {}}
    for label, image in images.items():
        stats = timed(lambda image=image: detector.detect(image), runs, warmup, f"{name} detect {label}")
        stats["faces"] = len(detector.detect(image))
        result["detection"][label] = stats
    single = images["250x250"]
    face = detector.detect(single)[0]
    result["alignment_250x250"] = timed(lambda: pipeline.align(single, face), runs, warmup, f"{name} align")
    group = images["1280x960_group"]
    group_faces = detector.detect(group)
    stats = timed(lambda: [pipeline.align(group, f) for f in group_faces], runs, warmup, f"{name} align group")
    stats["faces"] = len(group_faces)
    stats["per_face_ms"] = round(stats["median_ms"] / max(1, len(group_faces)), 3)
    result["alignment_group"] = stats

    def end_to_end(flip: bool) -> Callable[[], object]:
        def run():
            faces = detector.detect(single)
            crops = np.stack([pipeline.align(single, f) for f in faces])
            with flipping(pipeline.embedder, flip):
                return pipeline.embed(crops)

        return run

    result["end_to_end_250x250"] = {
        "flip_on": timed(end_to_end(True), runs, warmup, f"{name} e2e flip"),
        "flip_off": timed(end_to_end(False), runs, warmup, f"{name} e2e"),
    }
    result["python_heap_peak_mb_end_to_end"] = python_peak_mb(end_to_end(True))
    result["peak_rss_mb_after"] = peak_rss_mb()
    return result


def bench_package_mtcnn(images: dict[str, np.ndarray], runs: int, warmup: int, min_face_size: int) -> dict:
    """The ``mtcnn`` package as shipped (eager Keras, one call per pyramid scale): the "before" figures."""
    from mtcnn import MTCNN

    package = MTCNN(device="CPU:0")
    return {
        label: timed(lambda image=image: package.detect_faces(image, min_face_size=min_face_size), runs, warmup,
                     f"package mtcnn {label}")
        for label, image in images.items()
    }


def bench_embedding(pipeline, crop: np.ndarray, runs: int, warmup: int) -> dict:
    """Time per batch, per face and faces per second for each batch size, flip on and off."""
    embedder = pipeline.embedder
    result = {}
    for flip in (False, True):
        rows = {}
        for size in BATCH_SIZES:
            batch = np.repeat(crop[None], size, axis=0)
            with flipping(embedder, flip):
                stats = timed(lambda batch=batch: embedder.embed(batch), runs, warmup,
                              f"embed batch {size} flip {'on' if flip else 'off'}")
            stats["per_face_ms"] = round(stats["median_ms"] / size, 2)
            stats["faces_per_s"] = round(1000.0 * size / stats["median_ms"], 1)
            rows[str(size)] = stats
        result["flip_on" if flip else "flip_off"] = rows
    return result


def detector_changes(images: dict[str, np.ndarray], runs: int, warmup: int) -> list[dict]:
    """Each MTCNN speed change, timed interleaved (one call of each variant in turn) so that the
    other jobs on this machine's CPUs slow every variant alike; medians in milliseconds."""
    from mtcnn import MTCNN

    from face_pipeline.detection.mtcnn_fast import FastMTCNN

    package = MTCNN(device="CPU:0")
    fast = FastMTCNN()
    fast.warm_up()
    steps = [
        ("mtcnn package as shipped (eager Keras per scale)", lambda im: package.detect_faces(im, min_face_size=20)),
        ("package networks in tf.function graphs, resize inside the graph", lambda im: fast.detect(im)),
        ("option: FACE_MIN_FACE_SIZE=40 (drops faces under 40 px)", lambda im: fast.detect(im, min_face_size=40)),
    ]
    rows = [{"change": change} for change, _ in steps]
    for label in ("250x250", "640x480", "1280x960_group"):
        image = images[label]
        times: list[list[float]] = [[] for _ in steps]
        for run in range(warmup + runs):
            for i, (_, fn) in enumerate(steps):
                start = time.perf_counter()
                fn(image)
                if run >= warmup:
                    times[i].append((time.perf_counter() - start) * 1000.0)
        for row, values in zip(rows, times):
            row[label] = round(float(np.median(values)), 1)
    return rows


def agreement_on_lfw(pipeline, lfw_dir: Path, count: int, group: np.ndarray) -> dict:
    """The compiled MTCNN path against the ``mtcnn`` package on ``count`` random LFW photos and the group photo."""
    from tqdm import tqdm

    from face_pipeline import load_image
    from face_pipeline.detection.mtcnn_detector import MTCNNDetector

    settings = pipeline.settings
    options = {"max_image_side": settings.max_image_side, "min_face_size": settings.min_face_size,
               "min_confidence": settings.min_confidence}
    fast, package = MTCNNDetector(fast=True, **options), MTCNNDetector(fast=False, **options)
    photos = [load_image(p) for p in tqdm(lfw_sample(lfw_dir, count), desc="agreement photos", leave=False)]
    return agreement(fast, package, photos + [group])


# ---------------------------------------------------------------- report


def summary_table(report: dict) -> str:
    lines = [f"{'measure':58s} {'median ms':>10s} {'p95 ms':>8s}"]

    def add(label: str, stats: dict) -> None:
        lines.append(f"{label:58s} {stats['median_ms']:10.1f} {stats['p95_ms']:8.1f}")

    for label, stats in report.get("mtcnn_package_detection", {}).items():
        add(f"mtcnn package (before): detect {label}", stats)
    for name, det in report["detectors"].items():
        for label, stats in det["detection"].items():
            add(f"{name}: detect {label} ({stats['faces']} faces)", stats)
        add(f"{name}: align one face", det["alignment_250x250"])
        add(f"{name}: detect+align+embed 250x250, flip on", det["end_to_end_250x250"]["flip_on"])
        add(f"{name}: detect+align+embed 250x250, flip off", det["end_to_end_250x250"]["flip_off"])
    for flip, rows in report["embedding"].items():
        for size, stats in rows.items():
            rate = f"{stats['per_face_ms']} ms/face, {stats['faces_per_s']} faces/s"
            add(f"embed batch {size:>2s} {flip} ({rate})", stats)
    if report.get("mtcnn_agreement"):
        lines.append(f"compiled MTCNN vs package: {json.dumps(report['mtcnn_agreement'])}")
    if report.get("changes"):
        lines.append("")
        lines.append(f"{'MTCNN change (median ms)':58s} {'250':>6s} {'640':>6s} {'1280':>6s}")
        for row in report["changes"]:
            times = " ".join(f"{row[label]:6.1f}" for label in ("250x250", "640x480", "1280x960_group"))
            lines.append(f"{row['change'][:58]:58s} {times}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="LFW folder (with images/)")
    parser.add_argument("--detector", choices=("mtcnn", "yunet", "both"), default="both")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per measurement (at least 50 for the report)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--no-package", action="store_true", help="skip timing the mtcnn package as shipped")
    parser.add_argument("--no-changes", action="store_true", help="skip the per-change MTCNN ablation")
    parser.add_argument("--agreement", type=int, default=200, metavar="N",
                        help="compare the compiled MTCNN path with the package on N random LFW photos (0: skip)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not (args.data / "images").is_dir():
        print(f"error: no LFW images under {args.data / 'images'} (pass --data)", file=sys.stderr)
        return 2
    if args.runs < 1 or args.warmup < 0:
        print("error: --runs must be at least 1 and --warmup at least 0", file=sys.stderr)
        return 2
    from face_pipeline import FacePipeline, PipelineSettings

    report: dict = {
        "command": "python -m benchmarks.latency " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine_info(),
        "load_average_start": load_average(),
        "runs": args.runs,
        "warmup": args.warmup,
        "peak_rss_mb_after_imports": peak_rss_mb(),
    }
    images = make_images(args.data)
    report["images"] = {label: list(image.shape) for label, image in images.items()}
    names = ["mtcnn", "yunet"] if args.detector == "both" else [args.detector]
    report["detectors"] = {}
    pipeline = None
    for name in names:
        started = time.perf_counter()
        # The detector and FaceNet study: FaceNet alone (on its TensorFlow runtime, as this report has
        # always measured it); the served fused path against the peer is benchmarks.latency_peer.
        settings = PipelineSettings(detector=name, embedder="facenet", embedder_runtime="tensorflow")
        pipeline = FacePipeline(settings, embedder=pipeline.embedder if pipeline else None)
        report.setdefault("load_seconds", {})[name] = round(time.perf_counter() - started, 2)
        report["detectors"][name] = bench_detector(name, pipeline, images, args.runs, args.warmup)
    crop = pipeline.align(images["250x250"], pipeline.detect(images["250x250"])[0])
    report["embedding"] = bench_embedding(pipeline, crop, args.runs, args.warmup)
    if "mtcnn" in names and not args.no_package:
        report["mtcnn_package_detection"] = bench_package_mtcnn(
            images, args.runs, args.warmup, pipeline.settings.min_face_size
        )
    if "mtcnn" in names and not args.no_changes:
        report["changes"] = detector_changes(images, max(10, args.runs // 2), args.warmup)
    if "mtcnn" in names and args.agreement > 0:
        report["mtcnn_agreement"] = agreement_on_lfw(pipeline, args.data, args.agreement, images["1280x960_group"])
    report["peak_rss_mb_end"] = peak_rss_mb()
    report["load_average_end"] = load_average()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(summary_table(report))
    print(f"load average start {report['load_average_start']}, end {report['load_average_end']}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
