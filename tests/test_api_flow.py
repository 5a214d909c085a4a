"""The face API end to end over HTTP, with real photos and the real pipeline, on SQLite and on MariaDB:
enrol, recognise, unknown ids, verify, search, stats, delete — and nothing left of a deleted person."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.config import ApiSettings
from api.db.engine import make_engine, make_session_factory
from api.db.models import Detection, FaceCrop, FaceEmbeddingRow, Person
from api.main import create_app
from api.security import create_key
from benchmarks.mariadb import scratch_database
from tests.conftest import lfw_image

pytestmark = pytest.mark.slow


def photo(name: str, index: int) -> bytes:
    return lfw_image(name, index).read_bytes()


def upload(data: bytes, name: str = "photo.jpg", field: str = "file") -> dict:
    return {field: (name, data, "application/octet-stream")}


def wait_ready(client: TestClient, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/ready")
        if response.status_code == 200:
            return response.json()
        if time.monotonic() > deadline:
            pytest.fail(f"API not ready: {response.json()}")
        time.sleep(0.2)


@pytest.fixture(scope="module", params=["sqlite", "mariadb"])
def database_url(request, tmp_path_factory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('api_flow') / 'face_api.db'}"
        return
    with scratch_database("face_api_test", collation="utf8mb4_unicode_ci") as url:
        yield url


@pytest.fixture(scope="module")
def api(database_url, pipeline) -> Iterator[dict]:
    settings = ApiSettings(database_url=database_url, api_keys_enabled=True, model_source="packaged")
    app = create_app(settings, pipeline=pipeline)
    with TestClient(app) as client:
        wait_ready(client)
        sessions = app.state.runtime.session_factory
        with sessions.begin() as session:
            admin, _ = create_key(session, "admin", "tests")
            read, _ = create_key(session, "read", "tests")
        yield {
            "client": client,
            "admin": {"X-API-Key": admin},
            "read": {"X-API-Key": read},
            "sessions": sessions,
            "url": database_url,
        }


def test_ready_reports_versions_and_database(api):
    assert set(api["client"].get("/ready").json()) == {"ready", "pid"}  # the public answer
    body = api["client"].get("/ready", headers=api["read"]).json()
    assert body["ready"] is True and body["database"] == "ok"
    assert "facenet-casia" in body["model_versions"]["embedder"] and "sface" in body["model_versions"]["embedder"]
    assert body["model_versions"]["age_gender"] is None


def test_register_then_recognise_with_look_alikes(api):
    client = api["client"]
    first = client.post("/register", files=upload(photo("George_W_Bush", 1)), data={"person_name": "George W Bush"},
                        headers=api["admin"])
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["name"] == "George W Bush" and body["faces"] == 1 and body["created"] is True
    bush_id = body["person_id"]

    again = client.post("/register", files=upload(photo("George_W_Bush", 1)), data={"person_name": "george w bush"},
                        headers=api["admin"])
    assert again.status_code == 200 and again.json()["faces"] == 1 and again.json()["added"] is False

    second = client.post("/register", files=upload(photo("George_W_Bush", 10)),
                         data={"person_name": "George W Bush"}, headers=api["admin"])
    assert second.status_code == 201 and second.json()["faces"] == 2 and second.json()["person_id"] == bush_id

    powell = client.post("/register", files=upload(photo("Colin_Powell", 1)), data={"person_name": "Colin Powell"},
                         headers=api["admin"])
    assert powell.status_code == 201

    response = client.post("/analyze?top_k=2", files=upload(photo("George_W_Bush", 23)), headers=api["read"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and len(body["faces"]) == 1
    assert set(body) >= {"success", "faces", "message", "timing_ms", "model_versions"}
    face = body["faces"][0]
    assert face["identity"] == "George W Bush" and face["person_id"] == bush_id
    assert face["similarity"] > body["faces"][0]["matches"][1]["similarity"]
    assert [m["name"] for m in face["matches"]] == ["George W Bush", "Colin Powell"]
    assert set(face["bbox"]) == {"x", "y", "width", "height"} and 0.9 <= face["confidence"] <= 1.0
    assert set(face["landmarks"]) == {"left_eye", "right_eye", "nose", "mouth_left", "mouth_right"}
    assert face["age"] is None and face["gender"] is None and face["gender_confidence"] is None


def test_unknown_face_gets_the_same_id_twice(api):
    client = api["client"]
    ids = []
    for index in (2, 3):  # two different photos of someone never enrolled
        response = client.post("/analyze", files=upload(photo("Tony_Blair", index)), headers=api["read"])
        face = response.json()["faces"][0]
        assert face["identity"] == "unknown"
        ids.append(face["person_id"])
    assert ids[0].startswith("unknown_") and ids[0] == ids[1]


def test_verify_true_false_and_pair(api):
    client = api["client"]
    yes = client.post("/verify", files=upload(photo("George_W_Bush", 30)), data={"person_name": "George W Bush"},
                      headers=api["read"])
    assert yes.status_code == 200, yes.text
    body = yes.json()
    assert set(body) == {"model_version", "is_match", "score", "threshold", "person", "timing_ms"}
    assert body["is_match"] is True and body["person"]["name"] == "George W Bush"

    no = client.post("/verify", files=upload(photo("Colin_Powell", 7)), data={"person_name": "George W Bush"},
                     headers=api["read"])
    assert no.json()["is_match"] is False and no.json()["score"] < no.json()["threshold"]

    person_id = yes.json()["person"]["id"]
    by_id = client.post("/verify", files=upload(photo("Colin_Powell", 7)), data={"person_id": str(person_id)},
                        headers=api["read"])
    assert by_id.status_code == 200 and by_id.json()["is_match"] is False

    same = client.post("/verify", files={**upload(photo("Tony_Blair", 1)), **upload(photo("Tony_Blair", 20), "b.jpg",
                                         "file2")}, headers=api["read"])
    assert same.status_code == 200 and same.json()["is_match"] is True and same.json()["person"] is None
    different = client.post("/verify", files={**upload(photo("Tony_Blair", 1)),
                                              **upload(photo("Colin_Powell", 1), "b.jpg", "file2")},
                            headers=api["read"])
    assert different.json()["is_match"] is False


def test_search_by_name_and_by_photo(api):
    client = api["client"]
    found = client.get("/search", params={"name": "BUSH"}, headers=api["read"]).json()
    assert found["total"] == 1 and found["results"][0]["name"] == "George W Bush"
    assert found["results"][0]["faces"] == 2 and found["results"][0]["enrolled_at"].endswith("Z")
    everyone = client.get("/search", params={"name": "", "page_size": 1, "page": 2}, headers=api["read"]).json()
    assert everyone["total"] == 2 and everyone["pages"] == 2 and len(everyone["results"]) == 1
    assert client.get("/search", params={"name": "%"}, headers=api["read"]).json()["total"] == 0

    by_photo = client.post("/search?top_k=5", files=upload(photo("Colin_Powell", 7)), headers=api["read"]).json()
    assert [m["name"] for m in by_photo["matches"]] == ["Colin Powell", "George W Bush"]
    assert by_photo["matches"][0]["is_match"] is True


def test_stats_counts_people_faces_and_detections(api):
    body = api["client"].get("/stats", headers=api["read"]).json()
    assert body["persons"] == 2 and body["faces"] == 3
    detections = body["detections"]
    assert detections["total"] == 3 and detections["last_24h"] == 3
    assert detections["known"] == 1 and detections["unknown"] == 2 and detections["distinct_unknown_faces"] == 1
    assert body["gender_distribution"]["unknown"] == 3 and body["age_distribution"]["unknown"] == 3
    assert body["uptime_s"] >= 0 and "embedder" in body["model_versions"]


def test_delete_person_leaves_nothing(api):
    client = api["client"]
    bush = client.get("/search", params={"name": "bush"}, headers=api["read"]).json()["results"][0]
    details = client.get(f"/persons/{bush['id']}", headers=api["read"]).json()
    assert details["faces"] == 2 and all(e["has_crop"] for e in details["embeddings"]) and details["detections"] == 1

    deleted = client.delete(f"/persons/{bush['id']}", headers=api["admin"])
    assert deleted.status_code == 200 and deleted.json()["embeddings_removed"] == 2
    assert deleted.json()["unknown_faces_removed"] == 0  # Bush was enrolled before he was ever seen
    assert client.get(f"/persons/{bush['id']}", headers=api["read"]).status_code == 404
    assert client.delete(f"/persons/{bush['id']}", headers=api["admin"]).status_code == 404
    with api["sessions"]() as session:
        assert session.get(Person, bush["id"]) is None
        assert session.scalar(select(func.count()).where(FaceEmbeddingRow.person_id == bush["id"])) == 0
        assert session.scalar(select(func.count()).where(FaceCrop.person_id == bush["id"])) == 0
        assert session.scalar(select(func.count()).where(Detection.identity == "George W Bush")) == 0
        assert session.scalar(select(func.count()).where(Detection.person_id == bush["id"])) == 0

    after = client.post("/analyze", files=upload(photo("George_W_Bush", 23)), headers=api["read"]).json()
    assert after["faces"][0]["identity"] == "unknown"
    assert all(m["name"] != "George W Bush" for m in after["faces"][0]["matches"])
    verify = client.post("/verify", files=upload(photo("George_W_Bush", 23)), data={"person_name": "George W Bush"},
                         headers=api["read"])
    assert verify.status_code == 404


def test_schema_has_the_indexes_the_queries_use(api):
    engine = make_engine(api["url"])
    try:
        from sqlalchemy import inspect

        inspector = inspect(engine)
        detection_indexes = {tuple(i["column_names"]) for i in inspector.get_indexes("detections")}
        assert {("created_at",), ("person_id",), ("unknown_id",)} <= detection_indexes
        assert ("person_id",) in {tuple(i["column_names"]) for i in inspector.get_indexes("face_embeddings")}
        assert make_session_factory(engine) is not None
        if engine.dialect.name in ("mysql", "mariadb"):
            crop_type = {c["name"]: c["type"] for c in inspector.get_columns("face_crops")}["data"]
            assert type(crop_type).__name__ == "MEDIUMBLOB"
    finally:
        engine.dispose()
