"""The API against a MariaDB server this test starts itself (its own datadir, port and socket), then
freezes (SIGSTOP), thaws, stops and restarts: every answer in between is a prompt 503 with
Retry-After (never a 500 or a hang), known keys keep working where no database is needed, and the
API recovers by itself. Fake pipeline; about 20 s. The server is ``benchmarks.mariadb``'s, the one
``benchmarks.fault`` measures with."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.config import ApiSettings
from api.main import create_app
from api.security import create_key
from benchmarks.mariadb import PrivateMariaDB
from benchmarks.mariadb import available as mariadb_available
from tests.fake_pipeline import FakePipeline

TIMEOUT = 2.0
"""Connect, read and statement timeout of the API under test (seconds)."""
PROMPT = 3 * TIMEOUT + 2
"""The longest a request may take while the server is frozen: a stale pooled connection's ping, a
fresh connect's handshake, and slack for a loaded machine."""

pytestmark = pytest.mark.skipif(not mariadb_available(), reason="needs mariadbd and mariadb-install-db")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[PrivateMariaDB]:
    mariadb = PrivateMariaDB(tmp_path_factory.mktemp("mariadb"))
    mariadb.start()
    try:
        mariadb.create_database("face_api")
        yield mariadb
    finally:
        mariadb.stop()


def timed(call) -> tuple[float, object]:  # noqa: ANN001 - a zero-argument callable
    started = time.monotonic()
    result = call()
    return time.monotonic() - started, result


def assert_503(response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "4"
    assert set(response.json()) == {"error"} and str(TIMEOUT) not in response.text


def wait_until(check, what: str, timeout: float = 30.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"no recovery: {what}"
        time.sleep(0.3)


def test_frozen_stopped_and_restarted_database(server):
    settings = ApiSettings(
        database_url=server.url("face_api"),
        model_source="packaged",
        database_connect_timeout_seconds=TIMEOUT,
        database_read_timeout_seconds=TIMEOUT,
        database_statement_timeout_seconds=TIMEOUT,
        database_pool_timeout_seconds=TIMEOUT,
        retry_after_seconds=4,
    )
    app = create_app(settings, pipeline=FakePipeline())
    with TestClient(app, raise_server_exceptions=False) as client:
        runtime = app.state.runtime
        wait_until(lambda: runtime.service is not None, "models")
        with runtime.session_factory.begin() as session:
            key = {"X-API-Key": create_key(session, "admin")[0]}
        pair = {"file": ("a.jpg", b"\x01a"), "file2": ("b.jpg", b"\x01a")}
        assert client.post("/register", files={"file": ("a.jpg", b"\x01a")}, data={"person_name": "Ann"},
                           headers=key).status_code == 201
        assert client.get("/stats", headers=key).status_code == 200

        server.freeze()
        try:
            for path in ("/stats", "/search?name=ann", "/persons/1"):
                seconds, response = timed(lambda p=path: client.get(p, headers=key))
                assert_503(response)
                assert seconds < PROMPT, (path, seconds)
            seconds, ready = timed(lambda: client.get("/ready"))
            assert ready.status_code == 503 and ready.json()["ready"] is False and seconds < PROMPT
            seconds, analysed = timed(lambda: client.post("/analyze", files={"file": ("a.jpg", b"\x01a")},
                                                          headers=key))
            assert_503(analysed)
            assert seconds < PROMPT
            # The key was verified before the freeze: comparing two photos needs no database.
            assert client.post("/verify", files=pair, headers=key).status_code == 200
        finally:
            server.thaw()
        wait_until(lambda: client.get("/stats", headers=key).status_code == 200, "after the thaw")
        assert client.get("/ready").status_code == 200

        server.stop()
        seconds, response = timed(lambda: client.get("/stats", headers=key))
        assert_503(response)
        assert seconds < PROMPT
        assert client.get("/ready").status_code == 503
        server.start()
        wait_until(lambda: client.get("/stats", headers=key).status_code == 200, "after the restart")
        body = client.get("/search?name=ann", headers=key).json()
        assert body["total"] == 1  # nothing lost
