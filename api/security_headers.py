"""Headers that tell browsers to treat every answer as inert data: no sniffing, no framing, no
referrer, nothing cached. ``/docs`` and ``/redoc`` load Swagger's scripts, so they get no CSP; the
web page gets one that allows its own files only."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cache-control", b"no-store"),
]
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
PAGE_CSP = (b"content-security-policy",
            b"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; "
            b"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
"""The web page (``/`` and its files under ``/static``) loads only its own files and talks only to
this server; JSON and image answers keep the strict API policy."""
DOC_PATHS = ("/docs", "/redoc")
PAGE_PATHS = ("/static/", "/favicon")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path.startswith(DOC_PATHS):
            extra = HEADERS
        elif path == "/" or path.startswith(PAGE_PATHS):
            extra = [*HEADERS, PAGE_CSP]
        else:
            extra = [*HEADERS, API_CSP]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)
