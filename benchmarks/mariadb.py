"""A private MariaDB server (its own data directory, port, socket and log) that a test or benchmark
starts, freezes (SIGSTOP), thaws, stops and restarts, to put the API through database faults
without touching the shared server on 3306. Used by ``tests/test_api_db_faults.py`` and
``benchmarks.fault``; ``available()`` says whether the binaries are installed. ``ensure_database``
makes a benchmark's database on any server (``benchmarks.soak --database-url``); ``scratch_database``
a throw-away one on the shared server for the tests that need a fresh MariaDB database."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pymysql

from .processes import free_port


def ensure_database(url: str) -> None:
    """``CREATE DATABASE IF NOT EXISTS`` for a MySQL/MariaDB SQLAlchemy URL (anything else: nothing),
    so that a benchmark's documented ``--database-url`` works on a fresh server. RuntimeError with the
    driver's one-line reason if the server cannot be reached."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "mysql" or not parsed.database:
        return
    try:
        connection = pymysql.connect(host=parsed.host or "127.0.0.1", port=parsed.port or 3306,
                                     user=parsed.username or "root", password=parsed.password or "",
                                     connect_timeout=5)
    except pymysql.MySQLError as error:
        raise RuntimeError(f"cannot reach the database server of {parsed.render_as_string()}: {error}") from None
    try:
        with connection.cursor() as cursor:
            name = parsed.database.replace("`", "``")
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
    finally:
        connection.close()


SHARED = {"host": "127.0.0.1", "port": 3306, "user": "root"}
"""The MariaDB every test and benchmark may assume (root, no password), as ``.ci/run`` starts it."""


@contextmanager
def scratch_database(prefix: str, collation: str | None = None) -> Iterator[str]:
    """A new, uniquely named database on the shared server for the block's length (dropped after);
    yields its SQLAlchemy URL. ``collation`` forces one (the tests of our own name rule pass the
    accent-insensitive ``utf8mb4_unicode_ci`` that once merged people). RuntimeError if unreachable."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        connection = pymysql.connect(**SHARED)
    except pymysql.MySQLError as exc:
        raise RuntimeError(f"MariaDB on 127.0.0.1:3306 is not reachable ({exc}); start it to run these tests") from None
    try:
        with connection.cursor() as cursor:
            collate = f" COLLATE {collation}" if collation else ""
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4{collate}")
        yield f"mysql+pymysql://root@127.0.0.1:3306/{name}?charset=utf8mb4"
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        connection.close()


def available() -> bool:
    """Whether ``mariadbd`` and ``mariadb-install-db`` are on PATH."""
    return bool(shutil.which("mariadbd") and shutil.which("mariadb-install-db"))



class PrivateMariaDB:
    """One mariadbd on a fresh data directory under ``folder``: ``start``, ``freeze``, ``thaw``,
    ``stop`` (and ``start`` again: the data directory survives). Root without a password, TCP only
    on 127.0.0.1. A small buffer pool, since several may run on a shared machine."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = folder
        self.datadir = folder / "data"
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}", "--user=root",
             "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"],
            check=True, capture_output=True, timeout=120,
        )

    def url(self, database: str) -> str:
        """SQLAlchemy URL of ``database`` on this server."""
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/{database}?charset=utf8mb4"

    def start(self, timeout: float = 60.0) -> None:
        """Start mariadbd and return once it accepts a connection (RuntimeError with its log if not)."""
        self.process = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={self.datadir}", "--user=root", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.folder / 'mysqld.sock'}",
             f"--pid-file={self.folder / 'mysqld.pid'}", f"--log-error={self.folder / 'error.log'}",
             "--skip-name-resolve", "--innodb-buffer-pool-size=16M"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                pymysql.connect(host="127.0.0.1", port=self.port, user="root", connect_timeout=2).close()
                return
            except pymysql.MySQLError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = self.folder / "error.log"
                    tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
                    raise RuntimeError(f"mariadbd did not start: {tail}") from None
                time.sleep(0.2)

    def create_database(self, name: str) -> None:
        """``CREATE DATABASE name`` (utf8mb4)."""
        connection = pymysql.connect(host="127.0.0.1", port=self.port, user="root")
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        finally:
            connection.close()

    def freeze(self) -> None:
        """SIGSTOP: the server keeps its sockets open but answers nothing (the hang a timeout must end)."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT: the frozen server carries on where it stopped."""
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        """A clean shutdown (thawed first, so that it can act on SIGTERM); a no-op if not running."""
        if self.process is not None and self.process.poll() is None:
            self.thaw()
            self.process.terminate()
            self.process.wait(timeout=60)
