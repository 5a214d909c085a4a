"""Detect, align and embed UTKFace photos once, cache each file's result, and write a manifest.

UTKFace's ``crop_part1`` photos are already tight 200x200 faces, so MTCNN sometimes finds nothing
(the face fills the frame). Then the photo is padded by a replicated border and detection retried;
if that fails too the whole photo is used as the face box. Each outcome is counted
(``detect_status``: ``detected`` / ``padded`` / ``whole_image``).

Cache (one ``.npz`` per photo, so an interrupted run resumes where it stopped):
``<cache>/utkface/<embedder-key>/<file>.npz`` with ``crop`` ((160,160,3) uint8, aligned exactly as the
API aligns faces), ``embedding`` ((512,) float32: the pipeline's own ``embed`` output, which is the
mean of the photo's and its mirror image's FaceNet embeddings, unit-normalised — the same vector the
API hands to the model), ``features`` ((2688,) float16: the embedder's pooled inner activations from
the same passes, :meth:`~face_pipeline.embedding.Embedder.embed_with_features`; entries cached
before features existed get them from their crop on first use), ``status`` and ``n_faces``. The
key includes the embedder version and the alignment mode, so changing either re-computes everything
instead of mixing vectors."""

from __future__ import annotations

import csv
import hashlib
import logging
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from . import utk

log = logging.getLogger(__name__)
PAD_FRACTION = 0.25
MANIFEST_NAME = "manifest.csv"
MANIFEST_FIELDS = ("file", "age", "gender", "race", "split", "detect_status", "n_faces")


@dataclass
class PreparedFace:
    crop: np.ndarray
    embedding: np.ndarray
    status: str
    n_faces: int
    features: np.ndarray | None = None


def cache_key(pipeline) -> str:
    settings = getattr(pipeline, "settings", None)
    runtime = (f"{getattr(settings, 'embedder_runtime', '')}|{getattr(settings, 'inference_precision', '')}"
               f"{'|int8' if getattr(settings, 'facenet_int8', False) else ''}")
    version = f"{pipeline.embedder.attribute_version}|{pipeline.align_mode}|{pipeline.detector.name}|{runtime}"
    slug = re.sub(r"[^A-Za-z0-9]+", "-", pipeline.embedder.attribute_version).strip("-")[:40]
    return f"{slug}-{hashlib.sha256(version.encode()).hexdigest()[:10]}"


def cache_folder(cache_root: Path, pipeline, dataset: str = "utkface") -> Path:
    """Where one data set's prepared photos are cached (``<cache>/<dataset>/<embedder-key>``): one
    folder per set, so file names of two sets never meet."""
    return Path(cache_root) / dataset / cache_key(pipeline)


def _largest(faces):
    return max(faces, key=lambda f: f.box.width * f.box.height)


def align_utk(pipeline, image: np.ndarray) -> tuple[np.ndarray, str, int]:
    """The aligned crop of the photo's face, how it was found, and how many faces the detector saw."""
    faces = pipeline.detect(image)
    if faces:
        return pipeline.align(image, _largest(faces)), "detected", len(faces)
    pad = int(round(max(image.shape[:2]) * PAD_FRACTION))
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    faces = pipeline.detect(padded)
    if faces:
        return pipeline.align(padded, _largest(faces)), "padded", len(faces)
    from face_pipeline.types import BoundingBox, Face

    height, width = image.shape[:2]
    whole = Face(box=BoundingBox(0, 0, width, height), confidence=0.0, landmarks={})
    return pipeline.align(image, whole), "whole_image", 0


def load_cached(path: Path) -> PreparedFace | None:
    try:
        with np.load(path) as data:
            features = data["features"].astype(np.float32) if "features" in data.files else None
            return PreparedFace(crop=data["crop"], embedding=data["embedding"], status=str(data["status"]),
                                n_faces=int(data["n_faces"]), features=features)
    except (OSError, KeyError, ValueError, EOFError):
        return None


def _save(path: Path, face: PreparedFace) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    extra = {} if face.features is None else {"features": np.asarray(face.features, np.float16)}
    np.savez_compressed(tmp, crop=face.crop, embedding=face.embedding.astype(np.float32),
                        status=np.array(face.status), n_faces=np.array(face.n_faces), **extra)
    tmp.replace(path)


def _progress_bar(total: int, desc: str, enabled: bool):
    """A tqdm bar, silent when disabled or when there is nothing to do (so callers need no checks)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", mininterval=5.0, disable=not (enabled and total))


def prepare_files(pipeline, src: Path, files: list[str], cache: Path, batch_size: int = 32,
                  progress: bool = True) -> dict[str, PreparedFace]:
    """Prepare (or read from the cache) every file; unreadable photos are left out and logged."""
    from face_pipeline import ImageError

    cache.mkdir(parents=True, exist_ok=True)
    results: dict[str, PreparedFace] = {}
    todo = []
    for name in files:
        cached = load_cached(cache / f"{name}.npz")
        if cached is not None:
            results[name] = cached
        else:
            todo.append(name)
    bar = _progress_bar(len(todo), "align+embed", progress)
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        crops, meta = [], []
        for name in batch:
            try:
                image = pipeline.load(Path(src) / name)
            except ImageError as exc:
                log.warning("skipping %s: %s", name, exc)
                continue
            crop, status, n_faces = align_utk(pipeline, image)
            crops.append(crop)
            meta.append((name, status, n_faces))
        if crops:
            embeddings, features = pipeline.embed_with_features(np.stack(crops))
            for crop, embedding, feature, (name, status, n_faces) in zip(crops, embeddings, features, meta):
                face = PreparedFace(crop=crop, embedding=embedding, status=status, n_faces=n_faces,
                                    features=feature.astype(np.float16).astype(np.float32))
                _save(cache / f"{name}.npz", face)
                results[name] = face
        bar.update(len(batch))
    bar.close()
    return results


def write_manifest(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def read_manifest(path: Path) -> list[dict]:
    with Path(path).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["age"], row["gender"], row["race"] = int(row["age"]), int(row["gender"]), int(row["race"])
        row["n_faces"] = int(row["n_faces"])
    return rows


def prepare(pipeline, src: Path, out: Path, cache_root: Path, test_split: Path | None = None, seed: int = 42,
            limit: int | None = None, val_fraction: float = 0.1, progress: bool = True) -> dict:
    """Scan ``src``, split, align/embed (cached) and write ``out/manifest.csv``; returns a summary.

    ``limit`` keeps the first N well-formed names of each split in proportion (for small runs); the
    fixed test list is applied before limiting, so a small run never trains on test photos either."""
    src = Path(src)
    labels, malformed = utk.scan_folder(src)
    if not labels:
        raise ValueError(f"no UTKFace-named images in {src}")
    test_files = utk.read_split_file(test_split) if test_split else None
    splits = utk.assign_splits([label.file for label in labels], test_files, seed=seed, val_fraction=val_fraction)
    if limit is not None and limit < len(labels):
        import random

        shuffled = labels[:]
        random.Random(seed).shuffle(shuffled)
        labels = sorted(shuffled[:limit], key=lambda label: label.file)
    cache = cache_folder(cache_root, pipeline)
    faces = prepare_files(pipeline, src, [label.file for label in labels], cache, progress=progress)
    rows = [{"file": label.file, "age": label.age, "gender": label.gender, "race": label.race,
             "split": splits[label.file], "detect_status": faces[label.file].status,
             "n_faces": faces[label.file].n_faces} for label in labels if label.file in faces]
    manifest = Path(out) / MANIFEST_NAME
    write_manifest(manifest, rows)
    summary = {
        "src": str(src), "manifest": str(manifest), "cache": str(cache), "images": len(rows),
        "malformed_skipped": len(malformed), "malformed_examples": malformed[:5],
        "unreadable_skipped": len(labels) - len(rows),
        "test_split_file": str(test_split) if test_split else None,
        "splits": dict(Counter(row["split"] for row in rows)),
        "detect_status": dict(Counter(row["detect_status"] for row in rows)),
    }
    return summary


def add_features(pipeline, cache: Path, files: list[str], batch_size: int = 32, progress: bool = True) -> int:
    """Give cached entries made before features existed their features (from the cached crop, so
    nothing is detected again); returns how many were added."""
    missing = []
    for name in files:
        face = load_cached(Path(cache) / f"{name}.npz")
        if face is not None and face.features is None:
            missing.append(name)
    bar = _progress_bar(len(missing), "features", progress)
    for start in range(0, len(missing), batch_size):
        batch = missing[start:start + batch_size]
        faces = [load_cached(Path(cache) / f"{name}.npz") for name in batch]
        _, features = pipeline.embed_with_features(np.stack([face.crop for face in faces]))
        for name, face, feature in zip(batch, faces, features):
            face.features = feature
            _save(Path(cache) / f"{name}.npz", face)
        bar.update(len(batch))
    bar.close()
    return len(missing)


def load_arrays(rows: list[dict], cache: Path, pixel_size: int | None = None,
                features: bool = False) -> dict[str, np.ndarray]:
    """The manifest rows as arrays: embeddings, ages, genders, crops resized to ``pixel_size``
    (None: no crops, 160: as cached) and, with ``features``, the embedder's inner features."""
    embeddings = np.zeros((len(rows), 512), np.float32)
    crops = None if pixel_size is None else np.zeros((len(rows), pixel_size, pixel_size, 3), np.uint8)
    inner = [] if features else None
    for i, row in enumerate(rows):
        face = load_cached(Path(cache) / f"{row['file']}.npz")
        if face is None:
            raise FileNotFoundError(f"{row['file']} is not in the cache {cache}: run scripts.prepare_utk_face first")
        embeddings[i] = face.embedding
        if inner is not None:
            if face.features is None:
                raise FileNotFoundError(f"{row['file']} has no features in the cache {cache}: "
                                        "run scripts.prepare_utk_face again")
            inner.append(face.features)
        if crops is not None:
            crop = face.crop
            if crop.shape[0] != pixel_size:
                crop = cv2.resize(crop, (pixel_size, pixel_size), interpolation=cv2.INTER_AREA)
            crops[i] = crop
    return {"embedding": embeddings, "crop": crops,
            "features": None if inner is None else np.stack(inner).astype(np.float32),
            "age": np.array([row["age"] for row in rows], np.float32),
            "gender": np.array([row["gender"] for row in rows], np.float32)}
