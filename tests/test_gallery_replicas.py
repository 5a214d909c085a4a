"""Replicas share one MariaDB database: an enrolment through one API is found by another on its next
request, and a deletion through either is gone from both. Two uvicorn processes with the memory engine
(each holds its own gallery), two uvicorn processes sharing one Milvus server process (the milvus
engine as replicas run it; the server is `milvus-lite server`, Milvus's gRPC API), and two app
instances sharing one Milvus Lite file.
The fake pipeline: no TensorFlow."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.config import ApiSettings
from api.main import create_app
from benchmarks.analyze_gallery import start_milvus_server
from benchmarks.mariadb import scratch_database
from benchmarks.processes import stop_group
from tests.fake_pipeline import FakePipeline
from tests.test_api_workers import free_port

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {
    "API_KEYS_ENABLED": "false",
    "MODEL_SOURCE": "packaged",
    "IDENTIFY_THRESHOLD": "0.9",  # the fake pipeline has no calibration table
    "RATE_LIMIT_ENABLED": "false",
}


@pytest.fixture
def database_url() -> Iterator[str]:
    with scratch_database("face_api_replicas") as url:
        yield url


def start_replica(stack: ExitStack, folder: Path, database_url: str, **env: str) -> str:
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    log = stack.enter_context((folder / "uvicorn.log").open("wb"))
    environment = {**os.environ, "DATABASE_URL": database_url, **SETTINGS, **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tests.fake_app:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip

    def stop() -> None:
        stop_group(process)

    stack.callback(stop)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"replica did not get ready:\n{(folder / 'uvicorn.log').read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/ready", timeout=5).status_code == 200:
                return base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)


def enrol_on_one_find_on_the_other(one, other) -> None:  # noqa: ANN001 - httpx.Client or TestClient
    face = b"\x01replica-test-face"
    assert other.post("/search", files={"file": ("p.jpg", face)}).json()["matches"] == []  # loaded, empty
    registered = one.post("/register", files={"file": ("a.jpg", face)}, data={"person_name": "Rita Replica"})
    assert registered.status_code == 201, registered.text
    person_id = registered.json()["person_id"]
    matches = other.post("/search", files={"file": ("p.jpg", face)}).json()["matches"]
    assert matches and matches[0]["person_id"] == person_id and matches[0]["name"] == "Rita Replica"
    assert matches[0]["similarity"] == pytest.approx(1.0, abs=1e-3) and matches[0]["is_match"]
    assert other.get("/ready").status_code == 200

    deleted = other.delete(f"/persons/{person_id}")
    assert deleted.status_code == 200, deleted.text
    for client in (one, other):
        assert client.post("/search", files={"file": ("p.jpg", face)}).json()["matches"] == []


def test_two_api_processes_on_one_database_see_each_other_s_changes(database_url, tmp_path):
    with ExitStack() as stack:
        first = start_replica(stack, tmp_path / "a", database_url, GALLERY_SNAPSHOT_DIR=str(tmp_path / "a" / "snap"))
        second = start_replica(stack, tmp_path / "b", database_url, GALLERY_SNAPSHOT_DIR=str(tmp_path / "b" / "snap"))
        with httpx.Client(base_url=first, timeout=30) as one, httpx.Client(base_url=second, timeout=30) as other:
            enrol_on_one_find_on_the_other(one, other)


def test_two_api_processes_share_one_milvus_server(database_url, tmp_path):
    with ExitStack() as stack:
        server, uri = start_milvus_server(tmp_path / "milvus", tmp_path / "milvus.log")
        stack.callback(stop_group, server)
        first, second = (start_replica(stack, tmp_path / name, database_url, GALLERY_ENGINE="milvus", MILVUS_URI=uri,
                                       MILVUS_COLLECTION="replicas") for name in ("a", "b"))
        with httpx.Client(base_url=first, timeout=30) as one, httpx.Client(base_url=second, timeout=30) as other:
            enrol_on_one_find_on_the_other(one, other)
        from pymilvus import MilvusClient

        client = MilvusClient(uri=uri)
        collections = [name for name in client.list_collections() if name.startswith("replicas")]
        assert len(collections) == 1, collections  # one shared collection, not one per replica
        assert client.query(collections[0], filter="id >= 0", output_fields=["id"]) == []  # the deletion reached it
        client.close()


def test_two_app_instances_share_one_milvus_collection(database_url, tmp_path):
    settings = ApiSettings(database_url=database_url, gallery_engine="milvus",
                           milvus_uri=str(tmp_path / "shared.milvus.db"),
                           **{k.lower(): v for k, v in SETTINGS.items()})
    with (
        TestClient(create_app(settings, pipeline=FakePipeline())) as one,
        TestClient(create_app(settings, pipeline=FakePipeline())) as other,
    ):
        for client in (one, other):
            deadline = time.monotonic() + 60
            while client.get("/ready").status_code != 200:
                assert time.monotonic() < deadline, client.get("/ready").text
                time.sleep(0.1)
        enrol_on_one_find_on_the_other(one, other)
        gallery = other.app.state.runtime.service.gallery
        assert len(gallery.index) == 0, "the deleted face is gone from the shared collection"
