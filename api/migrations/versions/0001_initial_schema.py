"""Initial schema: people, embeddings, crops, detections, unknown faces, API keys, gallery revision.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 01:52:02.977827
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('salt', sa.String(length=64), nullable=False),
    sa.Column('key_hash', sa.String(length=128), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('prefix')
    )
    op.create_table('gallery_state',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('revision', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('persons',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('name_key', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name_key')
    )
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_persons_created_at'), ['created_at'], unique=False)

    op.create_table('unknown_faces',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.Column('dim', sa.Integer(), nullable=False),
    sa.Column('embedder_version', sa.String(length=128), nullable=False),
    sa.Column('first_seen', sa.DateTime(), nullable=False),
    sa.Column('last_seen', sa.DateTime(), nullable=False),
    sa.Column('times_seen', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('unknown_faces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unknown_faces_last_seen'), ['last_seen'], unique=False)

    op.create_table('detections',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('box_x', sa.Integer(), nullable=False),
    sa.Column('box_y', sa.Integer(), nullable=False),
    sa.Column('box_width', sa.Integer(), nullable=False),
    sa.Column('box_height', sa.Integer(), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('age', sa.Float(), nullable=True),
    sa.Column('gender', sa.String(length=16), nullable=True),
    sa.Column('gender_confidence', sa.Float(), nullable=True),
    sa.Column('identity', sa.String(length=255), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('unknown_id', sa.String(length=40), nullable=True),
    sa.Column('similarity', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('detections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_detections_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_detections_identity_created', ['identity', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_detections_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_detections_unknown_id'), ['unknown_id'], unique=False)

    op.create_table('face_embeddings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.Column('dim', sa.Integer(), nullable=False),
    sa.Column('embedder_version', sa.String(length=128), nullable=False),
    sa.Column('image_sha256', sa.String(length=64), nullable=False),
    sa.Column('face_index', sa.Integer(), nullable=False),
    sa.Column('box_x', sa.Integer(), nullable=False),
    sa.Column('box_y', sa.Integer(), nullable=False),
    sa.Column('box_width', sa.Integer(), nullable=False),
    sa.Column('box_height', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('person_id', 'image_sha256', name='uq_face_embeddings_person_image')
    )
    with op.batch_alter_table('face_embeddings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_face_embeddings_embedder_version'), ['embedder_version'], unique=False)
        batch_op.create_index(batch_op.f('ix_face_embeddings_person_id'), ['person_id'], unique=False)

    op.create_table('face_crops',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('embedding_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('image_format', sa.String(length=16), nullable=False),
    sa.Column(
        'data',
        sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), 'mariadb').with_variant(mysql.MEDIUMBLOB(), 'mysql'),
        nullable=False,
    ),
    sa.ForeignKeyConstraint(['embedding_id'], ['face_embeddings.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('embedding_id')
    )
    with op.batch_alter_table('face_crops', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_face_crops_person_id'), ['person_id'], unique=False)

    gallery_state = sa.table('gallery_state', sa.column('id', sa.Integer), sa.column('revision', sa.BigInteger))
    op.bulk_insert(gallery_state, [{'id': 1, 'revision': 0}])



def downgrade() -> None:
    with op.batch_alter_table('face_crops', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_face_crops_person_id'))

    op.drop_table('face_crops')
    with op.batch_alter_table('face_embeddings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_face_embeddings_person_id'))
        batch_op.drop_index(batch_op.f('ix_face_embeddings_embedder_version'))

    op.drop_table('face_embeddings')
    with op.batch_alter_table('detections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_detections_unknown_id'))
        batch_op.drop_index(batch_op.f('ix_detections_person_id'))
        batch_op.drop_index('ix_detections_identity_created')
        batch_op.drop_index(batch_op.f('ix_detections_created_at'))

    op.drop_table('detections')
    with op.batch_alter_table('unknown_faces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unknown_faces_last_seen'))

    op.drop_table('unknown_faces')
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_persons_created_at'))

    op.drop_table('persons')
    op.drop_table('gallery_state')
    op.drop_table('api_keys')
