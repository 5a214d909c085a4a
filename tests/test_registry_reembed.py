"""``scripts.reembed`` recomputes stored embeddings from the kept crops (here after pretending the
rows were made by another embedder), skips and lists rows without a crop, and fails in one line
on an unreachable database."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.conftest import lfw_image

pytestmark = pytest.mark.slow


def test_reembed_from_kept_crops(tmp_path, pipeline):
    from api.config import ApiSettings
    from api.db.models import FaceEmbeddingRow
    from api.main import create_app
    from api.services.vectors import from_bytes
    from scripts.reembed import reembed

    settings = ApiSettings(database_url=f"sqlite:///{tmp_path / 'api.db'}", api_keys_enabled=False,
                           model_source="packaged")
    app = create_app(settings, pipeline=pipeline)
    with TestClient(app) as client:
        deadline = time.monotonic() + 120
        while client.get("/ready").status_code != 200:
            assert time.monotonic() < deadline, client.get("/ready").json()
            time.sleep(0.2)
        for name, index in (("Tony_Blair", 1), ("Colin_Powell", 1)):
            photo = lfw_image(name, index).read_bytes()
            response = client.post("/register", files={"file": ("p.jpg", photo, "image/jpeg")},
                                   data={"person_name": name})
            assert response.status_code == 201, response.text
        sessions = app.state.runtime.session_factory
        with sessions() as session:
            rows = session.execute(select(FaceEmbeddingRow)).scalars().all()
            original = {row.id: from_bytes(row.vector, row.dim) for row in rows}
            person_id = rows[0].person_id
        with sessions.begin() as session:
            session.execute(update(FaceEmbeddingRow).values(embedder_version="old-embedder",
                                                            vector=np.zeros(512, "<f4").tobytes()))
            session.add(FaceEmbeddingRow(person_id=person_id, vector=np.ones(512, "<f4").tobytes(), dim=512,
                                         embedder_version="old-embedder", image_sha256="0" * 64, box_x=0, box_y=0,
                                         box_width=1, box_height=1))

        dry = reembed(sessions, pipeline, dry_run=True)
        assert dry["to_recompute"] == 2 and dry["recomputed"] == 0 and dry["without_crop"] == 1
        done = reembed(sessions, pipeline)
        assert done["recomputed"] == 2 and done["embedder"] == pipeline.embedder.full_version
        with sessions() as session:
            for row_id, vector in original.items():
                row = session.get(FaceEmbeddingRow, row_id)
                assert row.embedder_version == pipeline.embedder.full_version
                assert float(np.dot(from_bytes(row.vector, row.dim), vector)) > 0.999
        assert reembed(sessions, pipeline)["to_recompute"] == 0  # only the crop-less row is left behind


def test_reembed_cli_bad_database_is_one_line(capsys):
    from scripts.reembed import main

    assert main(["--database-url", "mysql+pymysql://root@127.0.0.1:1/nothing"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: database") and len(err.strip().splitlines()) == 1 and "Traceback" not in err
