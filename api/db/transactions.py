"""Run a unit of work in its own transaction, retrying the races that concurrent workers cause
(two enrolments of the same new name, SQLite's busy writer, MySQL deadlocks)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")

_RETRYABLE_MESSAGES = ("database is locked", "deadlock", "lock wait timeout")


def in_transaction(session_factory: sessionmaker[Session], work: Callable[[Session], T], attempts: int = 5) -> T:
    """``work(session)`` committed once; IntegrityError and lock errors are retried from scratch."""
    for attempt in range(attempts):
        try:
            with session_factory.begin() as session:
                return work(session)
        except IntegrityError:
            if attempt == attempts - 1:
                raise
        except OperationalError as exc:
            if attempt == attempts - 1 or not any(m in str(exc).lower() for m in _RETRYABLE_MESSAGES):
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
