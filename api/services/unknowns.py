"""Anonymous ids for faces nobody enrolled: a face is compared with the unknown faces seen
recently, so the same stranger seen again keeps the same ``unknown_...`` id.

Each worker keeps the recent unknown faces in memory and, on each use, reads only the rows whose
``last_seen`` moved since its previous read (with an overlap for transactions that commit late), so a
busy camera does not reload every stranger's vector on every photo.

Assignments are serialised across threads and worker processes by a row lock (``app_locks``) held
until the transaction commits: without it, two requests showing the same new stranger at once each
read "never seen" and mint two ids."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from api.db.models import AppLock, Detection, Person, UnknownFace, utcnow

from .vectors import from_bytes, to_bytes

SYNC_OVERLAP = timedelta(seconds=120)
LOCK_NAME = "unknown_faces"
FORGET_BATCH = 5000


def existing_person_ids(session: Session, person_ids: set[int]) -> set[int]:
    """Which of ``person_ids`` are still enrolled (one may be deleted while a request runs)."""
    if not person_ids:
        return set()
    return set(session.execute(select(Person.id).where(Person.id.in_(sorted(person_ids)))).scalars())


def take_lock(session: Session, now: datetime) -> None:
    """Row-lock the unknown faces until this transaction ends (a write: SQLite's writer lock too)."""
    session.execute(update(AppLock).where(AppLock.name == LOCK_NAME).values(taken_at=now))


def new_unknown_id() -> str:
    return f"unknown_{secrets.token_hex(6)}"


class UnknownFaces:
    """Assigns unknown ids inside the caller's transaction; a lock keeps one process consistent.

    The cache learns new rows only from the database (next sync), never from an uncommitted
    transaction, so a rolled-back request leaves no phantom id behind."""

    def __init__(
        self,
        project: Callable[[np.ndarray], np.ndarray],
        embedder_version: str,
        window_hours: float,
        max_recent: int,
    ) -> None:
        self._project = project
        self.embedder_version = embedder_version
        self.window = timedelta(hours=window_hours)
        self.max_recent = max_recent
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[np.ndarray, datetime]] = {}  # id -> (projected vector, last seen)
        self._synced_at: datetime | None = None
        self._revision: int | None = None

    def _sync(self, session: Session, now: datetime) -> None:
        cutoff = now - self.window
        since = cutoff if self._synced_at is None else max(cutoff, self._synced_at - SYNC_OVERLAP)
        rows = session.execute(
            select(UnknownFace.id, UnknownFace.vector, UnknownFace.dim, UnknownFace.last_seen)
            .where(UnknownFace.last_seen >= since, UnknownFace.embedder_version == self.embedder_version)
            .order_by(UnknownFace.last_seen.desc())
            .limit(self.max_recent)
        ).all()
        if rows:
            projected = self._project(np.stack([from_bytes(r.vector, r.dim) for r in rows]))
            for row, vector in zip(rows, projected):
                self._cache[row.id] = (vector, row.last_seen)
        expired = [key for key, (_, seen) in self._cache.items() if seen < cutoff]
        for key in expired:
            del self._cache[key]
        if len(self._cache) > self.max_recent:
            newest = sorted(self._cache.items(), key=lambda item: item[1][1], reverse=True)[: self.max_recent]
            self._cache = dict(newest)
        self._synced_at = now

    def assign(self, session: Session, raw: np.ndarray, threshold: float, revision: int | None = None) -> list[str]:
        """One unknown id per raw embedding row: a recent look-alike's id, or a new one.

        ``revision`` is the gallery revision in use: when it moves (a new recognition head changes
        the matching space, or an enrolment), the cached projected vectors are rebuilt."""
        if len(raw) == 0:
            return []
        now = utcnow()
        with self._lock:
            take_lock(session, now)
            if revision != self._revision:
                self._cache.clear()
                self._synced_at = None
                self._revision = revision
            self._sync(session, now)
            ids = list(self._cache)
            known = np.stack([self._cache[i][0] for i in ids]) if ids else np.zeros((0, raw.shape[1]), np.float32)
            queries = self._project(raw)
            assigned: list[str] = []
            for raw_vector, query in zip(raw, queries):
                best = -1
                if len(known) and known.shape[1] == query.shape[0]:
                    sims = known @ query
                    best = int(np.argmax(sims))
                    if sims[best] < threshold:
                        best = -1
                if best >= 0:
                    unknown_id = ids[best]
                    session.execute(
                        update(UnknownFace)
                        .where(UnknownFace.id == unknown_id)
                        .values(last_seen=now, times_seen=UnknownFace.times_seen + 1)
                    )
                else:
                    unknown_id = new_unknown_id()
                    session.add(
                        UnknownFace(
                            id=unknown_id,
                            vector=to_bytes(raw_vector),
                            dim=int(raw.shape[1]),
                            embedder_version=self.embedder_version,
                            first_seen=now,
                            last_seen=now,
                            times_seen=1,
                        )
                    )
                    ids.append(unknown_id)
                    known = np.vstack([known, query[None]]) if len(known) else query[None]
                assigned.append(unknown_id)
            session.flush()
        return assigned

    def forget(self, session: Session, raw: np.ndarray | None, threshold: float) -> int:
        """Delete every unknown face that looks like one of ``raw`` (a person being deleted: their
        sightings from before enrolment), and clear that id from past detections; returns the count."""
        if raw is None or len(raw) == 0:
            return 0
        with self._lock:
            take_lock(session, utcnow())
            templates = self._project(raw)
            doomed: list[str] = []
            last_id = ""
            while True:
                rows = session.execute(
                    select(UnknownFace.id, UnknownFace.vector, UnknownFace.dim)
                    .where(UnknownFace.embedder_version == self.embedder_version, UnknownFace.id > last_id)
                    .order_by(UnknownFace.id)
                    .limit(FORGET_BATCH)
                ).all()
                if not rows:
                    break
                last_id = rows[-1].id
                same_dim = [r for r in rows if r.dim == templates.shape[1]]
                if same_dim:
                    vectors = self._project(np.stack([from_bytes(r.vector, r.dim) for r in same_dim]))
                    best = (vectors @ templates.T).max(axis=1)
                    doomed.extend(r.id for r, score in zip(same_dim, best) if score >= threshold)
            for start in range(0, len(doomed), 500):
                chunk = doomed[start : start + 500]
                session.execute(update(Detection).where(Detection.unknown_id.in_(chunk)).values(unknown_id=None))
                session.execute(delete(UnknownFace).where(UnknownFace.id.in_(chunk)))
            for unknown_id in doomed:
                self._cache.pop(unknown_id, None)
        return len(doomed)
