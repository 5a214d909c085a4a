"""A real ``uvicorn --workers 2`` over HTTP: a change made through one worker is seen by the other on
its next request, and concurrent registrations and analyses lose nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from benchmarks.processes import free_port, stop_group
from tests.conftest import lfw_image

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def photo(name: str, index: int) -> bytes:
    return lfw_image(name, index).read_bytes()



def on_fresh_connection(base: str, method: str, path: str, **kwargs) -> tuple[int, httpx.Response]:
    """One new TCP connection: ask its worker's pid, then send the request over the same connection."""
    with httpx.Client(base_url=base, timeout=120, limits=httpx.Limits(max_connections=1)) as client:
        pid = client.get("/health").json()["pid"]
        return pid, client.request(method, path, **kwargs)


@pytest.fixture(scope="module")
def server(tmp_path_factory, data_dir) -> Iterator[str]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("api_workers") / "uvicorn.log"
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "DATABASE_URL": f"sqlite:///{log_path.parent / 'face_api.db'}",
        "API_KEYS_ENABLED": "false",
        "MODEL_SOURCE": "packaged",  # these tests are about the API, not the registry
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port),
             "--workers", "2"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        ready_pids: set[int] = set()
        deadline = time.monotonic() + 300
        while len(ready_pids) < 2:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"uvicorn did not get two ready workers:\n{log_path.read_text()[-3000:]}")
            try:
                response = httpx.get(f"{base}/ready", timeout=10)
                if response.status_code == 200:
                    ready_pids.add(response.json()["pid"])
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        yield base
    finally:
        stop_group(process)


def analyze_on_every_worker(base: str, data: bytes, attempts: int = 60) -> dict[int, list[str]]:
    """Identities answered per worker pid, until both workers have answered at least twice."""
    seen: dict[int, list[str]] = {}
    for _ in range(attempts):
        pid, response = on_fresh_connection(base, "POST", "/analyze", files={"file": ("p.jpg", data)})
        assert response.status_code == 200, response.text
        seen.setdefault(pid, []).append(response.json()["faces"][0]["identity"])
        if len(seen) == 2 and all(len(v) >= 2 for v in seen.values()):
            return seen
    pytest.fail(f"requests did not reach both workers: {seen}")


def test_register_and_delete_are_seen_by_the_other_worker(server):
    probe = photo("Gerhard_Schroeder", 2)
    before = analyze_on_every_worker(server, probe)  # both workers now hold a gallery without him
    assert all(set(ids) == {"unknown"} for ids in before.values())

    pid, registered = on_fresh_connection(
        server, "POST", "/register", files={"file": ("a.jpg", photo("Gerhard_Schroeder", 1))},
        data={"person_name": "Gerhard Schroeder"},
    )
    assert registered.status_code == 201, registered.text
    after = analyze_on_every_worker(server, probe)
    assert all(set(ids) == {"Gerhard Schroeder"} for ids in after.values()), after

    _, deleted = on_fresh_connection(server, "DELETE", f"/persons/{registered.json()['person_id']}")
    assert deleted.status_code == 200
    gone = analyze_on_every_worker(server, probe)
    assert all(set(ids) == {"unknown"} for ids in gone.values()), gone


def test_concurrent_registrations_and_analyses_lose_nothing(server):
    people = {"George W Bush": ("George_W_Bush", [2, 3, 4, 5]), "Colin Powell": ("Colin_Powell", [2, 3, 4, 5]),
              "Serena Williams": ("Serena_Williams", [1, 3, 4, 5])}
    jobs = [(name, folder, index) for name, (folder, indexes) in people.items() for index in indexes]
    analyses = [photo("Hugo_Chavez", i) for i in (1, 2, 3, 4, 5)] * 2
    stats_before = httpx.get(f"{server}/stats", timeout=30).json()

    def register(job: tuple[str, str, int]) -> int:
        name, folder, index = job
        response = httpx.post(f"{server}/register", files={"file": ("p.jpg", photo(folder, index))},
                              data={"person_name": name}, timeout=300)
        return response.status_code

    def analyze(data: bytes) -> int:
        response = httpx.post(f"{server}/analyze", files={"file": ("p.jpg", data)}, timeout=300)
        return len(response.json()["faces"]) if response.status_code == 200 else -response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        registered = pool.map(register, jobs)
        analysed = pool.map(analyze, analyses)
        registered, analysed = list(registered), list(analysed)
    assert registered == [201] * len(jobs)
    assert all(count >= 1 for count in analysed), analysed

    for name, (_, indexes) in people.items():
        found = httpx.get(f"{server}/search", params={"name": name}, timeout=30).json()["results"]
        assert [(r["name"], r["faces"]) for r in found] == [(name, len(indexes))]
    stats = httpx.get(f"{server}/stats", timeout=30).json()
    assert stats["detections"]["total"] - stats_before["detections"]["total"] == sum(analysed)
    assert stats["persons"] - stats_before["persons"] == len(people)
