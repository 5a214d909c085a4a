"""Engine and session factory for SQLite and MySQL/MariaDB, and the start-up migration under a lock."""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from api.config import ApiSettings, resolve_database_url

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
"""The Alembic scripts, inside the package (so an installed copy has them); alembic.ini at the
repository root is for running ``alembic`` by hand and points at the same folder."""


@dataclass(frozen=True)
class DatabaseTimeouts:
    """How long the API waits on the database before answering 503 instead of hanging (seconds)."""

    connect: float = 5.0
    read: float = 15.0
    statement: float = 10.0
    pool: float = 5.0

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> DatabaseTimeouts:
        return cls(
            connect=settings.database_connect_timeout_seconds,
            read=settings.database_read_timeout_seconds,
            statement=settings.database_statement_timeout_seconds,
            pool=settings.database_pool_timeout_seconds,
        )


def make_engine(url: str, timeouts: DatabaseTimeouts | None = None, create_folder: bool = True) -> Engine:
    """An engine tuned for several threads (and several worker processes) sharing one database.

    Every wait has a bound: connecting, each server reply, each statement (MariaDB's
    ``max_statement_time``, MySQL's ``max_execution_time``; SQLite's busy wait) and a free pooled
    connection, so a stopped or frozen server turns into errors (503s) rather than hung requests."""
    timeouts = timeouts or DatabaseTimeouts()
    url = resolve_database_url(url, create_folder=create_folder)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        busy_ms = int(timeouts.statement * 1000)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": timeouts.statement}, pool_timeout=timeouts.pool
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API connection
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            if make_url(url).database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    # READ COMMITTED: a transaction that waited for a lock (the unknown faces' row lock) then reads
    # what the holder committed, not a snapshot taken before it waited.
    engine = create_engine(
        url,
        isolation_level="READ COMMITTED",
        pool_pre_ping=True,
        pool_recycle=3600,
        pool_size=10,
        max_overflow=20,
        pool_timeout=timeouts.pool,
        connect_args={
            "connect_timeout": max(1, round(timeouts.connect)),
            "read_timeout": timeouts.read,
            "write_timeout": timeouts.read,
        },
    )

    @event.listens_for(engine, "connect")
    def _statement_timeout(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API connection
        cursor = dbapi_connection.cursor()
        if "mariadb" in dbapi_connection.get_server_info().lower():
            cursor.execute(f"SET SESSION max_statement_time = {timeouts.statement:.3f}")
        else:
            cursor.execute(f"SET SESSION max_execution_time = {int(timeouts.statement * 1000)}")
        cursor.close()

    return engine


def engine_for(settings: ApiSettings, create_folder: bool = True) -> Engine:
    """The engine for ``settings``' database with its configured timeouts."""
    return make_engine(settings.database_url, DatabaseTimeouts.from_settings(settings), create_folder=create_folder)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Several uvicorn workers start at once: only one may run the migrations at a time."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:"):
            yield
            return
        lock_path = Path(database + ".migrate.lock")
        with open(lock_path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    with engine.connect() as connection:
        got = connection.execute(text("SELECT GET_LOCK('face_api_migrate', 120)")).scalar()
        if got != 1:
            raise RuntimeError("could not take the migration lock within 120 s")
        try:
            yield
        finally:
            connection.execute(text("SELECT RELEASE_LOCK('face_api_migrate')"))


def migration_engine(engine: Engine) -> Engine:
    """On MySQL/MariaDB, an engine without read or statement timeout: an ALTER of a big table, or the
    wait for another worker's migration lock, may rightly take longer than any request should."""
    if engine.url.get_backend_name() == "sqlite":
        return engine
    return create_engine(engine.url, poolclass=NullPool, connect_args={"connect_timeout": 10, "read_timeout": None})


@contextlib.contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """One transaction for the migrations; on SQLite with foreign keys off, as SQLite asks of table
    rebuilds (dropping the old ``persons`` with them on would cascade to every face)."""
    if engine.url.get_backend_name() != "sqlite":
        with engine.begin() as connection:
            yield connection
        return
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
        try:
            with connection.begin():
                yield connection
                problems = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if problems:
                    raise RuntimeError(f"the migration left {len(problems)} broken foreign key(s)")
        finally:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


def upgrade_database(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (what ``alembic upgrade head`` does)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    migrator = migration_engine(engine)
    try:
        with _migration_lock(migrator), migration_connection(migrator) as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        if migrator is not engine:
            migrator.dispose()
    log.info("database schema is up to date (%s)", engine.url.render_as_string(hide_password=True))
