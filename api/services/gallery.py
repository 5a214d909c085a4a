"""The enrolled faces as one normalised matrix in memory, reloaded whenever the database's gallery
revision moves (a registration or deletion through any worker bumps it in the same transaction)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from api.db.models import FaceEmbeddingRow, GalleryState, Person

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


class Gallery:
    """Thread-safe holder of the current :class:`GallerySnapshot` for one process."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        project: Callable[[np.ndarray], np.ndarray],
        embedder_version: str,
        dim: int,
    ) -> None:
        self._session_factory = session_factory
        self._project = project
        self.embedder_version = embedder_version
        self.dim = dim
        self._snapshot = EMPTY
        self._lock = threading.Lock()

    @property
    def snapshot(self) -> GallerySnapshot:
        return self._snapshot

    def project(self, raw: np.ndarray) -> np.ndarray:
        """Raw pipeline embeddings to the normalised matching space (served models' head applied)."""
        return normalize_rows(self._project(normalize_rows(raw)))

    def invalidate(self) -> None:
        """Rebuild on the next request (e.g. after the served models' projection changed)."""
        with self._lock:
            self._snapshot = EMPTY

    def current(self) -> GallerySnapshot:
        """The snapshot, reloaded first if another request or worker changed the gallery (one cheap query)."""
        with self._session_factory() as session:
            revision = read_revision(session)
        if revision != self._snapshot.revision:
            with self._lock:
                if revision != self._snapshot.revision:
                    self._snapshot = self._load()
        return self._snapshot

    def _load(self) -> GallerySnapshot:
        # Revision first: if a change commits while we read, we load newer rows under an older
        # revision and simply reload once more on the next request.
        with self._session_factory() as session:
            revision = read_revision(session)
            rows = session.execute(
                select(FaceEmbeddingRow.person_id, Person.name, FaceEmbeddingRow.vector, FaceEmbeddingRow.dim)
                .join(Person, Person.id == FaceEmbeddingRow.person_id)
                .where(FaceEmbeddingRow.embedder_version == self.embedder_version, FaceEmbeddingRow.dim == self.dim)
                .order_by(FaceEmbeddingRow.person_id, FaceEmbeddingRow.id)
            ).all()
        if not rows:
            return GallerySnapshot(revision, EMPTY.person_ids, (), EMPTY.matrix, EMPTY.starts)
        owners = np.fromiter((row.person_id for row in rows), dtype=np.int64, count=len(rows))
        raw = np.stack([from_bytes(row.vector, row.dim) for row in rows])
        starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
        person_ids = owners[starts]
        names = tuple(rows[i].name for i in starts)
        log.info("gallery revision %d: %d people, %d faces", revision, len(person_ids), len(rows))
        return GallerySnapshot(
            revision=revision,
            person_ids=person_ids,
            names=names,
            matrix=self.project(raw),
            starts=starts,
            person_index={int(pid): i for i, pid in enumerate(person_ids)},
        )
