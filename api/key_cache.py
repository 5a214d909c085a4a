"""A small per-process memory of API keys the database verified recently.

The key check runs on every request; without this, a database hiccup of a second turns every
request into an error even where the endpoint itself needs no database (``/verify`` of two photos).
A verified key is trusted for ``ttl`` seconds; a revocation therefore takes effect within that
time. Only a SHA-256 of the key is held, never the key, and failures are never cached."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict


class VerifiedKeys:
    """Role of each recently verified key, by digest; bounded (oldest dropped first)."""

    def __init__(self, ttl: float, max_entries: int = 1024) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _digest(key: str) -> str:
        return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()

    def get(self, key: str) -> str | None:
        """The role if ``key`` was verified less than ``ttl`` seconds ago, else None."""
        if self.ttl <= 0:
            return None
        digest = self._digest(key)
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            role, verified_at = entry
            if time.monotonic() - verified_at > self.ttl:
                del self._entries[digest]
                return None
            return role

    def put(self, key: str, role: str) -> None:
        if self.ttl <= 0:
            return
        digest = self._digest(key)
        with self._lock:
            self._entries[digest] = (role, time.monotonic())
            self._entries.move_to_end(digest)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
