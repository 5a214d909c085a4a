"""The tables: people, their face embeddings and crops, detections, recent unknown faces, API keys,
and the gallery revision counter that tells every worker when its in-memory gallery is stale."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NameKey = String(255).with_variant(
    mysql.VARCHAR(255, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
)
"""Compared byte for byte: our rule (api/services/names.py) decides who is the same person, not the
server's default collation, which equates accented letters and many emoji."""

NO_ID_REUSE = {"sqlite_autoincrement": True}
"""SQLite otherwise hands a deleted row's id to the next insert; a deleted person's id must stay dead."""

CropBlob = LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")
"""A few tens of kB per crop: over MySQL's 64 kB BLOB for large PNGs, so MEDIUMBLOB there."""


def utcnow() -> datetime:
    """Naive UTC: SQLite and MySQL DATETIME both drop the zone, so we never store one."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Person(Base):
    __tablename__ = "persons"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    name_key: Mapped[str] = mapped_column(NameKey, nullable=False, unique=True)
    """NFC, case-folded name (api/services/names.py), compared in binary: one person per key."""
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow, index=True)

    embeddings: Mapped[list[FaceEmbeddingRow]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True
    )


class FaceEmbeddingRow(Base):
    """One enrolled face: the raw pipeline embedding, with what made it."""

    __tablename__ = "face_embeddings"
    __table_args__ = (
        UniqueConstraint("person_id", "image_sha256", name="uq_face_embeddings_person_image"),
        NO_ID_REUSE,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), nullable=False, index=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    dim: Mapped[int] = mapped_column(Integer, nullable=False)
    embedder_version: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    image_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    face_index: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    box_x: Mapped[int] = mapped_column(Integer, nullable=False)
    box_y: Mapped[int] = mapped_column(Integer, nullable=False)
    box_width: Mapped[int] = mapped_column(Integer, nullable=False)
    box_height: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    person: Mapped[Person] = relationship(back_populates="embeddings")
    crop: Mapped[FaceCrop | None] = relationship(
        back_populates="embedding", cascade="all, delete-orphan", passive_deletes=True, uselist=False
    )


class FaceCrop(Base):
    """The aligned crop (PNG, lossless) an embedding was made from, to recompute it for a new embedder."""

    __tablename__ = "face_crops"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    embedding_id: Mapped[int] = mapped_column(
        ForeignKey("face_embeddings.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), nullable=False, index=True)
    image_format: Mapped[str] = mapped_column(String(16), nullable=False, default="png")
    data: Mapped[bytes] = mapped_column(CropBlob, nullable=False)

    embedding: Mapped[FaceEmbeddingRow] = relationship(back_populates="crop")


class Detection(Base):
    """One analysed face: when, where, who (or which unknown), and the estimated age and gender."""

    __tablename__ = "detections"
    __table_args__ = (Index("ix_detections_identity_created", "identity", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow, index=True)
    box_x: Mapped[int] = mapped_column(Integer, nullable=False)
    box_y: Mapped[int] = mapped_column(Integer, nullable=False)
    box_width: Mapped[int] = mapped_column(Integer, nullable=False)
    box_height: Mapped[int] = mapped_column(Integer, nullable=False)
    confidence: Mapped[float] = mapped_column(Float, nullable=False)
    age: Mapped[float | None] = mapped_column(Float, nullable=True)
    gender: Mapped[str | None] = mapped_column(String(16), nullable=True)
    gender_confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    identity: Mapped[str] = mapped_column(String(255), nullable=False)
    """The enrolled name at the time, or ``"unknown"``."""
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="SET NULL"), nullable=True, index=True
    )
    unknown_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    similarity: Mapped[float | None] = mapped_column(Float, nullable=True)


class UnknownFace(Base):
    """A face nobody enrolled: kept for a while so that the same face gets the same anonymous id."""

    __tablename__ = "unknown_faces"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    dim: Mapped[int] = mapped_column(Integer, nullable=False)
    embedder_version: Mapped[str] = mapped_column(String(128), nullable=False)
    first_seen: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow, index=True)
    times_seen: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


class ApiKey(Base):
    """An API key: only a salted hash is stored; the prefix finds the row without trying every hash."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False, unique=True)
    salt: Mapped[str] = mapped_column(String(64), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(128), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class GalleryState(Base):
    """A single row whose revision goes up with every enrolment or deletion (any worker, any process)."""

    __tablename__ = "gallery_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    revision: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class AppLock(Base):
    """Named rows a transaction updates to serialise one kind of work across threads and workers
    (e.g. the first sighting of a stranger); the row lock lasts until that transaction ends."""

    __tablename__ = "app_locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    taken_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
