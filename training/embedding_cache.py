"""Embeddings of face photos for the trainers, cached under ``data/cache/embeddings`` so a rerun
(or another trainer on the same photos) does not detect and embed again.

One face per photo: the detection the photo is about (nearest the centre, larger breaking ties,
as in ``benchmarks.lfw``), described by the pipeline's own ``describe`` (each network aligning its
own crop) so training sees exactly what serving sees. Photos where no face is found are skipped
and counted."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from face_pipeline.pipeline import central_face

log = logging.getLogger(__name__)


def cache_key(pipeline) -> str:
    settings = getattr(pipeline, "settings", None)
    parts = [pipeline.embedder.full_version, str(getattr(pipeline, "align_mode", "box")),
             str(getattr(settings, "detector", "")), str(getattr(settings, "min_face_size", "")),
             str(getattr(settings, "min_confidence", ""))]
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:12]


class EmbeddingCache:
    """Path -> (embedding, crop) cache for one pipeline configuration."""

    def __init__(self, pipeline, cache_dir: Path, keep_crops: bool = False) -> None:
        self.pipeline = pipeline
        self.keep_crops = keep_crops
        self.dim = int(pipeline.embedder.dim)
        self.file = Path(cache_dir) / "embeddings" / f"faces-{cache_key(pipeline)}.npz"
        self.vectors: dict[str, np.ndarray] = {}
        self.no_face: set[str] = set()
        if self.file.is_file():
            with np.load(self.file) as data:
                self.vectors = dict(zip(data["paths"].tolist(), data["vectors"]))
                self.no_face = set(data["no_face"].tolist()) if "no_face" in data else set()

    def save(self) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(self.vectors)
        vectors = np.stack([self.vectors[k] for k in keys]) if keys else np.zeros((0, self.dim), np.float32)
        tmp = self.file.with_suffix(".tmp.npz")
        no_face = np.array(sorted(self.no_face), dtype=str)
        np.savez(tmp, paths=np.array(keys, dtype=str), vectors=vectors, no_face=no_face)
        tmp.replace(self.file)

    def embed(self, paths: Sequence[Path | str], batch_size: int = 16, progress: bool = True,
              ) -> tuple[list[str], np.ndarray]:
        """Embeddings of the photos where a face was found: (kept paths, ``(N, dim)`` float32)."""
        from tqdm import tqdm

        keys = [str(Path(p).resolve()) for p in paths]
        todo = [k for k in dict.fromkeys(keys) if k not in self.vectors and k not in self.no_face]
        for start in tqdm(range(0, len(todo), batch_size), desc="embed", unit="batch",
                          disable=not (progress and todo)):
            for key in todo[start : start + batch_size]:
                try:
                    image = self.pipeline.load(key)
                except Exception as exc:  # noqa: BLE001 - an unreadable photo is skipped, not fatal
                    log.warning("skipping %s: %s", key, exc)
                    self.no_face.add(key)
                    continue
                face = central_face(self.pipeline.detect(image), image.shape[1], image.shape[0])
                if face is None:
                    self.no_face.add(key)
                    continue
                self.vectors[key] = self.pipeline.describe(image, [face])[0].embedding
            if (start // batch_size) % 20 == 19:
                self.save()
        if todo:
            self.save()
        kept = [k for k in keys if k in self.vectors]
        if not kept:
            return kept, np.zeros((0, self.dim), np.float32)
        return kept, np.stack([self.vectors[k] for k in kept]).astype(np.float32)
