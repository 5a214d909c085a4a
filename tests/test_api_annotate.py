"""Annotated photos: ``POST /analyze?format=jpeg`` over real HTTP answers the photo itself, same size,
with each face boxed and labelled; the drawing module alone scales its lines and text with the photo."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from api.config import ApiSettings
from api.main import create_app
from api.services.annotate import KNOWN_COLOUR, UNKNOWN_COLOUR, describe, draw_faces, scale_for
from tests.conftest import lfw_image
from tests.live_server import make_keys, serve

GROUP = [("Colin_Powell", 1), ("Tony_Blair", 3), ("Serena_Williams", 2)]


def encode(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def decode(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    return np.asarray(image.convert("RGB")).astype(int)


def group_pixels(scale: int = 1) -> np.ndarray:
    group = np.concatenate([np.asarray(Image.open(lfw_image(*p)).convert("RGB")) for p in GROUP], axis=1)
    if scale == 1:
        return group
    return np.asarray(Image.fromarray(group).resize((group.shape[1] * scale, group.shape[0] * scale)))


# --- the drawing module alone (no models) ---------------------------------------------------------

FACE = {"bbox": {"x": 60, "y": 50, "width": 120, "height": 140}, "identity": "Ada", "similarity": 0.8123,
        "age": 34.4, "gender": "female"}


def test_label_text_says_name_similarity_age_and_gender():
    label = describe(FACE)
    assert label.title == "Ada" and label.known
    assert label.details == "sim 0.81 · age 34 · female"
    unknown = describe({**FACE, "identity": "unknown", "similarity": None, "age": None, "gender": None})
    assert not unknown.known and unknown.details == "age ? · gender ?"


def test_lines_and_text_grow_with_the_photo():
    small, large = scale_for(250, 250), scale_for(4000, 3000)
    assert small[0] >= 2 and small[1] >= 11
    assert large[0] >= 4 * small[0] // 2 and large[1] >= 7 * small[1]


@pytest.mark.parametrize("side", [120, 250, 3000])
def test_drawing_keeps_the_size_and_marks_box_and_label(side):
    photo = np.full((side, side, 3), 128, dtype=np.uint8)
    k = side / 250
    face = {**FACE, "bbox": {key: int(v * k) for key, v in FACE["bbox"].items()}}
    unknown = {**face, "identity": "unknown", "bbox": {"x": 0, "y": 0, "width": int(40 * k), "height": int(40 * k)}}
    drawn = np.asarray(draw_faces(photo, [face, unknown])).astype(int)
    assert drawn.shape == photo.shape
    box = face["bbox"]
    line = scale_for(side, side)[0]
    left_edge = drawn[box["y"] + box["height"] // 2, box["x"] : box["x"] + line]
    assert (np.abs(left_edge - KNOWN_COLOUR).sum(axis=1) < 10).all(), "the known face's box is green, full width"
    assert (np.abs(drawn - UNKNOWN_COLOUR).sum(axis=2) < 10).any(), "the unknown face is orange"
    label_band = drawn[box["y"] + box["height"] : min(side, box["y"] + box["height"] + scale_for(side, side)[1] * 2)]
    assert (np.abs(label_band - 128).sum(axis=2) > 60).mean() > 0.02, "a label is drawn below the box"


# --- over HTTP --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(tmp_path_factory, pipeline) -> Iterator[dict]:
    settings = ApiSettings(
        database_url=f"sqlite:///{tmp_path_factory.mktemp('api_annotate') / 'face_api.db'}",
        api_keys_enabled=True,
        model_source="packaged",
    )
    app = create_app(settings, pipeline=pipeline)
    with serve(app) as base, httpx.Client(base_url=base, timeout=180) as client:
        keys = make_keys(app)
        admin, read = {"X-API-Key": keys["admin"]}, {"X-API-Key": keys["read"]}
        enrolled = client.post("/register", files={"file": ("p.jpg", lfw_image("Tony_Blair", 3).read_bytes())},
                               data={"person_name": "Tony Blair"}, headers=admin)
        assert enrolled.status_code == 201, enrolled.text
        yield {"client": client, "read": read}


def analyze(api, data: bytes, query: str = "") -> httpx.Response:
    return api["client"].post(f"/analyze{query}", files={"file": ("g.jpg", data, "image/jpeg")}, headers=api["read"])


@pytest.mark.slow
def test_jpeg_has_the_photo_size_and_boxes_where_the_faces_are(api):
    pixels = group_pixels()
    data = encode(pixels)
    faces = analyze(api, data).json()["faces"]
    assert len(faces) >= 3 and "Tony Blair" in [f["identity"] for f in faces]

    response = analyze(api, data, "?format=jpeg")
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert int(response.headers["x-face-count"]) == len(faces)
    drawn = decode(response.content)
    assert drawn.shape == pixels.shape
    original = pixels.astype(int)
    for face in faces:
        box = face["bbox"]
        top_edge = np.abs(drawn[box["y"], box["x"] : box["x"] + box["width"]] - original[box["y"], box["x"] :
                                                                                          box["x"] + box["width"]])
        assert top_edge.mean() > 40, f"no box drawn at {box}"
        expected, other = (KNOWN_COLOUR, UNKNOWN_COLOUR) if face["identity"] != "unknown" else (UNKNOWN_COLOUR,
                                                                                                  KNOWN_COLOUR)
        line = drawn[box["y"] : box["y"] + 2, box["x"] + box["width"] // 2].mean(axis=0)
        assert np.abs(line - expected).sum() < np.abs(line - other).sum(), f"wrong colour for {face['identity']}"
    # Away from faces and labels (the top-left corner above the first face) only JPEG noise remains.
    first = min(faces, key=lambda f: f["bbox"]["x"])["bbox"]
    corner = (slice(0, max(1, first["y"] - 40)), slice(0, max(1, first["x"] - 10)))
    assert np.abs(drawn[corner] - original[corner]).mean() < 8


@pytest.mark.slow
def test_large_photo_gets_proportionally_thick_lines(api):
    pixels = group_pixels(scale=4)  # 3000 x 1000
    response = analyze(api, encode(pixels), "?format=jpeg")
    assert response.status_code == 200, response.text
    drawn = decode(response.content)
    assert drawn.shape == pixels.shape
    faces = analyze(api, encode(pixels)).json()["faces"]
    line = scale_for(pixels.shape[1], pixels.shape[0])[0]
    assert line >= 8
    box = faces[0]["bbox"]
    left_edge = drawn[box["y"] + box["height"] // 2, box["x"] : box["x"] + line]
    assert (np.abs(left_edge - pixels[box["y"] + box["height"] // 2, box["x"] : box["x"] + line].astype(int))
            .sum(axis=1) > 60).mean() > 0.8


@pytest.mark.slow
def test_no_face_is_the_photo_unmarked_and_a_bad_file_is_json(api):
    blank = np.full((200, 300, 3), 90, dtype=np.uint8)
    response = analyze(api, encode(blank), "?format=jpeg")
    assert response.status_code == 200 and response.headers["x-face-count"] == "0"
    assert np.abs(decode(response.content) - blank.astype(int)).mean() < 3

    bad = analyze(api, b"not an image at all", "?format=jpeg")
    assert bad.status_code == 415 and bad.headers["content-type"].startswith("application/json")
    assert bad.json()["error"]
