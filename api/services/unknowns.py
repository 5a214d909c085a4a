"""Anonymous ids for faces nobody enrolled: a face is compared with the unknown faces seen
recently, so the same stranger seen again keeps the same ``unknown_...`` id."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from datetime import timedelta

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api.db.models import UnknownFace, utcnow

from .vectors import from_bytes, to_bytes


def new_unknown_id() -> str:
    return f"unknown_{secrets.token_hex(6)}"


class UnknownFaces:
    """Assigns unknown ids inside the caller's transaction; a lock keeps one process consistent."""

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

    def assign(self, session: Session, raw: np.ndarray, threshold: float) -> list[str]:
        """One unknown id per raw embedding row: a recent look-alike's id, or a new one."""
        if len(raw) == 0:
            return []
        now = utcnow()
        with self._lock:
            rows = session.execute(
                select(UnknownFace.id, UnknownFace.vector, UnknownFace.dim)
                .where(
                    UnknownFace.last_seen >= now - self.window,
                    UnknownFace.embedder_version == self.embedder_version,
                )
                .order_by(UnknownFace.last_seen.desc())
                .limit(self.max_recent)
            ).all()
            rows = [row for row in rows if row.dim == raw.shape[1]]
            ids = [row.id for row in rows]
            known = self._project(np.stack([from_bytes(r.vector, r.dim) for r in rows])) if rows else None
            queries = self._project(raw)
            assigned: list[str] = []
            for raw_vector, query in zip(raw, queries):
                best = -1
                if known is not None and len(known):
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
                    known = query[None] if known is None else np.vstack([known, query[None]])
                assigned.append(unknown_id)
            session.flush()
        return assigned
