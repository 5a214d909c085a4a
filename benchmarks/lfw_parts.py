"""Per-network, per-view embeddings of LFW photos, cached, so that every variant of the recognition
core (FaceNet alone, SFace alone, fused at any weight, with or without mirror averaging, either
detector) is scored from one embedding pass: ``python -m benchmarks.lfw_parts --detector yunet``.

For each photo: the face the photo is about (as ``benchmarks.lfw`` chooses it, the fixed central
box when the detector finds none), then FaceNet's and SFace's unit vectors of the crop and of its
mirror image, each network on its own crop (box crop 160 px, five-point warp 112 px). Kept in
``data/cache/lfw_parts/<detector>-<precision>.npz`` (the OpenVINO compute precision the
pipeline resolved: ``bf16`` by default on a CPU with native bfloat16)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from face_pipeline.pipeline import central_face

from .lfw import DEFAULT_DATA, FALLBACK_BOX, face_from_dict

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "data" / "cache" / "lfw_parts"
PARTS = ("facenet", "facenet_mirror", "sface", "sface_mirror")


def all_images(images_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(images_dir)) for p in images_dir.glob("*/*.jpg"))


def cache_file(detector: str, precision: str, facenet_int8: bool = False) -> Path:
    return CACHE / f"{detector}-{precision}{'-facenet-int8' if facenet_int8 else ''}.npz"


def load_parts(detector: str, precision: str = "auto", facenet_int8: bool | None = None) -> dict[str, np.ndarray]:
    """The cached parts for the pipeline as configured (FACE_FACENET_INT8 when ``facenet_int8`` is None)."""
    from face_pipeline import PipelineSettings
    from face_pipeline.openvino_cache import resolved_precision

    int8 = PipelineSettings().facenet_int8 if facenet_int8 is None else facenet_int8
    with np.load(cache_file(detector, resolved_precision(precision), int8)) as data:
        return {key: data[key] for key in data.files}


def fallback_face(image: np.ndarray):
    """The central box as a face, with landmarks where LFW's deep-funnelled faces have them."""
    face = face_from_dict({"bbox": FALLBACK_BOX})
    x, y, w, h = FALLBACK_BOX["x"], FALLBACK_BOX["y"], FALLBACK_BOX["width"], FALLBACK_BOX["height"]
    template = np.array([[0.31, 0.42], [0.69, 0.42], [0.5, 0.6], [0.35, 0.78], [0.65, 0.78]])
    points = template * [w, h] + [x, y]
    from face_pipeline.types import LANDMARK_NAMES, Face

    return Face(box=face.box, confidence=0.0, landmarks={n: tuple(p) for n, p in zip(LANDMARK_NAMES, points)})


def embed_parts(images_dir: Path, paths: list[str], pipeline, cache_file: Path, batch: int = 64,
                ) -> dict[str, np.ndarray]:
    from tqdm import tqdm

    embedder = pipeline.embedder
    networks = {"facenet": embedder.primary, "sface": embedder.secondary}
    done: dict[str, dict[str, np.ndarray]] = {}
    if cache_file.is_file():
        with np.load(cache_file) as data:
            for i, path in enumerate(data["paths"].tolist()):
                done[path] = {key: data[key][i] for key in (*PARTS, "found")}
    todo = [p for p in paths if p not in done]

    def save() -> None:
        keys = sorted(done)
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        arrays = {key: np.stack([done[k][key] for k in keys]) for key in (*PARTS, "found")}
        np.savez(cache_file, paths=np.array(keys), **arrays)

    for start in tqdm(range(0, len(todo), batch), desc=f"embed {pipeline.detector.name}", unit="batch",
                      disable=not todo):
        chunk = todo[start : start + batch]
        crops = {name: [] for name in networks}
        found = []
        for rel in chunk:
            image = pipeline.load(images_dir / rel)
            chosen = central_face(pipeline.detect(image), image.shape[1], image.shape[0])
            face = chosen if chosen is not None else fallback_face(image)
            found.append(chosen is not None)
            for name, network in networks.items():
                crops[name].append(network.align(image, face))
        for name, network in networks.items():
            stack = np.stack(crops[name])
            flip, network.flip = network.flip, False
            try:
                plain, mirror = network.embed(stack), network.embed(stack[:, :, ::-1, :].copy())
            finally:
                network.flip = flip
            for rel, a, b in zip(chunk, plain, mirror):
                done.setdefault(rel, {})[name], done[rel][f"{name}_mirror"] = a, b
        for rel, ok in zip(chunk, found):
            done[rel]["found"] = np.array(ok)
        if (start // batch) % 10 == 9:
            save()
    if todo:
        save()
    keys = sorted(done)
    return {"paths": np.array(keys), **{key: np.stack([done[k][key] for k in keys]) for key in (*PARTS, "found")}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lfw_parts", description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--detector", choices=("yunet", "mtcnn"), default="yunet")
    parser.add_argument("--precision", choices=("auto", "bf16", "f32"), default="auto")
    parser.add_argument("--facenet-int8", action="store_true", help="FaceNet from the committed int8 model")
    args = parser.parse_args(argv)
    images_dir = Path(args.data) / "images"
    if not images_dir.is_dir():
        print(f"error: no LFW images at {images_dir}", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from face_pipeline import FacePipeline, PipelineSettings
    from face_pipeline.openvino_cache import resolved_precision

    precision = resolved_precision(args.precision)
    pipeline = FacePipeline(PipelineSettings(detector=args.detector, embedder="fused", inference_precision=precision,
                                             facenet_int8=args.facenet_int8))
    parts = embed_parts(images_dir, all_images(images_dir), pipeline,
                        cache_file(args.detector, precision, args.facenet_int8))
    print(f"{len(parts['paths'])} photos, no face found in {int((~parts['found']).sum())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
