"""``scripts.reembed`` migrates a gallery enrolled with the previous recognition core (MTCNN +
FaceNet on TensorFlow, 512-D) to the fused FaceNet + SFace descriptor from the kept crops: the
migrated vectors match a fresh enrolment, the migrated gallery names the same people, rows
without a crop are skipped and listed, and an unreachable database fails in one line."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import lfw_image

pytestmark = pytest.mark.slow

ENROLLED = (("Tony_Blair", 2), ("Colin_Powell", 1))


def _client(app) -> TestClient:
    client = TestClient(app)
    client.__enter__()
    deadline = time.monotonic() + 180
    while client.get("/ready").status_code != 200:
        assert time.monotonic() < deadline, client.get("/ready").json()
        time.sleep(0.2)
    return client


def test_reembed_migrates_a_gallery_of_the_previous_embedder(tmp_path, pipeline):
    from api.config import ApiSettings
    from api.db.models import FaceEmbeddingRow, Person
    from api.main import create_app
    from api.services.vectors import from_bytes
    from face_pipeline import FacePipeline, PipelineSettings
    from scripts.reembed import reembed

    settings = ApiSettings(database_url=f"sqlite:///{tmp_path / 'api.db'}", api_keys_enabled=False,
                           model_source="packaged")
    previous = FacePipeline(PipelineSettings(detector="mtcnn", embedder="facenet", embedder_runtime="tensorflow"))
    old_app = create_app(settings, pipeline=previous)
    client = _client(old_app)
    try:
        for name, index in ENROLLED:
            response = client.post("/register", files={"file": ("p.jpg", lfw_image(name, index).read_bytes(),
                                                                 "image/jpeg")}, data={"person_name": name})
            assert response.status_code == 201, response.text
        sessions = old_app.state.runtime.session_factory
        with sessions.begin() as session:  # one row whose crop was never kept
            person_id = session.execute(select(FaceEmbeddingRow.person_id)).scalars().first()
            session.add(FaceEmbeddingRow(person_id=person_id, vector=np.ones(512, "<f4").tobytes(), dim=512,
                                         embedder_version=previous.embedder.full_version, image_sha256="0" * 64,
                                         box_x=0, box_y=0, box_width=1, box_height=1))
    finally:
        client.__exit__(None, None, None)
    with sessions() as session:
        assert {row.dim for row in session.execute(select(FaceEmbeddingRow)).scalars()} == {512}

    dry = reembed(sessions, pipeline, dry_run=True)
    assert dry["to_recompute"] == 2 and dry["recomputed"] == 0 and dry["without_crop"] == 1
    done = reembed(sessions, pipeline)
    assert done["recomputed"] == 2 and done["no_face_in_crop"] == 0
    assert done["embedder"] == pipeline.embedder.full_version
    fresh = {name: pipeline.process(pipeline.load(lfw_image(name, index)))[-1].embedding for name, index in ENROLLED}
    with sessions() as session:
        rows = session.execute(select(FaceEmbeddingRow, Person.name).join(Person)).all()
        migrated = [(row, name) for row, name in rows if row.dim != 512]
        assert len(migrated) == 2 and all(row.embedder_version == pipeline.embedder.full_version
                                          for row, _ in migrated)
        for row, name in migrated:
            # from the kept 160 px crop instead of the photo: far closer to a fresh enrolment of the
            # same person (0.87 here) than any stranger gets, and above the 1:1000 naming threshold
            scores = {other: float(from_bytes(row.vector, row.dim) @ v) for other, v in fresh.items()}
            assert max(scores, key=scores.get) == name
            assert scores[name] > max(0.8, pipeline.identify_threshold(1000)), scores
    assert reembed(sessions, pipeline)["to_recompute"] == 0  # only the crop-less row is left behind

    client = _client(create_app(settings, pipeline=pipeline))
    try:
        for name, index in (("Tony_Blair", 3), ("Colin_Powell", 7)):
            body = client.post("/analyze", files={"file": ("q.jpg", lfw_image(name, index).read_bytes(),
                                                           "image/jpeg")}).json()
            best = max(body["faces"], key=lambda f: f["bbox"]["width"])
            assert best["identity"] == name, body
    finally:
        client.__exit__(None, None, None)


def test_reembed_cli_bad_database_is_one_line(capsys):
    from scripts.reembed import main

    assert main(["--database-url", "mysql+pymysql://root@127.0.0.1:1/nothing"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: database") and len(err.strip().splitlines()) == 1 and "Traceback" not in err
