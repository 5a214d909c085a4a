"""A real ``uvicorn api.main:app`` in a subprocess for the tests that talk to the API over HTTP the
way its clients do (CLIs, smoke client, Prometheus): started once per test module."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from api.db.engine import make_engine, make_session_factory, upgrade_database
from api.security import create_key
from benchmarks.processes import stop_group
from tests.test_api_workers import free_port

ROOT = Path(__file__).resolve().parents[1]


def make_keys(database_url: str) -> dict[str, str]:
    """An admin and a read key in the API's database (schema brought up first), as scripts.api_keys does."""
    engine = make_engine(database_url)
    try:
        upgrade_database(engine)
        with make_session_factory(engine).begin() as session:
            return {role: create_key(session, role, "tests")[0] for role in ("admin", "read")}
    finally:
        engine.dispose()


@contextmanager
def running_api(folder: Path, workers: int = 1, **env: str) -> Iterator[str]:
    """Start uvicorn on a free port with a SQLite database in ``folder``; yields the base URL once
    every worker is ready. ``env`` adds or overrides settings; the log is ``folder/uvicorn.log``."""
    port = free_port()
    log_path = folder / "uvicorn.log"
    environment = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "DATABASE_URL": f"sqlite:///{folder / 'face_api.db'}",
        "MODEL_SOURCE": "packaged",
        **env,
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(workers)],
            cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        ready: set[int] = set()
        deadline = time.monotonic() + 300
        while len(ready) < workers:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"uvicorn did not get {workers} ready worker(s):\n{log_path.read_text()[-3000:]}")
            try:
                with httpx.Client(base_url=base, timeout=10, limits=httpx.Limits(max_connections=1)) as client:
                    response = client.get("/ready")
                if response.status_code == 200:
                    ready.add(response.json()["pid"])
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        yield base
    finally:
        stop_group(process)
