"""The enrolled faces, searchable: a :class:`Gallery` per process keeps a face index (exact matrix,
HNSW graph or a Milvus collection, api/services/gallery_engines.py) reconciled with the database
whenever its gallery revision moves (a registration or deletion through any worker or replica bumps
it in the same transaction). The reconcile is incremental: the ids SQL holds are compared with the
ids the index holds; only the difference is read, added or removed. SQL is the source of truth."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from api.db.models import FaceEmbeddingRow, GalleryState, Person

from .gallery_engines import FaceIndex, MemoryIndex, MilvusIndex
from .vectors import from_bytes, normalize_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Match:
    person_id: int
    name: str
    similarity: float

    def to_dict(self, threshold: float) -> dict:
        return {
            "person_id": self.person_id,
            "name": self.name,
            "similarity": round(self.similarity, 4),
            "is_match": self.similarity >= threshold,
        }


@dataclass(frozen=True)
class GallerySnapshot:
    """An immutable view of the gallery: readers keep using theirs while a reload builds the next."""

    revision: int
    person_ids: np.ndarray  # (P,) int64, one per person, in row-block order
    names: tuple[str, ...]  # (P,)
    matrix: np.ndarray  # (M, d) projected, unit-norm, rows grouped by person
    starts: np.ndarray  # (P,) first row of each person's block
    person_index: dict[int, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.person_ids)

    def per_person(self, queries: np.ndarray) -> np.ndarray:
        """``(N, P)``: each query's best similarity to each person's enrolled faces."""
        if self.size == 0:
            return np.zeros((len(queries), 0), dtype=np.float32)
        return np.maximum.reduceat(queries @ self.matrix.T, self.starts, axis=1)

    def top_k(self, queries: np.ndarray, k: int) -> list[list[Match]]:
        """The ``k`` most similar people for each projected, normalised query row, best first."""
        scores = self.per_person(queries)
        k = min(k, self.size)
        results: list[list[Match]] = []
        for row in scores:
            if k == 0:
                results.append([])
                continue
            best = np.argpartition(-row, k - 1)[:k]
            best = best[np.argsort(-row[best], kind="stable")]
            results.append([Match(int(self.person_ids[i]), self.names[i], float(row[i])) for i in best])
        return results

    def best_for_person(self, person_id: int, query: np.ndarray) -> float | None:
        """Best similarity of one projected query to one person's faces; None if none are enrolled."""
        index = self.person_index.get(person_id)
        if index is None:
            return None
        end = self.starts[index + 1] if index + 1 < self.size else len(self.matrix)
        return float(np.max(self.matrix[self.starts[index] : end] @ query))


EMPTY = GallerySnapshot(-1, np.zeros(0, np.int64), (), np.zeros((0, 0), np.float32), np.zeros(0, np.int64))


def read_revision(session: Session) -> int:
    return int(session.execute(select(GalleryState.revision).where(GalleryState.id == 1)).scalar_one_or_none() or 0)


def bump_revision(session: Session) -> None:
    """Call inside the transaction that changes the gallery, so the change and the bump commit together."""
    session.execute(update(GalleryState).where(GalleryState.id == 1).values(revision=GalleryState.revision + 1))


def group_by_person(
    ids: np.ndarray, scores: np.ndarray, owner_of: Callable[[np.ndarray], np.ndarray], k: int
) -> list[tuple[int, float]]:
    """The first ``k`` distinct people in one query's best-first face list, each with its best face's
    score: a person's first face in that list is its best, so this is the per-person max ranking."""
    valid = ids >= 0
    owners = owner_of(ids[valid])
    _, first = np.unique(owners, return_index=True)
    first = np.sort(first)[:k]
    return [(int(owners[i]), float(scores[valid][i])) for i in first if owners[i] >= 0]


LOSSY_CANDIDATES = 64
"""How many faces a lossy (int8) index is asked for at least, before the exact re-scoring. int8's own
top 10 has recall@10 0.93; re-scoring these 64 gives 0.999 / 0.996 / 0.975 at 10k / 100k / 1M
(reports/gallery.json; float16: 0.991 / 0.995 / 0.977). 64 is margin, not a tuned optimum."""


def candidates(k: int, lossy: bool) -> int:
    """Faces to fetch for ``k`` people: room for people with several faces, more when re-scored."""
    return max(4 * k, k + 16, LOSSY_CANDIDATES if lossy else 0)


@dataclass(frozen=True)
class GalleryView:
    """What one request sees: the revision and size it was synced at, searches through the index."""

    revision: int
    size: int  # people
    faces: int
    gallery: Gallery

    def top_k(self, queries: np.ndarray, k: int) -> list[list[Match]]:
        return self.gallery.top_k(queries, k)

    def best_for_person(self, person_id: int, query: np.ndarray) -> float | None:
        return self.gallery.best_for_person(person_id, query)


SNAPSHOT_FORMAT = 1


class Gallery:
    """Thread-safe holder of this process's face index and of who owns each face.

    ``index`` defaults to an exact in-memory one; ``snapshot_dir`` keeps a copy on disk so that a
    restart reads it and reconciles only what changed since (memory engine)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        project: Callable[[np.ndarray], np.ndarray],
        embedder_version: str,
        dim: int,
        index: FaceIndex | None = None,
        projection_key: Callable[[], str | None] = lambda: None,
        snapshot_dir: Path | None = None,
        snapshot_seconds: float = 60.0,
    ) -> None:
        self._session_factory = session_factory
        self._project = project
        self.embedder_version = embedder_version
        self.dim = dim
        self.index = index if index is not None else MemoryIndex(dim, ann_min_size=1 << 62)
        self._projection_key = projection_key
        self.snapshot_dir = snapshot_dir
        self.snapshot_seconds = snapshot_seconds
        self._lock = threading.RLock()
        self._space: str | None = None
        self._ids = np.zeros(0, np.int64)  # sorted face ids in the index
        self._owners = np.zeros(0, np.int64)  # their people
        self._people = 0  # distinct owners; names stay in SQL (a million of them cost ~200 MB here)
        self._view = GalleryView(-1, 0, 0, self)
        self._seeded = False
        self._saved_at = 0.0
        self._unsaved = False
        self.last_sync: dict = {}

    # --- the matching space ---------------------------------------------------------------

    @property
    def snapshot(self) -> GalleryView:
        return self._view

    def project(self, raw: np.ndarray) -> np.ndarray:
        """Raw pipeline embeddings to the normalised matching space (served models' head applied)."""
        return normalize_rows(self._project(normalize_rows(raw)))

    def space(self) -> str:
        """What a stored projected vector depends on: embedder, dimension and recognition head."""
        return json.dumps([self.embedder_version, self.dim, self._projection_key()])

    def invalidate(self) -> None:
        """Rebuild on the next request (e.g. after the served models' projection changed); a shared
        persistent index is re-read and reconciled, not dropped under the other replicas."""
        with self._lock:
            self._reset()
            self._space = None

    def _reset(self) -> None:
        if not self.index.persistent:
            self.index.clear()
        self._ids = np.zeros(0, np.int64)
        self._owners = np.zeros(0, np.int64)
        self._people = 0
        self._view = GalleryView(-1, 0, 0, self)

    # --- reconcile with SQL ---------------------------------------------------------------

    def current(self) -> GalleryView:
        """The view, reconciled first if another request, worker or replica changed the gallery
        (one cheap query when nothing did)."""
        with self._session_factory() as session:
            revision = read_revision(session)
        if revision != self._view.revision or self._space != self.space():
            with self._lock:
                if revision != self._view.revision or self._space != self.space():
                    self._sync()
        return self._view

    refresh = current

    def _sync(self) -> None:
        started = time.perf_counter()
        space = self.space()
        if self._space != space:
            self._open(space)
        with self._session_factory() as session:
            # Revision first: a change committing while we read gives newer rows under an older
            # revision, and one more (cheap) reconcile on the next request.
            revision = read_revision(session)
            if self._seeded and revision < self._view.revision:  # the database was replaced
                self.index.clear()
                self._reset()
            in_sql = np.fromiter(
                session.execute(
                    select(FaceEmbeddingRow.id)
                    .where(FaceEmbeddingRow.embedder_version == self.embedder_version, FaceEmbeddingRow.dim == self.dim)
                    .order_by(FaceEmbeddingRow.id)
                ).scalars(),
                dtype=np.int64,
            )
            gone = np.setdiff1d(self._ids, in_sql, assume_unique=True)
            new = np.setdiff1d(in_sql, self._ids, assume_unique=True)
            if gone.size:
                self._remove(gone)
            added = self._add(session, new) if new.size else 0
        self._seeded = True
        self._people = int(np.unique(self._owners).size)
        self._view = GalleryView(revision, self._people, len(self._ids), self)
        self._unsaved |= bool(gone.size or added)
        self.last_sync = {"revision": revision, "added": int(added), "removed": int(gone.size),
                          "seconds": round(time.perf_counter() - started, 3)}
        log.info("gallery revision %d: %d people, %d faces (+%d -%d in %.2f s)", revision, self._people,
                 len(self._ids), added, gone.size, time.perf_counter() - started)
        if self._unsaved and (not self._saved_at or time.time() - self._saved_at >= self.snapshot_seconds):
            self.save_snapshot()

    def _open(self, space: str) -> None:
        """Start on a matching space: from the disk snapshot or the persistent index when they are
        for this space, else empty (the reconcile then adds every face)."""
        self._space = space
        self._reset()
        self._seeded = False
        if self.index.persistent:
            if isinstance(self.index, MilvusIndex):
                self.index.switch_space(space)
            ids, owners = self.index.stored()
            self._ids, self._owners = ids, owners
            log.info("gallery: %s holds %d faces already", type(self.index).__name__, len(ids))
        elif not self._load_snapshot():
            self._reset()

    def _names_of(self, person_ids: set[int]) -> dict[int, str]:
        """Names of the people a search returned, read from SQL (so renames show at once, and a person
        deleted since the last reconcile is not named)."""
        if not person_ids:
            return {}
        with self._session_factory() as session:
            return {int(pid): name for pid, name in
                    session.execute(select(Person.id, Person.name).where(Person.id.in_(sorted(person_ids))))}

    def _exact_vectors(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, projected vectors)`` of faces from SQL, for re-scoring a lossy index's candidates;
        ids no longer in SQL are left out."""
        ids = np.unique(ids[ids >= 0])
        if not ids.size:
            return ids, np.zeros((0, self.dim), np.float32)
        with self._session_factory() as session:
            rows = session.execute(
                select(FaceEmbeddingRow.id, FaceEmbeddingRow.vector, FaceEmbeddingRow.dim)
                .where(FaceEmbeddingRow.id.in_([int(i) for i in ids])).order_by(FaceEmbeddingRow.id)).all()
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32)
        return np.array([r.id for r in rows], np.int64), self._projected(rows)

    def _projected(self, rows) -> np.ndarray:
        """SQL rows carrying ``vector`` and ``dim`` as matching-space vectors."""
        return self.project(np.stack([from_bytes(r.vector, r.dim) for r in rows]))

    def _rescored(self, queries: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The candidates re-ranked by their exact cosine (rows best first, vanished ids dropped to -1)."""
        known, vectors = self._exact_vectors(ids.ravel())
        at = np.clip(np.searchsorted(known, ids), 0, max(len(known) - 1, 0))
        found = (ids >= 0) & (known[at] == ids) if len(known) else np.zeros(ids.shape, bool)
        exact = np.full(ids.shape, -np.inf, np.float32)
        for row in range(len(ids)):
            hit = found[row]
            exact[row, hit] = vectors[at[row, hit]] @ queries[row]
        order = np.argsort(-exact, axis=1, kind="stable")
        ranked_ids = np.where(np.take_along_axis(found, order, 1), np.take_along_axis(ids, order, 1), -1)
        return ranked_ids, np.take_along_axis(exact, order, 1)

    def _add(self, session: Session, new: np.ndarray) -> int:
        added = 0
        for start in range(0, len(new), 5000):
            chunk = [int(i) for i in new[start : start + 5000]]
            rows = session.execute(
                select(FaceEmbeddingRow.id, FaceEmbeddingRow.person_id, Person.name, FaceEmbeddingRow.vector,
                       FaceEmbeddingRow.dim)
                .join(Person, Person.id == FaceEmbeddingRow.person_id)
                .where(FaceEmbeddingRow.id.in_(chunk))
                .order_by(FaceEmbeddingRow.id)
            ).all()
            if not rows:
                continue
            ids = np.array([r.id for r in rows], np.int64)
            owners = np.array([r.person_id for r in rows], np.int64)
            self.index.add(ids, self._projected(rows), owners)
            self._insert(ids, owners)
            added += len(ids)
        return added

    def _insert(self, ids: np.ndarray, owners: np.ndarray) -> None:
        if not self._ids.size or ids[0] > self._ids[-1]:  # the usual case: new ids are the largest
            self._ids = np.concatenate([self._ids, ids])
            self._owners = np.concatenate([self._owners, owners])
            return
        all_ids = np.concatenate([self._ids, ids])
        order = np.argsort(all_ids, kind="stable")
        self._ids, self._owners = all_ids[order], np.concatenate([self._owners, owners])[order]

    def _remove(self, gone: np.ndarray) -> None:
        self.index.remove(gone)
        keep = ~np.isin(self._ids, gone, assume_unique=True)
        self._ids, self._owners = self._ids[keep], self._owners[keep]

    # --- searches ---------------------------------------------------------------------------

    def _owner_of(self, ids: np.ndarray) -> np.ndarray:
        """People owning face ``ids`` (-1 for a face this process does not know yet)."""
        if not self._ids.size:
            return np.full(len(ids), -1, np.int64)
        at = np.clip(np.searchsorted(self._ids, ids), 0, len(self._ids) - 1)
        return np.where(self._ids[at] == ids, self._owners[at], -1)

    def top_k(self, queries: np.ndarray, k: int) -> list[list[Match]]:
        """The ``k`` most similar people for each projected, normalised query row, best first: a
        person's score is their best face's. More faces are fetched until ``k`` people are found; a
        lossy (int8) index's candidates are re-scored exactly from SQL first."""
        queries = np.asarray(queries, np.float32)
        with self._lock:
            faces, people = len(self._ids), self._people
            k = min(k, people)
            if k <= 0 or not faces:
                return [[] for _ in queries]
            want = min(faces, candidates(k, self.index.lossy))
            results: list[list[tuple[int, float]] | None] = [None] * len(queries)
            pending = list(range(len(queries)))
            while pending:
                ids, scores = self.index.search(queries[pending], want)
                if self.index.lossy:
                    ids, scores = self._rescored(queries[pending], ids)
                retry = []
                for row, q in enumerate(pending):
                    best = group_by_person(ids[row], scores[row], self._owner_of, k)
                    if len(best) < k and want < faces:
                        retry.append(q)
                        continue
                    results[q] = best
                pending = retry
                want = min(faces, want * 4)
        names = self._names_of({pid for best in results for pid, _ in best or []})
        return [[Match(pid, names[pid], score) for pid, score in best or [] if pid in names] for best in results]

    def best_for_person(self, person_id: int, query: np.ndarray) -> float | None:
        """Best similarity of one projected query to one person's faces; None if none are enrolled."""
        with self._lock:
            ids = self._ids[self._owners == person_id]
            if not ids.size:
                return None
            vectors = self._exact_vectors(ids)[1] if self.index.lossy else self.index.vectors(ids)
        return float(np.max(vectors @ np.asarray(query, np.float32))) if len(vectors) else None

    # --- the snapshot on disk (memory engine) ---------------------------------------------------

    def _snapshot_path(self) -> Path | None:
        if self.snapshot_dir is None or self._space is None:
            return None
        return Path(self.snapshot_dir) / f"gallery-{hashlib.sha1(self._space.encode()).hexdigest()[:16]}"

    def save_snapshot(self) -> bool:
        """Write index, ids, owners and names, stamped with the revision they match (atomic renames)."""
        path = self._snapshot_path()
        if path is None or self.index.persistent:
            return False
        with self._lock:
            started = time.perf_counter()
            if not self.index.save(path):
                return False
            meta = {"format": SNAPSHOT_FORMAT, "space": self._space, "revision": self._view.revision}
            from .gallery_engines import _atomic

            _atomic(path.with_suffix(".meta.npz"), lambda tmp: np.savez(
                tmp, ids=self._ids, owners=self._owners, meta=np.array(json.dumps(meta))))
            self._saved_at, self._unsaved = time.time(), False
            log.info("gallery snapshot written (%d faces, %.1f s)", len(self._ids), time.perf_counter() - started)
            return True

    def _load_snapshot(self) -> bool:
        path = self._snapshot_path()
        if path is None or not path.with_suffix(".meta.npz").is_file():
            return False
        try:
            with np.load(path.with_suffix(".meta.npz")) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("format") != SNAPSHOT_FORMAT or meta.get("space") != self._space:
                    return False
                with self._session_factory() as session:
                    if meta["revision"] > read_revision(session):  # a snapshot of another (newer) database
                        return False
                if not self.index.load(path) or len(self.index) != len(data["ids"]):
                    self._reset()
                    return False
                self._ids, self._owners = data["ids"].astype(np.int64), data["owners"].astype(np.int64)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("gallery snapshot unreadable, rebuilding: %s", exc)
            self._reset()
            return False
        self._saved_at = time.time()
        log.info("gallery snapshot of revision %d read (%d faces)", meta["revision"], len(self._ids))
        return True

    def close(self) -> None:
        if self._unsaved:
            self.save_snapshot()
        self.index.close()


def make_gallery(settings, session_factory: sessionmaker[Session], project: Callable[[np.ndarray], np.ndarray],
                 embedder_version: str, dim: int, projection_key: Callable[[], str | None] = lambda: None) -> Gallery:
    """The gallery GALLERY_ENGINE asks for (api/config.py)."""
    from api.config import ROOT

    def absolute(path: Path | None) -> Path | None:
        return None if path is None else (path if path.is_absolute() else ROOT / path)

    if settings.gallery_engine == "milvus":
        uri = settings.milvus_uri
        if "://" not in uri:
            uri = str(absolute(Path(uri)))
        index: FaceIndex = MilvusIndex(uri, dim, collection_prefix=settings.milvus_collection,
                                       token=settings.milvus_token, ef_search=settings.gallery_hnsw_ef_search)
    else:
        index = MemoryIndex(dim, ann_min_size=settings.gallery_ann_min_size, dtype=settings.gallery_hnsw_dtype,
                            connectivity=settings.gallery_hnsw_connectivity,
                            expansion_add=settings.gallery_hnsw_expansion_add,
                            expansion_search=settings.gallery_hnsw_ef_search)
    return Gallery(session_factory, project, embedder_version, dim, index=index, projection_key=projection_key,
                   snapshot_dir=absolute(settings.gallery_snapshot_dir),
                   snapshot_seconds=settings.gallery_snapshot_seconds)
