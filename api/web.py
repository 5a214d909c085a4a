"""The web page at ``/``: plain HTML, CSS and JavaScript shipped inside the ``api`` package.

No build step and nothing fetched from other hosts, so the page works wherever the API does (a home
server without internet included). The page only calls the public endpoints with the visitor's own API
key, so it needs no privileges of its own and adds no new way into the data.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_URL = "/static"


def install_web_page(app: FastAPI) -> None:
    """``GET /`` answers the page; ``/static/...`` its script, style sheet and icon."""
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        # no-cache: after an upgrade the browser asks again instead of running an old script.
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})
