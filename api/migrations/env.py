"""Alembic environment: uses the connection the API hands over, or builds one from DATABASE_URL."""

from __future__ import annotations

from alembic import context

from api.config import get_settings
from api.db.models import Base

config = context.config
target_metadata = Base.metadata


def _configure_and_run(connection) -> None:  # noqa: ANN001 - SQLAlchemy connection
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(url=get_settings().resolved_database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    from api.db.engine import make_engine, migration_connection, migration_engine

    # `alembic upgrade` by hand: the same kind of connection as at start-up (no request timeouts;
    # foreign keys off on SQLite, whose table rebuilds would otherwise cascade deletes).
    engine = make_engine(get_settings().database_url)
    migrator = migration_engine(engine)
    try:
        with migration_connection(migrator) as connection:
            _configure_and_run(connection)
    finally:
        migrator.dispose()
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
