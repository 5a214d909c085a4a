"""Gallery engines at scale: exact (numpy), HNSW (usearch, f16 and i8) and Milvus Lite, on synthetic
640-D unit vectors with real LFW faces enrolled among them (benchmarks/gallery_faces.py), queried with a
second photo of each enrolled person. Per engine and size: build time, restart time, top-1 / top-10
latency p50/p95 (one query at a time, per-person grouping included), recall@10 against exact search,
real top-1 agreement with exact, memory. Plus the SQL path on SQLite (reconcile from the database, one
incremental add, restart from the snapshot). Writes reports/gallery.json and reports/gallery.png.

    nice -n 10 python -m benchmarks.gallery --sizes 10000 100000 [--engines exact hnsw-f16 hnsw-i8 milvus]
        [--expansion-add 128] [--ef-search 64 128 256] [--keep-index DIR] [--append]

HNSW engines are built once per size and then searched at every ``--ef-search`` value (usearch changes the
search beam on a built graph): the row's own figures are for the first value, ``by_ef_search`` has all.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import psutil

from api.services.gallery import candidates, group_by_person
from api.services.gallery_engines import ExactIndex, FaceIndex, HnswIndex, MilvusIndex
from api.services.vectors import normalize_rows

from .gallery_faces import load as load_faces
from .gallery_faces import load_all, load_population

ROOT = Path(__file__).resolve().parents[1]
DIM = 640
PROCESS = psutil.Process()


def rss() -> int:
    return PROCESS.memory_info().rss


def cpu_seconds() -> float:
    """CPU time of this process (all threads): the build's work, whatever else shares the cores."""
    times = PROCESS.cpu_times()
    return times.user + times.system


def milvus_rss() -> int:
    return sum(c.memory_info().rss for c in PROCESS.children(recursive=True) if "milvus" in c.name().lower())


def synthetic(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((count, DIM), np.float32)
    for start in range(0, count, 100_000):
        block = rng.standard_normal((min(100_000, count - start), DIM), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + len(block)] = block
    return out


class FaceLike:
    """Distractors drawn from a Gaussian fitted to real descriptors of other people (mean and a
    shrunk covariance), then unit-normalised: a million made-up people spread the way real faces are.
    Why: isotropic vectors fill all 640 dimensions evenly, the hardest case for a graph index and
    unlike any face gallery; real descriptors share a mean direction and most of their variance lies
    in a few hundred directions. Both are reported; neither is a measured million real faces."""

    def __init__(self, population: np.ndarray, shrinkage: float = 0.05) -> None:
        units = population / np.linalg.norm(population, axis=1, keepdims=True)
        self.mean = units.mean(axis=0)
        covariance = np.cov(units, rowvar=False)
        covariance = (1 - shrinkage) * covariance + shrinkage * np.trace(covariance) / DIM * np.eye(DIM)
        values, vectors = np.linalg.eigh(covariance)
        self.transform = (vectors * np.sqrt(np.clip(values, 0, None))).T.astype(np.float32)
        self.fitted_on = len(population)

    def __call__(self, count: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        out = np.empty((count, DIM), np.float32)
        for start in range(0, count, 100_000):
            block = rng.standard_normal((min(100_000, count - start), DIM), dtype=np.float32) @ self.transform
            block += self.mean
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            out[start : start + len(block)] = block
        return out


def gallery(size: int, faces: dict, draw=synthetic) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ids, owners, vectors)``: the real faces first (person 1..R), then distractors, one face each
    (``draw(count, seed)``: isotropic by default, or ``FaceLike``)."""
    real = faces["enrolled"] / np.linalg.norm(faces["enrolled"], axis=1, keepdims=True)
    distractors = draw(size - len(real), seed=size)
    vectors = np.concatenate([real.astype(np.float32), distractors])
    ids = np.arange(1, size + 1, dtype=np.int64)
    return ids, ids.copy(), vectors


def percentiles(values: list[float]) -> dict:
    ms = np.array(values) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p95_ms": round(float(np.percentile(ms, 95)), 3)}


class ExactStore:
    """The exact float32 vectors in an SQLite table, read back by id: what ``Gallery`` does from its
    database to re-score a lossy (int8) index's candidates, so the re-ranking's cost is in the timings."""

    def __init__(self, folder: Path, ids: np.ndarray, vectors: np.ndarray) -> None:
        import sqlite3

        self._db = sqlite3.connect(str(folder / "exact.sqlite"), check_same_thread=False)
        self._db.execute("CREATE TABLE faces (id INTEGER PRIMARY KEY, vector BLOB NOT NULL)")
        for at in range(0, len(ids), 50_000):
            self._db.executemany("INSERT INTO faces VALUES (?, ?)", zip(
                map(int, ids[at : at + 50_000]), (v.tobytes() for v in vectors[at : at + 50_000].astype(np.float32))))
        self._db.commit()

    def rescore(self, query: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One query's candidate ``ids`` re-ranked by their exact inner product, best first."""
        wanted = [int(i) for i in ids if i >= 0]
        rows = self._db.execute(f"SELECT id, vector FROM faces WHERE id IN ({','.join('?' * len(wanted))})",
                                wanted).fetchall()
        found = np.array([r[0] for r in rows], np.int64)
        scores = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), DIM) @ query
        order = np.argsort(-scores, kind="stable")
        return found[order], scores[order]

    def close(self) -> None:
        self._db.close()


def timed_searches(index: FaceIndex, queries: np.ndarray, k: int, owners_of,
                   store: ExactStore | None = None) -> tuple[list[float], list]:
    times, found = [], []
    want = candidates(k, index.lossy)
    for query in queries:
        start = time.perf_counter()
        ids, scores = index.search(query[None], want)
        if store is not None:
            found_ids, found_scores = store.rescore(query, ids[0])
            ids, scores = found_ids[None], found_scores[None]
        best = group_by_person(ids[0], scores[0], owners_of, k)
        times.append(time.perf_counter() - start)
        found.append([p for p, _ in best])
    return times, found


def open_index(engine: str, folder: Path, expansion_add: int = 128, ef_search: int = 64,
               connectivity: int = 16) -> FaceIndex:
    if engine == "exact":
        return ExactIndex(DIM)
    if engine.startswith("hnsw-"):
        return HnswIndex(DIM, dtype=engine.split("-")[1], threads=os.cpu_count() or 1, expansion_add=expansion_add,
                         expansion_search=ef_search, connectivity=connectivity)
    return MilvusIndex(str(folder / "bench.milvus.db"), DIM, collection_prefix="bench", space="bench")


def measure(index: FaceIndex, queries: np.ndarray, exact: dict, store: ExactStore | None = None) -> dict:
    """Top-1 and top-10 latency, recall@10 against exact search and real top-1 answers, as searched now
    (a lossy index's candidates re-scored from ``store``, as the gallery does from SQL)."""

    def owners_of(found: np.ndarray) -> np.ndarray:
        return found  # one face per person here: face id == person id

    index.search(queries[:5], 10)  # warm
    top1_times, top1 = timed_searches(index, queries, 1, owners_of, store)
    top10_times, top10 = timed_searches(index, queries, 10, owners_of, store)
    recall = float(np.mean([len(set(f) & set(e)) / 10 for f, e in zip(top10, exact["top10"])]))
    agreement = float(np.mean([f[:1] == e[:1] for f, e in zip(top1, exact["top1"])]))
    correct = float(np.mean([f[:1] == [i + 1] for i, f in enumerate(top1)]))
    return {"top1": percentiles(top1_times), "top10": percentiles(top10_times),
            "recall_at_10_vs_exact": round(recall, 4), "top1_agrees_with_exact": round(agreement, 4),
            "real_top1_correct": round(correct, 4), **what_was_missed(top10, exact)}


def what_was_missed(top10: list[list[int]], exact: dict) -> dict:
    """Which of the exact top-10 the index missed: real faces (ids 1..R) or synthetic distractors,
    and the best exact score among them. Why: at 1M, isotropic distractors' extreme tail (cosine about
    0.2 with any query) reaches the lower ranks of the exact top-10, and no graph search finds such
    points short of scanning; this tells those misses apart from missed real faces."""
    real = exact["real"]
    missed = [(face, exact["scores"][q][face]) for q, (found, truth) in enumerate(zip(top10, exact["top10"]))
              for face in set(truth) - set(found)]
    real_in_truth = sum(1 for truth in exact["top10"] for face in truth if face <= real)
    real_missed = sum(1 for face, _ in missed if face <= real)
    return {"recall_at_10_of_real_faces": round(1 - real_missed / max(real_in_truth, 1), 4),
            "missed": len(missed), "missed_synthetic": len(missed) - real_missed,
            "best_missed_score": round(max((score for _, score in missed), default=float("nan")), 4)}


def run_engine(engine: str, size: int, data: tuple, queries: np.ndarray, exact: dict, folder: Path,
               expansion_add: int = 128, ef_search: tuple[int, ...] = (64,), keep: Path | None = None,
               connectivity: int = 16) -> dict:
    ids, owners, vectors = data
    gc.collect()
    before, before_milvus = rss(), milvus_rss()
    start, start_cpu = time.perf_counter(), cpu_seconds()
    index = open_index(engine, folder, expansion_add, ef_search[0], connectivity)
    stem = f"bench-{engine}-{size}-ea{expansion_add}" + ("" if connectivity == 16 else f"-m{connectivity}")
    reused = keep is not None and engine.startswith("hnsw-") and index.load(keep / stem) and len(index) == size
    if reused:  # a graph an earlier run kept: measured again (other beams, re-scoring), not rebuilt
        print(f"{engine} {size}: reusing {keep / stem}.usearch", file=sys.stderr, flush=True)
    else:
        index.clear()
        for at in range(0, size, 50_000):
            index.add(ids[at : at + 50_000], vectors[at : at + 50_000], owners[at : at + 50_000])
            if size >= 500_000:
                print(f"{engine} {size}: {at + 50_000} added, {time.perf_counter() - start:.0f} s, "
                      f"load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
    build, build_cpu = time.perf_counter() - start, cpu_seconds() - start_cpu
    memory = rss() - before
    extra = {"connectivity": connectivity, "reused_graph": reused}
    store = ExactStore(folder, ids, vectors) if index.lossy else None
    if store is not None:
        extra["rescored_from"] = "SQLite table of the exact float32 vectors (as Gallery does from SQL)"
    if isinstance(index, HnswIndex):
        extra["usearch_memory_bytes"] = int(index._index.memory_usage)
    if isinstance(index, MilvusIndex):
        extra["milvus_server_rss_bytes"] = milvus_rss() - before_milvus

    if isinstance(index, HnswIndex):
        extra["expansion_add"] = expansion_add
        sweep = []
        for ef in ef_search:
            index.expansion_search = ef
            sweep.append({"expansion_search": ef, **measure(index, queries, exact, store)})
            print(json.dumps({"engine": engine, "size": size, "expansion_add": expansion_add, **sweep[-1]}),
                  flush=True)
        index.expansion_search = ef_search[0]
        figures = {k: v for k, v in sweep[0].items() if k != "expansion_search"}
        extra["expansion_search"] = ef_search[0]
        extra["by_ef_search"] = sweep
    else:
        figures = measure(index, queries, exact, store)

    # Restart: what a new process does to get this index back.
    start = time.perf_counter()
    if isinstance(index, MilvusIndex):
        index.close()
        index = MilvusIndex(str(folder / "bench.milvus.db"), DIM, collection_prefix="bench", space="bench")
        index.search(queries[:1], 1)
        restart = time.perf_counter() - start
        size_on_disk = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        save = None
    else:
        path = (keep or folder) / stem
        path.parent.mkdir(parents=True, exist_ok=True)
        index.save(path)
        save = time.perf_counter() - start
        file = next(path.parent.glob(f"{path.name}.*"))
        size_on_disk = file.stat().st_size
        del index
        gc.collect()
        start = time.perf_counter()
        index = open_index(engine, folder, expansion_add, ef_search[0], connectivity)
        index.load(path)
        index.search(queries[:1], 1)
        restart = time.perf_counter() - start
        if keep is None:
            file.unlink()
        else:
            extra["kept_index"] = str(file)
    index.close()
    if store is not None:
        store.close()
    del index
    gc.collect()
    result = {
        "engine": engine, "size": size, "build_s": None if reused else round(build, 2),
        "build_cpu_s": None if reused else round(build_cpu, 1),
        "restart_s": round(restart, 3),
        "snapshot_write_s": None if save is None else round(save, 2), "on_disk_bytes": int(size_on_disk),
        **figures, "process_rss_growth_bytes": int(memory), **extra,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result), flush=True)
    return result


def exact_truth(data: tuple, queries: np.ndarray, real: int) -> dict:
    """The exact top-10 of each query with their scores; ids 1..``real`` are the real faces."""
    _, _, vectors = data
    scores = queries @ vectors.T
    order = np.argsort(-scores, axis=1)[:, :10]
    return {"top10": [list(map(int, row + 1)) for row in order], "top1": [[int(row[0] + 1)] for row in order],
            "scores": [{int(i + 1): float(scores[q, i]) for i in row} for q, row in enumerate(order)],
            "real": real}


def f16_ceiling(data: tuple, queries: np.ndarray, truth: dict) -> dict:
    """Recall@10 against float32 exact search of an exhaustive search over float16-rounded vectors
    and queries: the most a float16 index can reach on these vectors, whose 10th and 11th neighbours
    (random distractors) are nearly tied."""
    _, _, vectors = data
    rounded = queries.astype(np.float16).astype(np.float32)
    scores = np.empty((len(queries), len(vectors)), np.float32)
    exact = np.empty_like(scores)
    for at in range(0, len(vectors), 100_000):
        block = vectors[at : at + 100_000]
        scores[:, at : at + len(block)] = rounded @ block.astype(np.float16).astype(np.float32).T
        exact[:, at : at + len(block)] = queries @ block.T
    top = np.argpartition(-scores, 10, axis=1)[:, :10] + 1
    recall = float(np.mean([len(set(map(int, row)) & set(e)) / 10 for row, e in zip(top, truth["top10"])]))
    eleven = np.sort(-np.partition(-exact, 10, axis=1)[:, :11], axis=1)[:, ::-1]  # best 11 exact scores, best first
    gap = np.median(eleven[:, 9] - eleven[:, 10])
    out = {"size": len(vectors), "recall_at_10_exhaustive_f16": round(recall, 4),
           "median_gap_10th_to_11th": round(float(gap), 5),
           "median_10th_score": round(float(np.median(eleven[:, 9])), 4)}
    print(json.dumps(out), flush=True)
    return out


def sql_path(size: int, faces: dict, folder: Path) -> dict:
    """The real gallery on SQLite: reconcile everything, one add, restart from the snapshot."""
    from api.db.engine import make_engine, make_session_factory, upgrade_database
    from api.db.models import FaceEmbeddingRow, GalleryState, Person, utcnow
    from api.services.gallery import Gallery, bump_revision
    from api.services.gallery_engines import MemoryIndex
    from api.services.vectors import to_bytes

    engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    upgrade_database(engine)
    sessions = make_session_factory(engine)
    ids, owners, vectors = gallery(size, faces)
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(Person.__table__.insert(), [
            {"id": int(i), "name": f"P{i}", "name_key": f"p{i}", "created_at": now} for i in ids])
        connection.execute(FaceEmbeddingRow.__table__.insert(), [
            {"id": int(i), "person_id": int(i), "vector": to_bytes(v), "dim": DIM, "embedder_version": "v1",
             "image_sha256": str(i), "face_index": 0, "box_x": 0, "box_y": 0, "box_width": 1, "box_height": 1,
             "created_at": now} for i, v in zip(ids, vectors)])
        connection.execute(GalleryState.__table__.update().values(revision=1))

    def open_gallery() -> Gallery:
        return Gallery(sessions, lambda x: x, "v1", DIM, index=MemoryIndex(DIM, ann_min_size=50_000),
                       snapshot_dir=folder / "snapshot", snapshot_seconds=3600)

    first = open_gallery()
    start = time.perf_counter()
    first.current()
    full = time.perf_counter() - start
    start = time.perf_counter()
    first.save_snapshot()
    snapshot_write = time.perf_counter() - start
    with sessions.begin() as session:
        session.add(Person(id=size + 1, name="New", name_key="new"))
        session.add(FaceEmbeddingRow(id=size + 1, person_id=size + 1, vector=to_bytes(vectors[0]), dim=DIM,
                                     embedder_version="v1", image_sha256="new", face_index=0, box_x=0, box_y=0,
                                     box_width=1, box_height=1))
        bump_revision(session)
    start = time.perf_counter()
    first.current()
    one_add = time.perf_counter() - start
    first.close()
    start = time.perf_counter()
    restarted = open_gallery()
    view = restarted.current()
    restart = time.perf_counter() - start
    assert view.faces == size + 1 and restarted.last_sync["added"] == 0
    engine.dispose()
    out = {"size": size, "engine": "memory (Gallery over SQLite)", "full_reconcile_s": round(full, 2),
           "one_add_reconcile_s": round(one_add, 3), "snapshot_write_s": round(snapshot_write, 2),
           "restart_from_snapshot_s": round(restart, 2),
           "hnsw": bool(restarted.index.approximate)}  # type: ignore[attr-defined]
    print(json.dumps(out), flush=True)
    return out


def real_lfw_gallery(everything: dict, one_per_person: bool = False) -> dict:
    """Every LFW photo as a gallery of real faces: for each person with two or more photos, the last
    is a query and the others are enrolled; people with one photo are enrolled as everyone else.
    ``one_per_person``: only each person's first photo is enrolled (what a one-photo enrolment gives:
    no other photo of the same person near the query to lead a graph search to them)."""
    names, files = everything["names"], everything["files"]
    vectors = normalize_rows(everything["vectors"])
    people = {name: number for number, name in enumerate(sorted(set(names.tolist())), 1)}
    last: dict[str, int] = {}
    for row, (name, file) in enumerate(zip(names.tolist(), files.tolist())):
        if name not in last or file > files[last[name]]:
            last[name] = row
    counts = Counter(names.tolist())
    held = {row for name, row in last.items() if counts[name] >= 2}
    enrolled = np.array([row for row in range(len(names)) if row not in held])
    if one_per_person:
        first: dict[str, int] = {}
        for row in enrolled.tolist():
            if names[row] not in first or files[row] < files[first[names[row]]]:
                first[names[row]] = row
        enrolled = np.array(sorted(first.values()))
    asked = np.array(sorted(held))
    return {"ids": np.arange(1, len(enrolled) + 1, dtype=np.int64),
            "owners": np.array([people[n] for n in names[enrolled]], np.int64),
            "vectors": vectors[enrolled],
            "queries": vectors[asked],
            "query_owners": np.array([people[n] for n in names[asked]], np.int64),
            "people": len(people)}


def person_truth(owners: np.ndarray, vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> list[list[int]]:
    """Each query's exact best ``k`` people (a person scores its best face), by a full scan."""
    order = np.argsort(owners, kind="stable")
    sorted_owners = owners[order]
    starts = np.flatnonzero(np.r_[True, sorted_owners[1:] != sorted_owners[:-1]])
    people = sorted_owners[starts]
    out = []
    for at in range(0, len(queries), 256):
        best = np.maximum.reduceat((queries[at : at + 256] @ vectors.T)[:, order], starts, axis=1)
        top = np.argsort(-best, axis=1)[:, :k]
        out.extend([list(map(int, people[row])) for row in top])
    return out


def measure_real(index: FaceIndex, real: dict, face_truth: dict, people_truth: list[list[int]],
                 store: ExactStore | None) -> dict:
    """On a gallery where a person may own many faces: face-level recall@10 against exact search (the
    index's own quality), and person-level answers as the gallery gives them (top-1 right, top-10
    people recall against an exact per-person scan)."""
    owner_by_id = np.r_[-1, real["owners"]]
    queries = real["queries"]
    index.search(queries[:5], 10)
    _, faces = timed_searches(index, queries, 10, lambda found: found, store)
    top1_times, top1 = timed_searches(index, queries, 1, lambda found: owner_by_id[found], store)
    _, top10 = timed_searches(index, queries, 10, lambda found: owner_by_id[found], store)
    face_recall = float(np.mean([len(set(f) & set(e)) / 10 for f, e in zip(faces, face_truth["top10"])]))
    people_recall = float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(top10, people_truth)]))
    right = float(np.mean([f[:1] == [int(o)] for f, o in zip(top1, real["query_owners"])]))
    exact_right = float(np.mean([e[:1] == [int(o)] for e, o in zip(people_truth, real["query_owners"])]))
    return {"top1": percentiles(top1_times), "recall_at_10_vs_exact": round(face_recall, 4),
            "people_recall_at_10_vs_exact_scan": round(people_recall, 4),
            "top1_person_right": round(right, 4), "exact_scan_top1_person_right": round(exact_right, 4)}


def run_real(engine: str, real: dict, folder: Path, expansion_add: int, ef_search: tuple[int, ...],
             connectivity: int) -> dict:
    """One engine built over the real gallery, measured at every search beam."""
    ids, owners, vectors = real["ids"], real["owners"], real["vectors"]
    face_truth = exact_truth((ids, owners, vectors), real["queries"], len(ids))
    people_truth = person_truth(owners, vectors, real["queries"])
    start = time.perf_counter()
    index = open_index(engine, folder, expansion_add, ef_search[0], connectivity)
    index.add(ids, vectors, owners)
    build = time.perf_counter() - start
    store = ExactStore(folder, ids, vectors) if index.lossy else None
    sweep = []
    for ef in ef_search if isinstance(index, HnswIndex) else ef_search[:1]:
        if isinstance(index, HnswIndex):
            index.expansion_search = ef
        sweep.append({"expansion_search": ef if isinstance(index, HnswIndex) else None,
                      **measure_real(index, real, face_truth, people_truth, store)})
        print(json.dumps({"engine": engine, "faces": len(ids), **sweep[-1]}), flush=True)
    index.close()
    if store is not None:
        store.close()
    return {"engine": engine, "faces": int(len(ids)), "people": int(len(set(owners.tolist()))),
            "queries": int(len(real["queries"])), "build_s": round(build, 2), "connectivity": connectivity,
            "expansion_add": expansion_add, "by_ef_search": sweep}


def face_like_check(faces: dict, population: np.ndarray, draw: FaceLike, size: int = 100_000) -> dict:
    """How close face-like distractors come to real faces: mean cosine of the real queries to real
    strangers and to distractors, the best and 10th-best distractor of a real face against those of a
    held-out sample, and the share of a face's energy (about the population mean) in the fitted
    covariance's smaller half of directions."""
    queries, enrolled, others = map(normalize_rows, (faces["queries"], faces["enrolled"], population))
    distractors = draw(size, seed=size)
    held_out = draw(len(enrolled), seed=7)

    def nearest(points: np.ndarray) -> dict:
        best = -np.sort(np.partition(-(points @ distractors.T), 10, axis=1)[:, :10], axis=1)  # best first
        return {"best": round(float(np.median(best[:, 0])), 4), "tenth": round(float(np.median(best[:, 9])), 4)}

    _, vectors = np.linalg.eigh(np.cov(others, rowvar=False))
    smaller = vectors[:, : DIM // 2]

    def energy(points: np.ndarray) -> float:
        centred = points - draw.mean
        return round(float(np.mean(np.sum((centred @ smaller) ** 2, 1)) / np.mean(np.sum(centred**2, 1))), 4)

    return {"distractors": size,
            "mean_cosine_query_to_real_strangers": round(float(np.mean(queries @ others.T)), 4),
            "mean_cosine_query_to_distractors": round(float(np.mean(queries @ distractors[:20_000].T)), 4),
            "nearest_distractors_of_real_faces_median": nearest(enrolled),
            "nearest_distractors_of_held_out_samples_median": nearest(held_out),
            "energy_share_in_smaller_half_of_directions": {"real": energy(enrolled), "face_like": energy(held_out)}}


def real_gallery_report(args: argparse.Namespace) -> dict:
    """``--real-gallery``: every engine over all LFW photos (real faces only), beside the same engines
    over a face-like synthetic gallery of the same size with 150 real people among it."""
    everything = load_all()
    faces = load_faces()
    if str(everything["embedder_version"]) != str(faces["embedder_version"]):
        raise SystemExit("the all-LFW descriptors and the enrolled faces come from different embedders: "
                         "rerun python -m benchmarks.gallery_faces --all")
    draw = FaceLike(load_population()["vectors"])
    queries = normalize_rows(faces["queries"])
    rows = []
    for label, real in (("real LFW, every photo", real_lfw_gallery(everything)),
                        ("real LFW, one photo per person", real_lfw_gallery(everything, one_per_person=True))):
        size = len(real["ids"])
        synthetic_data = gallery(size, faces, draw)
        truth = exact_truth(synthetic_data, queries, len(faces["enrolled"]))
        for engine in args.engines:
            folder = Path(tempfile.mkdtemp(prefix="gallery-real-"))
            try:
                rows.append({"gallery": label, **run_real(engine, real, folder, args.expansion_add,
                                                          tuple(args.ef_search), args.connectivity)})
                if engine.startswith("hnsw-"):
                    (folder / "face-like").mkdir()
                    rows.append({"gallery": "face-like synthetic of the same size, 150 real people among it",
                                 **run_engine(engine, size, synthetic_data, queries, truth, folder / "face-like",
                                              args.expansion_add, tuple(args.ef_search), None, args.connectivity)})
            finally:
                shutil.rmtree(folder, ignore_errors=True)
    return {"people": int(len(set(everything["names"].tolist()))), "rows": rows}


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for engine in sorted({r["engine"] for r in results}):
        rows = sorted((r for r in results if r["engine"] == engine), key=lambda r: r["size"])
        sizes = [r["size"] for r in rows]
        axes[0].plot(sizes, [r["top1"]["p50_ms"] for r in rows], "o-", label=engine)
        axes[1].plot(sizes, [r["recall_at_10_vs_exact"] for r in rows], "o-", label=engine)
        memory = [r["process_rss_growth_bytes"] for r in rows]  # resident growth (usearch's own figure counts
        # reserved capacity too)
        axes[2].plot(sizes, [m / 2**20 for m in memory], "o-", label=engine)
    for axis, title in zip(axes, ("top-1 latency p50 (ms)", "recall@10 vs exact", "process memory growth (MiB)")):
        axis.set_xscale("log")
        axis.set_xlabel("faces in the gallery")
        axis.set_title(title)
        axis.grid(True, alpha=0.3)
    axes[0].set_yscale("log")
    axes[2].set_yscale("log")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def this_command() -> str:
    """This run's command line as a report records it, with the niceness it really ran at."""
    return (f"nice -n {os.nice(0)} " if os.nice(0) else "") + "python -m benchmarks.gallery " + " ".join(sys.argv[1:])


def write_report(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--engines", nargs="+", default=["exact", "hnsw-f16", "hnsw-i8", "milvus"])
    parser.add_argument("--milvus-max", type=int, default=100_000, help="largest size Milvus Lite is run at")
    parser.add_argument("--sql-sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "gallery.json")
    parser.add_argument("--append", action="store_true", help="keep the results already in --out (other sizes)")
    parser.add_argument("--expansion-add", type=int, default=128, help="HNSW build beam (efConstruction)")
    parser.add_argument("--ef-search", type=int, nargs="+", default=[256],
                        help="HNSW search beams measured on each built graph; the first is the row's own")
    parser.add_argument("--keep-index", type=Path,
                        help="keep each saved memory index in this folder; an HNSW graph already there is reused")
    parser.add_argument("--connectivity", type=int, default=16, help="HNSW graph degree (M)")
    parser.add_argument("--no-plot", action="store_true", help="write no .png next to --out")
    parser.add_argument("--distractors", choices=["isotropic", "face-like"], default="isotropic",
                        help="isotropic unit vectors, or drawn from a Gaussian fitted to other LFW people's "
                             "descriptors (benchmarks.gallery_faces --population)")
    parser.add_argument("--real-gallery", action="store_true",
                        help="only measure the engines over every LFW photo (real faces only) and over a "
                             "face-like gallery of the same size (benchmarks.gallery_faces --all)")
    parser.add_argument("--face-like-check", action="store_true",
                        help="only compare face-like distractors' statistics with real faces' (no engines)")
    parser.add_argument("--f16-ceiling", action="store_true",
                        help="only measure the recall@10 an exhaustive float16 search reaches (no engines)")
    args = parser.parse_args()
    if args.expansion_add < 1 or min(args.ef_search) < 1:
        parser.error("--expansion-add and --ef-search must be positive")
    if not 4 <= args.connectivity <= 128:
        parser.error("--connectivity must be between 4 and 128 (GALLERY_HNSW_CONNECTIVITY's range)")
    if args.face_like_check or args.real_gallery:
        started = time.time()
        if args.face_like_check:
            population = load_population()["vectors"]
            body = face_like_check(load_faces(), population, FaceLike(population))
        else:
            body = {"embedder_version": str(load_faces()["embedder_version"]), **real_gallery_report(args)}
        write_report(args.out, {"commands": [this_command()], **body,
                                "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
                                "elapsed_s": round(time.time() - started, 1)})
        return
    faces = load_faces()
    queries = normalize_rows(faces["queries"])
    draw, distractors = synthetic, "isotropic Gaussian unit vectors (seeded), one face per person"
    if args.distractors == "face-like":
        population = load_population()
        if str(population["embedder_version"]) != str(faces["embedder_version"]):
            parser.error("the population sample and the enrolled faces come from different embedders: "
                         "rerun python -m benchmarks.gallery_faces --population 2000")
        draw = FaceLike(population["vectors"])
        distractors = (f"face-like: a Gaussian fitted to {draw.fitted_on} other LFW people's descriptors "
                       "(mean, covariance shrunk 5 % toward isotropic), unit-normalised, seeded; one face per person")
    results, sql, ceilings = [], [], []
    started = time.time()
    for size in args.sizes:
        data = gallery(size, faces, draw)
        truth = exact_truth(data, queries, len(faces["enrolled"]))
        if args.f16_ceiling:
            ceilings.append(f16_ceiling(data, queries, truth))
            continue
        for engine in args.engines:
            if engine == "milvus" and size > args.milvus_max:
                continue
            folder = Path(tempfile.mkdtemp(prefix="gallery-bench-"))
            try:
                results.append(run_engine(engine, size, data, queries, truth, folder, args.expansion_add,
                                          tuple(args.ef_search), args.keep_index, args.connectivity))
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        del data
        gc.collect()
    for size in [] if args.f16_ceiling else args.sql_sizes:
        folder = Path(tempfile.mkdtemp(prefix="gallery-sql-"))
        try:
            sql.append(sql_path(size, faces, folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    commands = [this_command()]
    if args.append and args.out.is_file():
        previous = json.loads(args.out.read_text())
        for row in previous["results"]:  # rows from before the build beam was an option
            if row["engine"].startswith("hnsw-"):
                row.setdefault("expansion_add", previous.get("hnsw", {}).get("expansion_add", 128))
                row.setdefault("expansion_search", previous.get("hnsw", {}).get("expansion_search", 64))

        def key(row: dict) -> tuple:
            return row["engine"], row["size"], row.get("expansion_add")

        done = {key(r) for r in results}
        results = [r for r in previous["results"] if key(r) not in done] + results
        sql = [r for r in previous["sql_path"] if r["size"] not in {s["size"] for s in sql}] + sql
        ceilings = [r for r in previous.get("f16_ceiling", []) if r["size"] not in {c["size"] for c in ceilings}] \
            + ceilings
        commands = previous.get("commands", [previous.get("command")]) + commands
    report = {
        "commands": commands,
        "machine": {"cpus": os.cpu_count(), "note": "2 cores shared with other jobs; latencies are one query "
                    "at a time on one thread (HNSW) / numpy's BLAS threads (exact)"},
        "data": {"dim": DIM, "real_enrolled": int(len(faces["names"])), "queries": int(len(queries)),
                 "embedder_version": str(faces["embedder_version"]),
                 "distractors": distractors,
                 "queries_are": "a second LFW photo of each enrolled real person"},
        "hnsw": {"library": "usearch", "connectivity": 16,
                 "note": "expansion_add (build beam), expansion_search (search beam) and, where given, "
                         "connectivity (M) are per row; rows of hnsw-i8 with rescored_from re-rank the "
                         "candidates exactly"},
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "results": results,
        "sql_path": sql,
        "f16_ceiling": ceilings,
        "elapsed_s": round(time.time() - started, 1),
    }
    write_report(args.out, report)
    if not args.no_plot:
        plot(results, args.out.with_suffix(".png"))


if __name__ == "__main__":
    main()
