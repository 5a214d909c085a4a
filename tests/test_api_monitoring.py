"""What the original designs' clients and an operator's tools expect, over a real ``uvicorn
--workers 2`` with API keys on, ``LOG_FORMAT=json``, ``ME_PERSON`` and Prometheus multiprocess mode:
/healthz, Bearer keys, /verify's ``image`` field and ``is_me``, the smoke client, /metrics summed over
both workers, and JSON log lines that carry the request id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api_server import ROOT, make_keys, running_api
from tests.conftest import lfw_image
from tests.test_api_workers import on_fresh_connection

pytestmark = pytest.mark.slow

ME = "George W Bush"


def photo(name: str, index: int) -> bytes:
    return lfw_image(name, index).read_bytes()


@pytest.fixture(scope="module")
def api(tmp_path_factory, data_dir) -> Iterator[dict]:
    folder = tmp_path_factory.mktemp("api_monitoring")
    keys = make_keys(f"sqlite:///{folder / 'face_api.db'}")
    metrics_dir = folder / "prometheus"
    metrics_dir.mkdir()
    with running_api(folder, workers=2, API_KEYS_ENABLED="true", LOG_FORMAT="json", ME_PERSON=ME,
                     PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)) as base:  # fmt: skip
        yield {
            "base": base,
            "log": folder / "uvicorn.log",
            "admin": {"Authorization": f"Bearer {keys['admin']}"},
            "read": {"X-API-Key": keys["read"]},
            "read_key": keys["read"],
        }


def samples(base: str) -> dict[tuple[str, tuple], float]:
    text = httpx.get(f"{base}/metrics", timeout=30).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(found: dict, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in found.items() if n == name and set(labels.items()) <= set(ls))


def test_healthz_needs_no_key_and_says_models_are_loaded(api):
    response = httpx.get(f"{api['base']}/healthz", timeout=30)
    assert response.status_code == 200 and response.json() == {"status": "healthy", "model_loaded": True}


def test_bearer_key_is_accepted_like_x_api_key(api):
    base = api["base"]
    assert httpx.get(f"{base}/stats", headers={"Authorization": f"Bearer {api['read_key']}"}).status_code == 200
    assert httpx.get(f"{base}/stats", headers=api["read"]).status_code == 200
    wrong = httpx.get(f"{base}/stats", headers={"Authorization": "Bearer fah_nothing_here"})
    assert wrong.status_code == 401 and wrong.json() == {"error": "Invalid or revoked API key"}
    missing = httpx.get(f"{base}/stats")
    assert missing.status_code == 401 and "Bearer" in missing.json()["error"]


def test_verify_takes_image_and_answers_is_me(api):
    base, read = api["base"], api["read"]
    before = httpx.post(f"{base}/verify", files={"image": ("a.jpg", photo("George_W_Bush", 2))}, headers=read,
                        timeout=120)  # fmt: skip
    assert before.status_code == 404 and "ME_PERSON" in before.json()["error"]

    enrolled = httpx.post(f"{base}/register", files={"file": ("a.jpg", photo("George_W_Bush", 1))},
                          data={"person_name": ME}, headers=api["admin"], timeout=120)  # fmt: skip
    assert enrolled.status_code == 201, enrolled.text
    me = httpx.post(f"{base}/verify", files={"image": ("b.jpg", photo("George_W_Bush", 3))}, headers=read, timeout=120)
    assert me.status_code == 200, me.text
    assert me.json()["is_me"] is True and me.json()["is_match"] is True and me.json()["person"]["name"] == ME
    other = httpx.post(f"{base}/verify", files={"image": ("c.jpg", photo("Colin_Powell", 1))}, headers=read,
                       timeout=120)  # fmt: skip
    assert other.status_code == 200 and other.json()["is_me"] is False

    named = httpx.post(f"{base}/verify", files={"image": ("d.jpg", photo("Colin_Powell", 1))},
                       data={"person_name": ME}, headers=read, timeout=120)  # fmt: skip
    assert named.status_code == 200 and "is_me" not in named.json() and named.json()["is_match"] is False
    both = httpx.post(f"{base}/verify", files={"image": ("e.jpg", b"x"), "file": ("f.jpg", b"y")}, headers=read)
    assert both.status_code == 422 and "not both" in both.json()["error"]
    neither = httpx.post(f"{base}/verify", data={"person_name": ME}, headers=read)
    assert neither.status_code == 422 and "image" in neither.json()["error"]


def test_smoke_client_checks_health_and_analyses_a_photo(api):
    env = {**os.environ, "FACE_API_URL": api["base"], "FACE_API_KEY": api["read_key"]}
    health = subprocess.run([sys.executable, "test_api.py"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert health.returncode == 0, health.stderr
    assert '"model_loaded": true' in health.stdout and "/analyze" not in health.stdout
    analysed = subprocess.run([sys.executable, "test_api.py", str(lfw_image("George_W_Bush", 4))], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
    assert analysed.returncode == 0, analysed.stdout + analysed.stderr
    assert "POST /analyze: HTTP 200" in analysed.stdout and '"identity": "George W Bush"' in analysed.stdout
    missing = subprocess.run([sys.executable, "test_api.py", "no-such.jpg"], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=60)  # fmt: skip
    assert missing.returncode == 2 and missing.stderr.startswith("error: ")


def test_metrics_add_up_both_workers(api):
    base = api["base"]
    before = samples(base)
    # The kernel hands each new connection to whichever worker wakes first, so on a busy machine one
    # worker can win a dozen in a row (seen in CI): keep opening connections until both have answered.
    pids: set[int] = set()
    sent = 0
    while sent < 12 or (len(pids) < 2 and sent < 200):
        pids.add(on_fresh_connection(base, "GET", "/healthz")[0])
        sent += 1
    assert len(pids) == 2, f"{sent} fresh connections should reach both workers"
    after = samples(base)
    label = {"route": "/healthz", "method": "GET", "status": "200"}
    assert total(after, "face_api_requests_total", **label) - total(before, "face_api_requests_total", **label) == sent

    assert total(after, "face_api_request_errors_total", route="/stats", status="401") >= 2
    assert total(after, "face_api_request_duration_seconds_count", route="/verify") >= 6
    assert total(after, "face_api_stage_duration_seconds_count", stage="detect") >= 4
    assert total(after, "face_api_stage_duration_seconds_count", stage="embed") >= 4
    assert total(after, "face_api_stage_duration_seconds_count", stage="match") >= 1
    assert total(after, "face_api_faces_per_image_count") >= 4
    assert total(after, "face_api_database_errors_total") == 0
    assert total(after, "face_api_gallery_people") == 1 and total(after, "face_api_models_loaded") == 1
    info = [dict(labels) for (name, labels) in after if name == "face_api_model_info"]
    assert len(info) == 1 and "facenet-casia" in info[0]["embedder"] and info[0]["age_gender"] == "none"
    unmatched = httpx.get(f"{base}/no/such/path/123")
    assert unmatched.status_code == 404
    assert total(samples(base), "face_api_requests_total", route="unmatched", status="404") >= 1


def test_json_log_lines_carry_the_request_id(api):
    response = httpx.get(f"{api['base']}/stats", headers={**api["read"], "X-Request-ID": "probe-42"})
    assert response.headers["x-request-id"] == "probe-42"
    records = []
    for line in api["log"].read_text().splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    assert {"time", "level", "logger", "message", "request_id"} <= set(records[0])
    access = [r for r in records if r["logger"] == "uvicorn.access" and r["request_id"] == "probe-42"]
    assert len(access) == 1 and "/stats" in access[0]["message"]
    startup = [r for r in records if r["message"] == "Application startup complete."]
    assert len(startup) == 2, "both workers log their start-up as JSON"
    assert any(r["logger"] == "api" and r["message"].startswith("models loaded") for r in records)
