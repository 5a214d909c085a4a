"""A per-process cap on photos decoded and analysed at once.

Each photo in flight holds its decoded pixels and the models' activations (hundreds of MB for a
large one), so an unbounded number of concurrent uploads can take a worker past its memory. Beyond
``size`` photos, requests wait up to ``wait_seconds`` for a slot (in the event loop, holding no
thread), then get 503 with Retry-After.

A slot covers the models only: the service calls :func:`models_done` once its last model call of
the request is over, so that the request's database work (which a slow or frozen database can
stretch to its timeouts) does not keep other photos waiting for a slot."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

from api.errors import retry_later


class _Lease:
    """One request's hold on a slot, released once: by :func:`models_done` from the request's
    worker thread, or when the request ends, whichever comes first."""

    def __init__(self, semaphore: asyncio.Semaphore, loop: asyncio.AbstractEventLoop) -> None:
        self._semaphore = semaphore
        self._loop = loop
        self._lock = threading.Lock()
        self.released = False

    def release(self) -> None:
        with self._lock:
            if self.released:
                return
            self.released = True
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:  # a worker thread: the semaphore belongs to the event loop's thread
            on_loop = False
        if on_loop:
            self._semaphore.release()
        else:
            self._loop.call_soon_threadsafe(self._semaphore.release)


_LEASE: ContextVar[_Lease | None] = ContextVar("inference_lease", default=None)


def models_done() -> None:
    """Give this request's inference slot back now: its model work is over (a no-op outside a slot;
    the context reaches the worker thread through ``run_in_threadpool``)."""
    lease = _LEASE.get()
    if lease is not None:
        lease.release()


class InferenceSlots:
    def __init__(self, size: int, wait_seconds: float, retry_after: int) -> None:
        self.size = size
        self.wait_seconds = wait_seconds
        self.retry_after = retry_after
        self._semaphore = asyncio.Semaphore(size)

    @property
    def busy(self) -> int:
        return self.size - self._semaphore._value  # noqa: SLF001 - asyncio has no public counter

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._semaphore.locked():
            try:
                await asyncio.wait_for(self._semaphore.acquire(), timeout=self.wait_seconds)
            except TimeoutError:
                raise retry_later(
                    f"The server is busy: {self.size} photo(s) are being analysed in this worker and none "
                    f"finished within {self.wait_seconds:g} s; try again shortly",
                    self.retry_after,
                ) from None
        else:
            await self._semaphore.acquire()
        lease = _Lease(self._semaphore, asyncio.get_running_loop())
        token = _LEASE.set(lease)
        try:
            yield
        finally:
            _LEASE.reset(token)
            lease.release()
