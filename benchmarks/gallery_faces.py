"""Real fused descriptors of a few hundred LFW photos for the gallery benchmark, computed once with the
shipped pipeline and cached under data/cache/ (never committed): the first photo of each person is
enrolled among the synthetic distractors, the second is the query whose true match is known. Also the
population sample: one photo each of other LFW people (never the enrolled ones), from which
``benchmarks.gallery --distractors face-like`` fits the distribution its distractors are drawn from.

    python -m benchmarks.gallery_faces [--people 150] [--population 2000] | --all
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LFW = Path("/work/shared/data/lfw/images")
CACHE = ROOT / "data" / "cache" / "gallery_lfw_faces.npz"
POPULATION_CACHE = ROOT / "data" / "cache" / "gallery_lfw_population.npz"
ALL_CACHE = ROOT / "data" / "cache" / "gallery_lfw_all.npz"


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
            vector = largest_face_descriptor(pipeline, lfw / name / f"{name}_{number:04d}.jpg")
            if vector is None:
                break
            vectors.append(vector)
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


def largest_face_descriptor(pipeline, photo: Path) -> np.ndarray | None:
    faces = pipeline.process(pipeline.load(photo))
    if not faces:
        return None
    best = max(faces, key=lambda f: f.face.box.width * f.face.box.height)
    return np.asarray(best.embedding, np.float32)


def compute_population(lfw: Path = LFW, count: int = 2000, cache: Path = POPULATION_CACHE,
                       exclude: set[str] | None = None) -> dict[str, np.ndarray]:
    """Descriptors of the first photo of up to ``count`` LFW people outside ``exclude`` (default: the
    people the gallery benchmark enrols), evenly spread over the alphabet: a sample of "other people"."""
    from face_pipeline import FacePipeline

    exclude = set(people_with_two(lfw, 150)) if exclude is None else exclude
    others = sorted(p.name for p in lfw.iterdir() if p.name not in exclude and (p / f"{p.name}_0001.jpg").is_file())
    step = max(len(others) // count, 1)
    pipeline = FacePipeline()
    names, vectors = [], []
    start = time.perf_counter()
    for name in others[::step][:count]:
        vector = largest_face_descriptor(pipeline, lfw / name / f"{name}_0001.jpg")
        if vector is not None:
            names.append(name)
            vectors.append(vector)
    data = {"names": np.array(names), "vectors": np.stack(vectors),
            "embedder_version": np.array(pipeline.embedder.full_version)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **data)
    print(f"population: {len(names)} people, {time.perf_counter() - start:.0f} s -> {cache}")
    return data


def cached(cache: Path, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays saved in ``cache``, or ``compute()``'s (which saves them there) when it is missing."""
    if cache.is_file():
        with np.load(cache) as data:
            return {key: data[key] for key in data.files}
    return compute()


def load_population(cache: Path = POPULATION_CACHE, count: int = 2000) -> dict[str, np.ndarray]:
    return cached(cache, lambda: compute_population(count=count, cache=cache))


def compute_all(lfw: Path = LFW, cache: Path = ALL_CACHE) -> dict[str, np.ndarray]:
    """Descriptors of every LFW photo (the largest face of each; photos without a face are left out),
    with their person's name and file: a gallery of real faces only, about 12,000 of 5,700 people.
    Why: synthetic distractors, isotropic or face-like, are not real faces; this tells whether what
    an approximate index does among them also happens among real ones, at the size there is here."""
    from face_pipeline import FacePipeline

    pipeline = FacePipeline()
    names, files, vectors = [], [], []
    photos = sorted(lfw.glob("*/*.jpg"))
    start = time.perf_counter()
    for done, photo in enumerate(photos, 1):
        vector = largest_face_descriptor(pipeline, photo)
        if vector is not None:
            names.append(photo.parent.name)
            files.append(photo.name)
            vectors.append(vector)
        if done % 1000 == 0:
            print(f"{done} of {len(photos)} photos, {time.perf_counter() - start:.0f} s", flush=True)
    data = {"names": np.array(names), "files": np.array(files), "vectors": np.stack(vectors),
            "embedder_version": np.array(pipeline.embedder.full_version)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **data)
    print(f"all LFW: {len(names)} of {len(photos)} photos, {time.perf_counter() - start:.0f} s -> {cache}")
    return data


def load_all(cache: Path = ALL_CACHE) -> dict[str, np.ndarray]:
    return cached(cache, lambda: compute_all(cache=cache))


def load(cache: Path = CACHE, count: int = 150) -> dict[str, np.ndarray]:
    return cached(cache, lambda: compute(count=count, cache=cache))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=150)
    parser.add_argument("--population", type=int, default=0,
                        help="also compute the population sample of this many other people (0: skip)")
    parser.add_argument("--all", action="store_true",
                        help="only compute the descriptors of every LFW photo (benchmarks.gallery --real-gallery)")
    args = parser.parse_args()
    if args.all:
        compute_all()
        return
    compute(count=args.people)
    if args.population:
        compute_population(count=args.population, exclude=set(people_with_two(LFW, args.people)))


if __name__ == "__main__":
    main()
