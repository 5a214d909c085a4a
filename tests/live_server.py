"""A real uvicorn serving an app built in the test process, over a real TCP port.

In-process (a thread) rather than a subprocess, so that the test session's one loaded pipeline is
shared and each module pays for no second model load; still real HTTP, so browsers and httpx see
exactly what a deployment answers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from api.security import create_key
from benchmarks.processes import free_port


@contextmanager
def serve(app: FastAPI, ready_timeout: float = 180.0) -> Iterator[str]:
    """Run ``app`` under uvicorn until the block ends; yields its base URL once ``/ready`` says 200."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if not thread.is_alive():
                raise RuntimeError("uvicorn stopped before it was ready")
            try:
                if httpx.get(f"{base}/ready", timeout=10).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API at {base} was not ready within {ready_timeout:.0f} s")
            time.sleep(0.2)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def make_keys(app: FastAPI) -> dict[str, str]:
    """A fresh admin and read key for ``app``'s database (``{"admin": ..., "read": ...}``)."""
    with app.state.runtime.session_factory.begin() as session:
        admin, _ = create_key(session, "admin", "tests")
        read, _ = create_key(session, "read", "tests")
    return {"admin": admin, "read": read}
