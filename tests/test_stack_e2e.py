"""`make up` end to end on free ports: MLflow server, registry bootstrap, API; `/ready` names the
production versions; a register-then-analyze round trip with real LFW photos through an admin key
made by `scripts.api_keys`; then `make down` leaves no process and frees both ports."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from benchmarks.processes import free_port
from scripts import stack

ROOT = Path(__file__).resolve().parents[1]
PERSON = "Colin_Powell"
pytestmark = pytest.mark.slow



def refused(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def call(url: str, key: str, fields: dict[str, str], photo: Path) -> tuple[int, dict]:
    """A multipart POST with the standard library (the file goes in the field `file`)."""
    boundary = "stack-e2e-boundary"
    body = b""
    for name, value in fields.items():
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{photo.name}"\r\n'
             "Content-Type: image/jpeg\r\n\r\n").encode() + photo.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}", "X-API-Key": key})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.fixture(scope="module")
def stack_env(tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("stack")
    env = dict(os.environ)
    for name in list(env):  # a developer's own .env or shell must not steer this run
        if name.startswith(("MLFLOW_", "MODEL_", "STACK_")) or name in ("DATABASE_URL", "API_KEYS_ENABLED"):
            del env[name]
    env.update(
        STACK_HOST="127.0.0.1", API_PORT=str(free_port()), MLFLOW_PORT=str(free_port()),
        API_WORKERS="1", MLFLOW_WORKERS="1", STACK_RUN_DIR=str(tmp / "run"),
        MLFLOW_BACKEND_URI=f"sqlite:///{tmp / 'mlflow.db'}", MLFLOW_SERVER_ARTIFACTS_DIR=str(tmp / "artifacts"),
        DATABASE_URL=f"sqlite:///{tmp / 'face_api.db'}", API_KEYS_ENABLED="true",
        MODEL_SOURCE="registry", MODEL_CACHE_DIR=str(tmp / "model-cache"), STACK_START_TIMEOUT="600",
    )  # fmt: skip
    if any((ROOT / "models" / "baseline").glob("*/model/MLmodel")):
        env["BOOTSTRAP_TRAIN"] = "false"  # register the committed baselines instead of training (minutes saved)
    return env


def test_make_up_serves_production_models_and_make_down_leaves_nothing(stack_env, data_dir):
    make = shutil.which("make")
    assert make, "make is needed for `make up`"
    api = f"http://127.0.0.1:{stack_env['API_PORT']}"
    key = subprocess.run([sys.executable, "-m", "scripts.api_keys", "create", "--role", "admin", "--name", "e2e"],
                         cwd=ROOT, env=stack_env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert key.returncode == 0, key.stderr
    admin_key = key.stdout.strip()

    state_file = Path(stack_env["STACK_RUN_DIR"]) / "stack.json"
    services: list[stack.Service] = []
    try:
        up = subprocess.run([make, "up"], cwd=ROOT, env=stack_env, capture_output=True, text=True, timeout=1800)
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        assert f"{api}/docs" in up.stdout and f"http://127.0.0.1:{stack_env['MLFLOW_PORT']}" in up.stdout
        services = [stack.Service(**s) for s in json.loads(state_file.read_text())["services"]]
        assert [s.name for s in services] == ["mlflow", "api"]
        assert all(s.processes() for s in services)

        # The public /ready says only ready or not; an API key shows the details.
        ready_request = urllib.request.Request(f"{api}/ready", headers={"X-API-Key": admin_key})
        with urllib.request.urlopen(ready_request, timeout=30) as response:
            ready = json.loads(response.read())
        # /ready names the versions that carry the alias production in the stack's own registry.
        from mlflow import MlflowClient

        server = f"http://127.0.0.1:{stack_env['MLFLOW_PORT']}"
        # Both URIs: an earlier test in the same process may have set a global registry URI.
        client = MlflowClient(tracking_uri=server, registry_uri=server)
        production = {m.name: client.get_model_version_by_alias(m.name, "production").version
                      for m in client.search_registered_models() if "production" in m.aliases}  # fmt: skip
        assert set(production) == {"age-gender", "face-recognition", "face-verifier"}, production
        served = set(ready["model_versions"].values())
        for name, version in production.items():
            assert f"{name}:{version}" in served, (name, version, ready["model_versions"])

        photos = data_dir / "lfw" / "images" / PERSON
        status, registered = call(f"{api}/register", admin_key, {"person_name": PERSON}, photos / f"{PERSON}_0001.jpg")
        assert status == 201, registered
        status, analysed = call(f"{api}/analyze", admin_key, {}, photos / f"{PERSON}_0002.jpg")
        assert status == 200, analysed
        assert [face["identity"] for face in analysed["faces"]] == [PERSON]
        assert analysed["faces"][0]["person_id"] == registered["person_id"]
        # the baseline age-gender model (the features design) reads the pipeline's inner features
        face = analysed["faces"][0]
        assert analysed["model_versions"]["age_gender"] == f"age-gender:{production['age-gender']}"
        assert face["gender"] == "male" and 30 < face["age"] < 90, face  # Colin Powell, in his sixties

        status_run = subprocess.run([make, "stack-status"], cwd=ROOT, env=stack_env, capture_output=True, text=True)
        assert status_run.returncode == 0 and status_run.stdout.count("healthy") == 2, status_run.stdout
    finally:
        down = subprocess.run([make, "down"], cwd=ROOT, env=stack_env, capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "Stopped: api" in down.stdout
    assert all(s.processes() == [] for s in services), "a process of the stack is still running"
    assert refused(int(stack_env["API_PORT"])) and refused(int(stack_env["MLFLOW_PORT"]))
    assert not state_file.exists()
