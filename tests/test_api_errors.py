"""Every bad input and every bad key gets a JSON {"error": ...} with the right 4xx and a request id."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.config import ApiSettings
from api.main import create_app
from api.security import create_key
from tests.conftest import lfw_image

pytestmark = pytest.mark.slow

UPLOAD_LIMIT = 3_000_000
GROUP = [("Colin_Powell", 1), ("Tony_Blair", 3), ("Serena_Williams", 2)]


def photo(name: str, index: int) -> bytes:
    return lfw_image(name, index).read_bytes()


def upload(data: bytes, name: str = "photo.jpg") -> dict:
    return {"file": (name, data, "image/jpeg")}


def encode(pixels: np.ndarray | Image.Image, fmt: str = "JPEG") -> bytes:
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def api(tmp_path_factory, pipeline) -> Iterator[dict]:
    settings = ApiSettings(
        database_url=f"sqlite:///{tmp_path_factory.mktemp('api_errors') / 'face_api.db'}",
        api_keys_enabled=True,
        max_upload_bytes=UPLOAD_LIMIT,
        model_source="packaged",
    )
    app = create_app(settings, pipeline=pipeline)
    with TestClient(app, raise_server_exceptions=False) as client:
        deadline = time.monotonic() + 120
        while client.get("/ready").status_code != 200:
            assert time.monotonic() < deadline, client.get("/ready").json()
            time.sleep(0.2)
        with app.state.runtime.session_factory.begin() as session:
            admin, _ = create_key(session, "admin")
            read, _ = create_key(session, "read")
            revoked, row = create_key(session, "admin")
            row.revoked_at = row.created_at
        yield {
            "client": client,
            "admin": {"X-API-Key": admin},
            "read": {"X-API-Key": read},
            "revoked": {"X-API-Key": revoked},
        }


def assert_error(response, status: int, contains: str = "") -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers.get("x-request-id")
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"]
    assert "Traceback" not in body["error"]
    assert contains.lower() in body["error"].lower()
    return body


def test_health_ready_and_docs_need_no_key(api):
    client = api["client"]
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/ready").status_code == 200
    assert client.get("/docs").status_code == 200
    assert "/analyze" in client.get("/openapi.json").json()["paths"]


def test_request_id_is_echoed_or_made(api):
    client = api["client"]
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    made = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"}).headers["x-request-id"]
    assert made and made != "bad id\twith spaces"


def test_missing_bad_and_revoked_keys_are_401(api):
    client = api["client"]
    assert_error(client.post("/analyze", files=upload(photo("Colin_Powell", 1))), 401, "api key")
    assert_error(client.get("/stats", headers={"X-API-Key": "fah_nothing_here"}), 401, "invalid")
    assert_error(client.get("/stats", headers={"X-API-Key": "not-a-key"}), 401)
    assert_error(client.get("/stats", headers=api["revoked"]), 401)
    real = api["read"]["X-API-Key"]
    assert_error(client.get("/stats", headers={"X-API-Key": real[:-2] + "xx"}), 401)


def test_read_only_key_cannot_register_or_delete(api):
    client = api["client"]
    assert_error(
        client.post(
            "/register", files=upload(photo("Colin_Powell", 1)), data={"person_name": "X"}, headers=api["read"]
        ),
        403,
        "admin",
    )
    assert_error(client.delete("/persons/1", headers=api["read"]), 403)
    assert client.get("/stats", headers=api["read"]).status_code == 200
    assert client.get("/stats", headers=api["admin"]).status_code == 200


def test_missing_file_field_is_422(api):
    body = assert_error(api["client"].post("/analyze", headers=api["read"]), 422, "file")
    assert "required" in body["error"].lower()
    assert_error(
        api["client"].post("/register", files=upload(photo("Colin_Powell", 1)), headers=api["admin"]),
        422,
        "person_name",
    )


def test_empty_text_truncated_files(api):
    client = api["client"]
    assert_error(client.post("/analyze", files=upload(b""), headers=api["read"]), 400, "empty")
    assert_error(client.post("/analyze", files=upload(b"just some text\n", "notes.jpg"), headers=api["read"]), 415,
                 "not an image")
    jpeg = photo("Colin_Powell", 1)
    assert_error(client.post("/analyze", files=upload(jpeg[: len(jpeg) // 2]), headers=api["read"]), 422, "truncated")


def test_type_is_decided_by_decoding_not_the_name(api):
    png = encode(np.asarray(Image.open(lfw_image("Colin_Powell", 1)).convert("RGB")), "PNG")
    response = api["client"].post("/analyze", files=upload(png, "looks_like.txt"), headers=api["read"])
    assert response.status_code == 200 and len(response.json()["faces"]) == 1


def test_oversize_upload_is_413(api):
    big = b"\xff" * (UPLOAD_LIMIT + 1000)
    body = assert_error(api["client"].post("/analyze", files=upload(big), headers=api["read"]), 413, "too large")
    assert f"{UPLOAD_LIMIT:,}" in body["error"]


def test_too_many_pixels_is_422(api):
    bomb = encode(Image.new("1", (8000, 5100)), "PNG")  # 40.8 Mpx, a few kB
    assert len(bomb) < UPLOAD_LIMIT
    assert_error(api["client"].post("/analyze", files=upload(bomb, "bomb.png"), headers=api["read"]), 422, "pixels")


def test_no_face(api):
    client = api["client"]
    blank = encode(np.full((240, 320, 3), 200, np.uint8))
    analysed = client.post("/analyze", files=upload(blank), headers=api["read"])
    assert analysed.status_code == 200 and analysed.json()["faces"] == []
    assert analysed.json()["message"] == "No face detected in the image"
    assert client.post("/register", files=upload(blank), data={"person_name": "Nobody"},
                       headers=api["admin"]).json() == {"error": "No face detected in the image"}
    client.post("/register", files=upload(photo("Hugo_Chavez", 1)), data={"person_name": "Hugo Chavez"},
                headers=api["admin"])
    response = client.post("/verify", files=upload(blank), data={"person_name": "Hugo Chavez"}, headers=api["read"])
    assert response.status_code == 422 and response.json() == {"error": "No face detected in the image"}
    assert_error(client.post("/search", files=upload(blank), headers=api["read"]), 422, "no face")


def test_unknown_person_is_404(api):
    client = api["client"]
    face = photo("Colin_Powell", 2)
    assert_error(client.post("/verify", files=upload(face), data={"person_name": "Nobody Known"}, headers=api["read"]),
                 404, "nobody known")
    assert_error(client.post("/verify", files=upload(face), data={"person_id": "99999"}, headers=api["read"]), 404)
    assert_error(client.get("/persons/99999", headers=api["read"]), 404)
    assert_error(client.delete("/persons/99999", headers=api["admin"]), 404)
    assert_error(client.get("/no/such/path", headers=api["read"]), 404)


def test_bad_parameters_are_422(api):
    client = api["client"]
    face = photo("Colin_Powell", 2)
    assert_error(client.post("/analyze?top_k=-1", files=upload(face), headers=api["read"]), 422, "top_k")
    assert_error(client.post("/verify", files=upload(face), headers=api["read"]), 422, "person_name")
    both = {"file": ("a.jpg", face), "file2": ("b.jpg", face)}
    assert_error(client.post("/verify", files=both, data={"person_name": "X"}, headers=api["read"]), 422, "not both")
    assert_error(client.post("/verify", files={"file": ("a.jpg", face), "file2": ("b.jpg", b"")}, headers=api["read"]),
                 400, "file2")
    assert_error(client.get("/persons/abc", headers=api["read"]), 422)
    assert_error(client.post("/register", files=upload(face), data={"person_name": "   "}, headers=api["admin"]), 422,
                 "empty")


def test_several_faces_on_register_then_face_index(api, pipeline):
    client = api["client"]
    group = np.concatenate([np.asarray(Image.open(lfw_image(*p)).convert("RGB")) for p in GROUP], axis=1)
    data = encode(group)
    expected = len(pipeline.detect(pipeline.load(data)))
    assert expected >= 2
    body = assert_error(
        client.post("/register", files=upload(data), data={"person_name": "Tony Blair"}, headers=api["admin"]),
        422,
        f"{expected} faces",
    )
    assert body["face_count"] == expected
    blair = next(i for i, box in enumerate(body["faces"]) if 250 <= box["x"] < 500)
    assert_error(client.post("/register", files=upload(data), data={"person_name": "Tony Blair", "face_index": "9"},
                             headers=api["admin"]), 422, "out of range")
    chosen = client.post("/register", files=upload(data), data={"person_name": "Tony Blair", "face_index": str(blair)},
                         headers=api["admin"])
    assert chosen.status_code == 201, chosen.text
    assert 250 <= chosen.json()["face"]["bbox"]["x"] < 500
    recognised = client.post("/analyze", files=upload(photo("Tony_Blair", 10)), headers=api["read"]).json()
    assert recognised["faces"][0]["identity"] == "Tony Blair"
    in_group = client.post("/analyze", files=upload(data), headers=api["read"]).json()["faces"]
    assert [f["identity"] for f in in_group if 250 <= f["bbox"]["x"] < 500] == ["Tony Blair"]
