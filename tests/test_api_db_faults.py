"""The API against a MariaDB server this test starts itself (its own datadir, port and socket), then
freezes (SIGSTOP), thaws, stops and restarts: every answer in between is a prompt 503 with
Retry-After (never a 500 or a hang), known keys keep working where no database is needed, and the
API recovers by itself. Fake pipeline; about 20 s."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
from fastapi.testclient import TestClient

from api.config import ApiSettings
from api.main import create_app
from api.security import create_key
from tests.fake_pipeline import FakePipeline

TIMEOUT = 2.0
"""Connect, read and statement timeout of the API under test (seconds)."""
PROMPT = 3 * TIMEOUT + 2
"""The longest a request may take while the server is frozen: a stale pooled connection's ping, a
fresh connect's handshake, and slack for a loaded machine."""

pytestmark = pytest.mark.skipif(not shutil.which("mariadbd"), reason="needs mariadbd and mariadb-install-db")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One private mariadbd: ``start``, ``freeze``, ``thaw``, ``stop``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.datadir = folder / "data"
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}", "--user=root",
             "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"],
            check=True, capture_output=True, timeout=120,
        )

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={self.datadir}", "--user=root", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.folder / 'mysqld.sock'}",
             f"--pid-file={self.folder / 'mysqld.pid'}", f"--log-error={self.folder / 'error.log'}",
             "--skip-name-resolve", "--innodb-buffer-pool-size=16M"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                pymysql.connect(host="127.0.0.1", port=self.port, user="root", connect_timeout=2).close()
                return
            except pymysql.MySQLError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"mariadbd did not start: {(self.folder / 'error.log').read_text()[-2000:]}")
                time.sleep(0.2)

    def freeze(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.thaw()
            self.process.terminate()
            self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    mariadb = Server(tmp_path_factory.mktemp("mariadb"))
    mariadb.start()
    try:
        connection = pymysql.connect(host="127.0.0.1", port=mariadb.port, user="root")
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE face_api CHARACTER SET utf8mb4")
        connection.close()
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
        database_url=f"mysql+pymysql://root@127.0.0.1:{server.port}/face_api?charset=utf8mb4",
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
