"""Real fused descriptors of a few hundred LFW photos for the gallery benchmark, computed once with the
shipped pipeline and cached under data/cache/ (never committed): the first photo of each person is
enrolled among the synthetic distractors, the second is the query whose true match is known.

    python -m benchmarks.gallery_faces [--people 150]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LFW = Path("/work/shared/data/lfw/images")
CACHE = ROOT / "data" / "cache" / "gallery_lfw_faces.npz"


def people_with_two(lfw: Path, count: int) -> list[str]:
    names = sorted(
        p.name for p in lfw.iterdir() if all((p / f"{p.name}_{n:04d}.jpg").is_file() for n in (1, 2))
    )
    step = max(len(names) // count, 1)
    return names[::step][:count]


def compute(lfw: Path = LFW, count: int = 150, cache: Path = CACHE) -> dict[str, np.ndarray]:
    from face_pipeline import FacePipeline

    pipeline = FacePipeline()
    names, enrolled, queries = [], [], []
    start = time.perf_counter()
    for name in people_with_two(lfw, count):
        vectors = []
        for number in (1, 2):
            faces = pipeline.process(pipeline.load(lfw / name / f"{name}_{number:04d}.jpg"))
            if not faces:
                break
            best = max(faces, key=lambda f: f.face.box.width * f.face.box.height)
            vectors.append(np.asarray(best.embedding, np.float32))
        if len(vectors) == 2:
            names.append(name)
            enrolled.append(vectors[0])
            queries.append(vectors[1])
    data = {
        "names": np.array(names),
        "enrolled": np.stack(enrolled),
        "queries": np.stack(queries),
        "embedder_version": np.array(pipeline.embedder.full_version),
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **data)
    print(f"{len(names)} people, {time.perf_counter() - start:.0f} s -> {cache}")
    return data


def load(cache: Path = CACHE, count: int = 150) -> dict[str, np.ndarray]:
    if cache.is_file():
        with np.load(cache) as data:
            return {key: data[key] for key in data.files}
    return compute(count=count, cache=cache)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=150)
    args = parser.parse_args()
    compute(count=args.people)


if __name__ == "__main__":
    main()
