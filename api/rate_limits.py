"""Throttling with the ``limits`` library: per client address, per API key, and a much smaller
budget of wrong keys per address, so guessing keys or flooding one worker is slowed to a crawl.

Counters live in ``RATE_LIMIT_STORAGE_URI``: ``memory://`` keeps them per worker process (with N
workers a client gets up to N times the limit); a shared store such as ``redis://`` makes them
global. Behind a reverse proxy, run uvicorn with ``--proxy-headers --forwarded-allow-ips`` so the
client address is the caller's, not the proxy's."""

from __future__ import annotations

import hashlib
import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from api.config import ApiSettings
from api.middleware import send_json

EXEMPT_PATHS = frozenset({"/health", "/ready"})
"""Probes of load balancers and orchestrators: cheap, bounded by timeouts, and never throttled."""


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


class RateLimiter:
    """The limits in force; ``check`` counts a request, ``note_failed_key`` a wrong key."""

    def __init__(self, settings: ApiSettings) -> None:
        self.enabled = settings.rate_limit_enabled
        self._limiter = MovingWindowRateLimiter(storage_from_string(settings.rate_limit_storage_uri))
        self.per_address = parse_many(settings.rate_limit_per_address)
        self.per_key = parse_many(settings.rate_limit_per_key_holder)
        self.failed_keys = parse_many(settings.rate_limit_failed_keys)

    def _retry_after(self, limit: RateLimitItem, *identifiers: str) -> int:
        reset = self._limiter.get_window_stats(limit, *identifiers).reset_time
        return max(1, math.ceil(reset - time.time()))

    def check(self, address: str, key: str | None) -> tuple[str, int] | None:
        """None if the request may go on, else (what was exceeded, seconds to wait)."""
        if not self.enabled:
            return None
        for limit in self.failed_keys:
            if not self._limiter.test(limit, "failed-key", address):
                return f"{limit} wrong API keys per client address", self._retry_after(limit, "failed-key", address)
        for limit in self.per_address:
            if not self._limiter.hit(limit, "address", address):
                return f"{limit} requests per client address", self._retry_after(limit, "address", address)
        if key:
            digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
            for limit in self.per_key:
                if not self._limiter.hit(limit, "key", digest):
                    return f"{limit} requests per API key", self._retry_after(limit, "key", digest)
        return None

    def note_failed_key(self, address: str) -> None:
        if self.enabled:
            for limit in self.failed_keys:
                self._limiter.hit(limit, "failed-key", address)


class RateLimitMiddleware:
    """429 with Retry-After, before any work (no body read, no database touched)."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in EXEMPT_PATHS or not self.limiter.enabled:
            await self.app(scope, receive, send)
            return
        key = dict(scope.get("headers") or []).get(b"x-api-key")
        exceeded = self.limiter.check(client_address(scope), key.decode("latin-1") if key else None)
        if exceeded is None:
            await self.app(scope, receive, send)
            return
        what, retry_after = exceeded
        await send_json(
            send,
            429,
            {"error": f"Too many requests: the limit is {what}; retry in {retry_after} s"},
            [(b"retry-after", str(retry_after).encode())],
        )
