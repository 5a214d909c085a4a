"""Distinct people stay distinct, a deleted person is forgotten, and races end in clean answers, on
SQLite and on a fresh MariaDB database; fast (the fake pipeline, no TensorFlow)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import OperationalError

from api.config import ApiSettings
from api.db.engine import DatabaseTimeouts, make_engine, make_session_factory, upgrade_database
from api.db.models import Detection, Person, UnknownFace
from api.errors import ApiError
from api.services.faces import FaceService
from api.services.names import clean_name, name_key
from api.services.served_models import PackagedModels
from benchmarks.mariadb import scratch_database
from tests.fake_pipeline import FakePipeline

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", "mariadb"])
def database_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'integrity.db'}"
        return
    # The collation that merged "Zoë" with "Zoe": the fix must not depend on the database's default.
    with scratch_database("face_api_test", collation="utf8mb4_unicode_ci") as url:
        yield url


@pytest.fixture
def service(database_url) -> Iterator[FaceService]:
    engine = make_engine(database_url)
    upgrade_database(engine)
    fake = FakePipeline()
    settings = ApiSettings(database_url=database_url, model_source="packaged")
    yield FaceService.create(settings, fake, PackagedModels(fake), make_session_factory(engine))
    engine.dispose()


def enrol(service: FaceService, photo: bytes, name: str) -> dict:
    return service.register(photo, name, None)[0]


def test_accents_emoji_and_case_follow_our_rule_not_the_collation(service):
    zoe = enrol(service, b"\x01zoe", "Zoe Collision")
    accented = enrol(service, b"\x01zoe-accent", "Zoë Collision")
    assert accented["created"] is True and accented["person_id"] != zoe["person_id"]
    assert accented["name"] == "Zoë Collision"
    smile = enrol(service, b"\x01smile", "Emoji 😃")
    grin = enrol(service, b"\x01grin", "Emoji 😀")
    assert grin["created"] is True and grin["person_id"] != smile["person_id"]
    # Our rule: case-insensitive, and the same text however it is encoded (NFC).
    decomposed = enrol(service, b"\x01zoe-3", "zoe\u0308 COLLISION")
    assert decomposed["created"] is False and decomposed["person_id"] == accented["person_id"]
    assert enrol(service, b"\x01zoe-4", "ZOE collision")["person_id"] == zoe["person_id"]
    with service.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 4


def test_unsafe_names_are_refused():
    for bad in ("Eve\x00Null", "Mallory \u202egnp.exe", "Bell\x07", "Esc\x1b[31m", "Iso\u2066late"):
        with pytest.raises(ApiError) as refused:
            clean_name(bad)
        assert refused.value.status_code == 422 and "U+" in refused.value.message
    assert clean_name("  Family 👨\u200d👩\u200d👧  ") == "Family 👨\u200d👩\u200d👧"
    assert clean_name("Zoe\u0308") == "Zoë" and name_key("ZOË") == name_key("zoë")


def test_delete_forgets_the_person_s_unknown_sightings(service):
    before = service.analyze(b"\x01stranger", 1)["faces"][0]["person_id"]
    assert str(before).startswith("unknown_")
    sam = enrol(service, b"\x01stranger", "Sam")
    assert service.analyze(b"\x01stranger", 1)["faces"][0]["identity"] == "Sam"
    other = service.analyze(b"\x01someone-else", 1)["faces"][0]["person_id"]

    deleted = service.delete_person(sam["person_id"])
    assert deleted["unknown_faces_removed"] == 1 and deleted["embeddings_removed"] == 1
    with service.session_factory() as session:
        assert session.get(UnknownFace, before) is None and session.get(UnknownFace, other) is not None
        assert session.scalar(select(func.count()).where(Detection.unknown_id == before)) == 0
        assert session.scalar(select(func.count()).where(Detection.person_id == sam["person_id"])) == 0
    after = service.analyze(b"\x01stranger", 1)["faces"][0]["person_id"]
    assert str(after).startswith("unknown_") and after != before
    assert service.analyze(b"\x01someone-else", 1)["faces"][0]["person_id"] == other


def test_a_deleted_person_s_id_is_never_reused(service):
    enrol(service, b"\x01ann", "Ann")
    bob = enrol(service, b"\x01bob", "Bob")
    service.delete_person(bob["person_id"])
    carl = enrol(service, b"\x01carl", "Carl")
    assert carl["person_id"] > bob["person_id"]


def test_analyze_when_the_matched_person_is_deleted_mid_request(service, monkeypatch):
    sam = enrol(service, b"\x01sam", "Sam")
    current = service.gallery.current

    def snapshot_then_delete():
        snapshot = current()
        with service.session_factory.begin() as session:
            session.execute(delete(Person).where(Person.id == sam["person_id"]))
        return snapshot

    monkeypatch.setattr(service.gallery, "current", snapshot_then_delete)
    face = service.analyze(b"\x01sam", 1)["faces"][0]
    assert face["identity"] == "unknown" and str(face["person_id"]).startswith("unknown_")
    with service.session_factory() as session:
        assert session.scalar(select(Detection.identity)) == "unknown"


def test_verify_racing_a_delete_is_404(service, monkeypatch):
    sam = enrol(service, b"\x01sam", "Sam")
    one_face = service._one_face

    def face_then_delete(*args, **kwargs):
        chosen = one_face(*args, **kwargs)
        service.delete_person(sam["person_id"])
        return chosen

    monkeypatch.setattr(service, "_one_face", face_then_delete)
    with pytest.raises(ApiError) as gone:
        service.verify_person(b"\x01sam", "Sam", None, None)
    assert gone.value.status_code == 404


def test_one_stranger_from_four_threads_gets_one_unknown_id(service, monkeypatch):
    assign = service.unknowns.assign

    def assign_then_dawdle(*args, **kwargs):
        ids = assign(*args, **kwargs)
        time.sleep(0.3)  # before the commit: the window in which a second id used to be minted
        return ids

    monkeypatch.setattr(service.unknowns, "assign", assign_then_dawdle)
    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(lambda _: service.analyze(b"\x01newcomer", 1)["faces"][0]["person_id"], range(4)))
    assert len(set(ids)) == 1, ids
    with service.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(UnknownFace)) == 1
        assert session.scalar(select(UnknownFace.times_seen)) == 4


def test_statement_timeout_stops_a_long_query(database_url):
    engine = make_engine(database_url, DatabaseTimeouts(statement=1))
    try:
        if engine.dialect.name == "sqlite":
            pytest.skip("SQLite runs in-process: its bound is the busy timeout")
        started = time.monotonic()
        with pytest.raises(OperationalError), engine.connect() as connection:
            connection.execute(text("SELECT SLEEP(5)"))
        assert time.monotonic() - started < 3
    finally:
        engine.dispose()


@pytest.mark.parametrize("how", ["start-up", "alembic-cli"])
def test_migration_0002_keeps_every_row_on_sqlite(tmp_path, how):
    """SQLite rebuilds ``persons`` to add AUTOINCREMENT: with foreign keys on, dropping the old table
    would cascade to every face. Both ways of migrating must keep them."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    env = {**os.environ, "DATABASE_URL": url}
    alembic = [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini")]
    subprocess.run([*alembic, "upgrade", "0001"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO persons (id, name, name_key, created_at) VALUES "
                                "(1, 'Ann', 'ann', '2026-01-01'), (2, 'Bob', 'bob', '2026-01-01')"))
        connection.execute(text("INSERT INTO face_embeddings (person_id, vector, dim, embedder_version, image_sha256, "
                                "face_index, box_x, box_y, box_width, box_height, created_at) VALUES "
                                "(2, x'00', 1, 'v', 'sha', 0, 0, 0, 1, 1, '2026-01-01')"))
        connection.execute(text("DELETE FROM persons WHERE id = 1"))
    if how == "start-up":
        upgrade_database(engine)
    else:
        subprocess.run([*alembic, "upgrade", "head"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    sessions = make_session_factory(engine)
    with sessions() as session:
        assert session.scalar(text("SELECT count(*) FROM face_embeddings")) == 1
        assert session.scalar(text("SELECT version_num FROM alembic_version")) == "0002"
    with sessions.begin() as session:
        session.execute(delete(Person).where(Person.id == 2))
        carl = Person(name="Carl", name_key="carl")
        session.add(carl)
        session.flush()
        assert carl.id == 3  # neither 1 nor 2 comes back
    engine.dispose()
