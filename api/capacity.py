"""A per-process cap on photos decoded and analysed at once.

Each photo in flight holds its decoded pixels and the models' activations (hundreds of MB for a
large one), so an unbounded number of concurrent uploads can take a worker past its memory. Beyond
``size`` photos, requests wait up to ``wait_seconds`` for a slot (in the event loop, holding no
thread), then get 503 with Retry-After."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from api.errors import retry_later


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
        try:
            yield
        finally:
            self._semaphore.release()
