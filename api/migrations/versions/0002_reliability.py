"""Names compare in binary on MySQL/MariaDB, SQLite never reuses ids, and a lock row for unknown faces.

* ``persons.name_key`` becomes ``utf8mb4_bin`` on MySQL/MariaDB: the server's default collation made
  "Zoë" equal to "Zoe" (and many emoji equal), merging different people; keys are NFC-normalised.
* ``persons``, ``face_embeddings`` and ``face_crops`` get AUTOINCREMENT on SQLite, so the id of a
  deleted person is never handed to the next one (``sqlite_sequence`` starts past the current maximum).
* ``app_locks`` holds the row that serialises the first sighting of an unknown face.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

AUTOINCREMENT_TABLES = ('persons', 'face_embeddings', 'face_crops')


def _nfc_keys() -> None:
    """Existing keys in NFC; a key whose NFC form another row already holds is left as it was."""
    bind = op.get_bind()
    persons = sa.table('persons', sa.column('id', sa.Integer), sa.column('name_key', sa.String))
    rows = bind.execute(sa.select(persons.c.id, persons.c.name_key)).all()
    taken = {key for _, key in rows}
    for person_id, key in rows:
        normal = unicodedata.normalize('NFC', key)
        if normal != key and normal not in taken:
            bind.execute(persons.update().where(persons.c.id == person_id).values(name_key=normal))
            taken.add(normal)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect in ('mysql', 'mariadb'):
        op.alter_column(
            'persons', 'name_key',
            existing_type=sa.String(length=255),
            type_=mysql.VARCHAR(255, charset='utf8mb4', collation='utf8mb4_bin'),
            existing_nullable=False,
        )
    elif dialect == 'sqlite':
        # Recreated tables: api/db/engine.py runs migrations with foreign keys off, as SQLite asks.
        for table in AUTOINCREMENT_TABLES:
            with op.batch_alter_table(table, recreate='always', table_kwargs={'sqlite_autoincrement': True}):
                pass
    _nfc_keys()
    op.create_table(
        'app_locks',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('taken_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('name'),
    )
    app_locks = sa.table('app_locks', sa.column('name', sa.String))
    op.bulk_insert(app_locks, [{'name': 'unknown_faces'}])


def downgrade() -> None:
    op.drop_table('app_locks')
    dialect = op.get_bind().dialect.name
    if dialect in ('mysql', 'mariadb'):
        op.alter_column(
            'persons', 'name_key',
            existing_type=mysql.VARCHAR(255, charset='utf8mb4', collation='utf8mb4_bin'),
            type_=sa.String(length=255),
            existing_nullable=False,
        )
    elif dialect == 'sqlite':
        for table in AUTOINCREMENT_TABLES:
            with op.batch_alter_table(table, recreate='always', table_kwargs={'sqlite_autoincrement': False}):
                pass
