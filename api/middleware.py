"""Pure ASGI middleware: a request id on every response (errors included), a JSON 500 for anything
unexpected, and the upload size limit enforced on the bytes actually received."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import metrics

log = logging.getLogger("api")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
"""The current request's id, for log lines written while answering it (api/logs.py)."""

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


async def send_json(send: Send, status: int, body: dict, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class RequestIdMiddleware:
    """Outermost: tags the response with ``X-Request-ID`` and turns any escaped exception into JSON."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        header = (b"x-request-id", request_id.encode())
        started = False

        async def tagged_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, tagged_send)
        except Exception:
            log.exception("unhandled error in %s %s (request %s)", scope.get("method"), scope.get("path"), request_id)
            if not started:
                await send_json(send, 500, {"error": "Internal server error", "request_id": request_id}, [header])
        finally:
            request_id_var.reset(token)


def route_template(scope: Scope) -> str:
    """The route's path template (``/persons/{person_id}``), so metrics have one series per route
    rather than one per id; ``unmatched`` for paths no route serves (404s, scanners). Requests
    answered before routing (a 413) are matched against the app's documented paths."""
    path = getattr(scope.get("route"), "path", None)
    if path:
        return path
    app = scope.get("app")
    if app is None or not hasattr(app, "openapi"):
        return "unmatched"
    patterns = getattr(app.state, "route_patterns", None)
    if patterns is None:
        patterns = [(compile_path(template)[0], template) for template in app.openapi().get("paths", {})]
        app.state.route_patterns = patterns
    request_path = scope.get("path", "")
    return next((template for pattern, template in patterns if pattern.match(request_path)), "unmatched")


class MetricsMiddleware:
    """Counts and times every HTTP request per method, route template and status (api/metrics.py).
    Sits inside :class:`RequestIdMiddleware`, so an escaped exception is counted as the 500 it becomes.
    A request is recorded just before its last body chunk goes out, so a client that has its answer
    (and then scrapes /metrics) always finds it counted."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        recorded = False

        def record() -> None:
            nonlocal recorded
            if recorded:
                return
            recorded = True
            method, route = scope.get("method", "GET"), route_template(scope)
            metrics.REQUESTS.labels(method, route, str(status)).inc()
            if status >= 400:
                metrics.ERRORS.labels(method, route, str(status)).inc()
            metrics.LATENCY.labels(method, route).observe(time.perf_counter() - start)

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                record()
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            record()  # no body sent: an escaped exception (the 500 RequestIdMiddleware sends) or a disconnect


class UploadTooLarge(Exception):
    """Raised from ``receive`` when the body passes the limit; the middleware answers 413."""


class BodySizeLimitMiddleware:
    """413 when Content-Length says too much, and also when a chunked body turns out too large."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> dict:
        return {"error": f"Upload too large: the limit is {self.max_bytes:,} bytes"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await send_json(send, 413, self._message(), [(b"connection", b"close")])
            return
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise UploadTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # whatever the app made of the interrupted body, the answer is 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await send_json(send, 413, self._message(), [(b"connection", b"close")])
