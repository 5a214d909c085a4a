"""Schemathesis against a live uvicorn (the real app, the fake pipeline): whatever its generator
sends to any operation, valid or not, the answer is never a 500, a hang or a non-JSON error.

Bounded for the test suite (``FUZZ_EXAMPLES``, default 15 per operation); ``make fuzz`` runs more."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from api.db.engine import make_engine, make_session_factory, upgrade_database
from api.security import create_key

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[dict]:
    folder = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{folder / 'face_api.db'}"
    engine = make_engine(url)
    upgrade_database(engine)
    with make_session_factory(engine).begin() as session:
        admin, _ = create_key(session, "admin", "fuzz")
    engine.dispose()
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "MODEL_SOURCE": "packaged",
           "RATE_LIMIT_ENABLED": "false", "MAX_UPLOAD_BYTES": "200000"}
    log_path = folder / "uvicorn.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "tests.fake_app:app", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/ready", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the fuzz server did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        yield {"base": base, "key": admin, "log": log_path}
    finally:
        process.terminate()
        process.wait(timeout=30)


def check(case, live: dict) -> None:
    response = case.call(headers={"X-API-Key": live["key"]}, timeout=30)
    assert response.status_code < 500 or response.status_code == 503, (case.as_curl_command(), response.text)
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("error"), str) and body["error"], response.text
        assert "Traceback" not in response.text
    assert response.headers.get("x-content-type-options") == ["nosniff"]


def test_no_input_gives_a_500_or_a_non_json_error(live):
    # Hypothesis driven directly (schemathesis' own pytest plugin does not support this pytest yet).
    schema = schemathesis.openapi.from_url(f"{live['base']}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:
        for mode in GenerationMode:  # valid inputs, and inputs that break the schema on purpose

            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                      derandomize=True, database=None)
            @given(case=operation.as_strategy(generation_mode=mode))
            def fuzz(case) -> None:
                check(case, live)

            try:
                fuzz()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to break (no parameters, no body)
    log = live["log"].read_text()
    assert "Traceback" not in log and "unhandled error" not in log, log[-3000:]
