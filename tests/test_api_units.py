"""Fast tests of the API's parts without the TensorFlow models: gallery maths and reloads, keys,
middleware, error mapping, the CLIs, and the not-ready answers."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import timedelta
from types import SimpleNamespace

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.config import ApiSettings, get_settings, resolve_database_url
from api.db.engine import make_engine, make_session_factory, upgrade_database
from api.db.models import ApiKey, Detection, FaceEmbeddingRow, Person, UnknownFace, utcnow
from api.errors import image_error_status
from api.main import create_app
from api.middleware import BodySizeLimitMiddleware, RequestIdMiddleware
from api.security import allows, create_key, find_key
from api.services.gallery import Gallery, bump_revision
from api.services.served_models import PackagedModels, ServedModels
from api.services.unknowns import UnknownFaces
from api.services.vectors import normalize_rows, to_bytes
from face_pipeline.errors import EmptyImageError, ImageTooLargeError, NotAnImageError, TruncatedImageError


@pytest.fixture
def sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'unit.db'}")
    upgrade_database(engine)
    yield make_session_factory(engine)
    engine.dispose()


def add_people(sessions, vectors_per_person: list[np.ndarray], prefix: str = "Person") -> list[int]:
    ids = []
    with sessions.begin() as session:
        for n, vectors in enumerate(vectors_per_person):
            person = Person(name=f"{prefix} {n}", name_key=f"{prefix.casefold()} {n}")
            session.add(person)
            session.flush()
            for k, vector in enumerate(vectors):
                session.add(FaceEmbeddingRow(person_id=person.id, vector=to_bytes(vector), dim=vector.size,
                                             embedder_version="v1", image_sha256=f"{n}-{k}", face_index=0, box_x=0,
                                             box_y=0, box_width=1, box_height=1))
            ids.append(person.id)
        bump_revision(session)
    return ids


def test_gallery_top_k_is_best_face_per_person_and_reloads_on_revision(sessions):
    rng = np.random.default_rng(0)
    people = [normalize_rows(rng.normal(size=(int(rng.integers(1, 4)), 16))) for _ in range(30)]
    ids = add_people(sessions, people)
    gallery = Gallery(sessions, lambda x: x, "v1", 16)
    snapshot = gallery.current()
    assert snapshot.size == 30
    queries = normalize_rows(rng.normal(size=(5, 16)))
    brute = np.array([[float(np.max(p @ q)) for p in people] for q in queries])
    for q, matches in enumerate(snapshot.top_k(queries, 4)):
        expected = np.argsort(-brute[q])[:4]
        assert [m.person_id for m in matches] == [ids[i] for i in expected]
        assert np.allclose([m.similarity for m in matches], brute[q][expected], atol=1e-5)
    assert snapshot.best_for_person(ids[3], queries[0]) == pytest.approx(brute[0][3], abs=1e-5)
    assert snapshot.best_for_person(99999, queries[0]) is None
    assert gallery.current() is snapshot  # unchanged revision: no reload
    gallery.invalidate()
    assert gallery.current() is not snapshot and gallery.current().size == 30
    snapshot = gallery.current()

    add_people(sessions, [normalize_rows(queries[:1])], prefix="Newcomer")
    reloaded = gallery.current()
    assert reloaded is not snapshot and reloaded.size == 31
    assert reloaded.top_k(queries[:1], 1)[0][0].similarity == pytest.approx(1.0, abs=1e-5)


def test_gallery_ignores_other_embedder_versions_and_empty_gallery(sessions):
    gallery = Gallery(sessions, lambda x: x, "another-version", 16)
    assert gallery.current().top_k(normalize_rows(np.ones((1, 16))), 3) == [[]]
    add_people(sessions, [normalize_rows(np.ones((1, 16)))])
    assert gallery.current().size == 0


def test_unknown_faces_keep_their_id_within_the_window(sessions):
    unknowns = UnknownFaces(lambda x: normalize_rows(x), "v1", window_hours=1, max_recent=100)
    rng = np.random.default_rng(1)
    a, b = normalize_rows(rng.normal(size=(2, 16)))
    with sessions.begin() as session:
        first = unknowns.assign(session, np.stack([a, b]), threshold=0.5)
    assert len(set(first)) == 2 and all(i.startswith("unknown_") for i in first)
    with sessions.begin() as session:
        again = unknowns.assign(session, normalize_rows(a + 0.01 * rng.normal(size=16)), threshold=0.5)
    assert again == [first[0]]
    other_worker = UnknownFaces(lambda x: normalize_rows(x), "v1", window_hours=1, max_recent=100)
    with sessions.begin() as session:
        assert other_worker.assign(session, b[None], threshold=0.5) == [first[1]]
    with sessions.begin() as session:
        session.get(UnknownFace, first[0]).last_seen = utcnow() - timedelta(hours=2)
    fresh_worker = UnknownFaces(lambda x: normalize_rows(x), "v1", window_hours=1, max_recent=100)
    with sessions.begin() as session:
        assert fresh_worker.assign(session, a[None], threshold=0.5)[0] not in first


def test_api_keys_are_hashed_and_checked(sessions):
    with sessions.begin() as session:
        key, row = create_key(session, "read", "unit")
    with sessions() as session:
        stored = session.execute(select(ApiKey)).scalar_one()
        assert key.split("_")[2] not in (stored.key_hash, stored.salt) and len(stored.key_hash) == 64
        assert find_key(session, key).role == "read"
        assert find_key(session, key + "x") is None
        assert find_key(session, "fah_" + row.prefix) is None
        assert find_key(session, "") is None
    with pytest.raises(ValueError), sessions.begin() as session:
        create_key(session, "superuser")
    assert allows("admin", "admin") and allows("admin", "read") and allows("read", "read")
    assert not allows("read", "admin")


def test_image_errors_map_to_statuses():
    assert image_error_status(NotAnImageError("x")) == 415
    assert image_error_status(EmptyImageError("x")) == 400
    assert image_error_status(TruncatedImageError("x")) == 422
    assert image_error_status(ImageTooLargeError("x")) == 422


def test_packaged_models_answer_without_age_or_gender():
    class FakePipeline:
        threshold = 0.42

        class embedder:  # noqa: N801 - mimics the attribute
            full_version = "fake:1"

    served = PackagedModels(FakePipeline())
    assert isinstance(served, ServedModels)
    assert served.predict_age_gender(np.zeros((2, 160, 160, 3), np.uint8), np.zeros((2, 512), np.float32)) == [
        (None, None, None),
        (None, None, None),
    ]
    e = normalize_rows(np.ones((1, 512)))[0]
    assert served.verify_pair(e, e) == (pytest.approx(1.0), 0.42, "fake:1")
    assert served.verify_person("x", e) is None and served.match_threshold() is None
    assert np.array_equal(served.project(e[None]), e[None])
    assert PackagedModels(FakePipeline(), threshold=0.6).verify_pair(e, -e)[1] == 0.6


async def _call(app, body_chunks: list[bytes], headers: list[tuple[bytes, bytes]] | None = None):
    messages = [{"type": "http.request", "body": c, "more_body": i < len(body_chunks) - 1}
                for i, c in enumerate(body_chunks)]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers or []}
    await app(scope, receive, send)
    return sent


async def _echo_body_app(scope, receive, send):
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def test_body_limit_counts_streamed_bytes_without_content_length():
    app = RequestIdMiddleware(BodySizeLimitMiddleware(_echo_body_app, max_bytes=10))
    sent = asyncio.run(_call(app, [b"12345", b"67890", b"abc"]))
    assert sent[0]["status"] == 413 and (b"x-request-id" in dict(sent[0]["headers"]))
    assert "limit is 10 bytes" in json.loads(sent[1]["body"])["error"]
    ok = asyncio.run(_call(app, [b"12345", b"678"]))
    assert ok[0]["status"] == 200 and ok[1]["body"] == b"8"
    declared = asyncio.run(_call(app, [b""], [(b"content-length", b"11")]))
    assert declared[0]["status"] == 413


def test_unexpected_errors_are_json_500_with_request_id():
    async def broken(scope, receive, send):
        raise RuntimeError("secret internals")

    sent = asyncio.run(_call(RequestIdMiddleware(broken), [b""], [(b"x-request-id", b"req-1")]))
    assert sent[0]["status"] == 500 and dict(sent[0]["headers"])[b"x-request-id"] == b"req-1"
    body = json.loads(sent[1]["body"])
    assert body["error"] == "Internal server error" and "secret" not in json.dumps(body)


def test_not_ready_is_503_and_disabled_keys_are_warned_about(tmp_path, caplog):
    settings = ApiSettings(database_url=f"sqlite:///{tmp_path / 'x.db'}", api_keys_enabled=False)
    app = create_app(settings, pipeline=object())  # not a pipeline: loading fails, the API says so
    with caplog.at_level(logging.WARNING, logger="api"), TestClient(app) as client:
        deadline = time.monotonic() + 30
        while app.state.runtime.load_error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["ready"] is False and "failed" in ready.json()["error"]
        analysed = client.post("/analyze", files={"file": ("a.jpg", b"x")})
        assert analysed.status_code == 503 and "error" in analysed.json() and analysed.headers["x-request-id"]
    assert any("API_KEYS_ENABLED=false" in r.getMessage() for r in caplog.records)


def test_relative_sqlite_paths_are_under_the_repository(tmp_path):
    url = resolve_database_url("sqlite:///data/face_api.db")
    assert url.startswith("sqlite:////") and url.endswith("/data/face_api.db")
    assert resolve_database_url("mysql+pymysql://u:p@h/db") == "mysql+pymysql://u:p@h/db"


def test_cli_scripts(tmp_path, monkeypatch, capsys):
    from scripts import api_keys, cleanup_detections

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        assert api_keys.main(["create", "--role", "admin", "--name", "ops"]) == 0
        key = capsys.readouterr().out.strip()
        assert key.startswith("fah_")
        assert api_keys.main(["list"]) == 0
        listing = capsys.readouterr().out
        assert "admin" in listing and "active" in listing and key not in listing
        prefix = key.split("_")[1]
        assert api_keys.main(["revoke", prefix]) == 0
        assert api_keys.main(["revoke", "nosuch"]) == 1
        assert "no API key" in capsys.readouterr().err

        engine = make_engine(url)
        sessions = make_session_factory(engine)
        with sessions() as session:
            assert find_key(session, key) is None
        with sessions.begin() as session:
            for days in (1, 40, 50):
                session.add(Detection(created_at=utcnow() - timedelta(days=days), box_x=0, box_y=0, box_width=1,
                                      box_height=1, confidence=1.0, identity="unknown"))
        assert cleanup_detections.main(["--days", "30"]) == 0
        assert "deleted 2 detection(s)" in capsys.readouterr().out
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(Detection)) == 1
        engine.dispose()
        with pytest.raises(SystemExit) as exit_info:
            cleanup_detections.main(["--days", "-3"])
        assert exit_info.value.code == 2
    finally:
        get_settings.cache_clear()


class _FakeEmbedder:
    full_version = "fake:1"
    dim = 8


class _FakePipeline:
    """Stands in for the TF pipeline: byte 0 is the face count, the rest seeds the vectors."""

    threshold = 0.5
    calibration = SimpleNamespace(far_table=[])  # no 1:N table: identification uses the 1:1 threshold
    embedder = _FakeEmbedder()
    versions = {"detector": "fake", "embedder": "fake:1"}

    def load(self, data: bytes) -> bytes:
        return data

    def process(self, data: bytes):
        from face_pipeline import BoundingBox, Face, FaceEmbedding

        rng = np.random.default_rng(list(data[1:]) or [0])
        landmarks = {n: (1.0, 1.0) for n in ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")}
        return [
            FaceEmbedding(
                face=Face(box=BoundingBox(100 * i, 0, 50, 50), confidence=0.99, landmarks=landmarks),
                crop=np.zeros((160, 160, 3), np.uint8),
                embedding=normalize_rows(rng.normal(size=8))[0],
            )
            for i in range(data[0])
        ]


def test_face_service_without_crops(sessions):
    from api.db.models import FaceCrop
    from api.errors import ApiError
    from api.services.faces import FaceService

    fake = _FakePipeline()
    settings = ApiSettings(database_url="sqlite://", keep_face_crops=False)
    service = FaceService.create(settings, fake, PackagedModels(fake), sessions)
    answer, added = service.register(b"\x01ann", "  Ann   Lee ", None)
    assert added and answer["name"] == "Ann Lee" and answer["faces"] == 1
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(FaceCrop)) == 0
    analysed = service.analyze(b"\x01ann", 2)
    assert analysed["faces"][0]["identity"] == "Ann Lee" and len(analysed["faces"][0]["matches"]) == 1
    with pytest.raises(ApiError) as several:
        service.register(b"\x02bob", "Bob", None)
    assert several.value.status_code == 422 and several.value.extra["face_count"] == 2
    assert service.register(b"\x02bob", "Bob", 1)[0]["face"]["bbox"]["x"] == 100
    with pytest.raises(ApiError) as no_face:
        service.verify_pair(b"\x00", b"\x01x")
    assert no_face.value.message == "No face detected in the image"
    assert service.verify_person(b"\x01ann", "ann lee", None, None)["is_match"] is True
    assert service.delete_person(answer["person_id"])["embeddings_removed"] == 1
    with pytest.raises(ApiError) as gone:
        service.verify_person(b"\x01ann", "Ann Lee", None, None)
    assert gone.value.status_code == 404


def test_unknown_cache_is_rebuilt_when_the_gallery_revision_moves(sessions):
    rng = np.random.default_rng(2)
    rotation = np.linalg.qr(rng.normal(size=(16, 16)))[0].astype(np.float32)
    space = {"project": lambda x: normalize_rows(x)}
    unknowns = UnknownFaces(lambda x: space["project"](x), "v1", window_hours=1, max_recent=100)
    a = normalize_rows(rng.normal(size=(1, 16)))
    with sessions.begin() as session:
        first = unknowns.assign(session, a, threshold=0.5, revision=1)
    space["project"] = lambda x: normalize_rows(normalize_rows(x) @ rotation)  # a new recognition head
    with sessions.begin() as session:
        assert unknowns.assign(session, a, threshold=0.5, revision=2) == first
