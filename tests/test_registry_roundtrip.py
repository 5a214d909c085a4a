"""The whole trainer -> registry -> API path against a real ``mlflow server`` (SQLite store, and a
fresh MariaDB database), artifacts served by the server: smoke-train every model, check what each
run logged, promote through the CLI, serve through the API (RegistryModels), promote a second
version and watch the API switch without a restart, roll back, compare, clean, and serve the
cached versions when the registry is unreachable."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import mlflow
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import lfw_image
from tests.registry_helpers import closed_port_url, mariadb_database, mlflow_server, run_cli
from training.config import TrainerSettings

pytestmark = pytest.mark.slow

PERSON_MODEL = "verifier-george-w-bush"


def upload(name: str, index: int, field: str = "file") -> dict:
    return {field: (f"{name}_{index}.jpg", lfw_image(name, index).read_bytes(), "application/octet-stream")}


def wait_for(condition, what: str, timeout: float = 120.0, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(every)


@pytest.fixture(scope="module", params=["sqlite", "mariadb"])
def server(request, tmp_path_factory) -> Iterator[dict]:
    folder = tmp_path_factory.mktemp(f"mlflow_{request.param}")
    if request.param == "sqlite":
        with mlflow_server(f"sqlite:///{folder / 'mlflow.db'}", folder / "artifacts", folder / "server.log") as url:
            yield {"url": url, "folder": folder, "store": "sqlite"}
        return
    with mariadb_database() as backend, mlflow_server(backend, folder / "artifacts", folder / "server.log") as url:
        yield {"url": url, "folder": folder, "store": "mariadb"}


@pytest.fixture(scope="module")
def trained(server, pipeline) -> dict:
    from training import train_smoke_tf

    settings = TrainerSettings(mlflow_tracking_uri=server["url"])
    # The age/gender smoke (Keras training) runs once, on the SQLite server, to keep the suite short.
    with_age_gender = server["store"] == "sqlite"
    skip = () if with_age_gender else ("age-gender",)
    results = train_smoke_tf.run(settings, pipeline=pipeline, skip=skip, people=10, images=4)
    return {"settings": settings, "results": results, "client": mlflow.MlflowClient(server["url"], server["url"]),
            "age_gender": with_age_gender}


def test_smoke_registers_every_model_unpromoted_with_full_run_records(trained, server, pipeline):
    client = trained["client"]
    expected = ["face-recognition", "face-verifier", PERSON_MODEL] + (["age-gender"] if trained["age_gender"] else [])
    assert all("error" not in r for r in trained["results"].values()), trained["results"]
    for name in expected:
        model = client.get_registered_model(name)
        assert not model.aliases, f"{name} must not be promoted by the smoke run"
        version = client.get_model_version(name, "1")
        run = client.get_run(version.run_id)
        assert run.data.tags.get("git_commit") and run.data.tags.get("model_name") == name
        assert any(k.endswith("_sha256") for k in run.data.params), run.data.params
        datasets = run.inputs.dataset_inputs  # every trainer's data as MLflow dataset inputs, through the server
        assert datasets and all(json.loads(d.dataset.profile)["num_rows"] > 0 for d in datasets), name
        assert {t.value for d in datasets for t in d.tags if t.key == "sha256"} <= set(run.data.params.values())
        assert any(k.startswith("test_") for k in run.data.metrics), run.data.metrics
        info = mlflow.models.get_model_info(f"models:/{name}/1")
        assert info.signature is not None and info.saved_input_example_info is not None
        if name != "age-gender":
            assert info.metadata["embedder"] == pipeline.embedder.full_version and "threshold" in info.metadata
    recognition = client.get_run(client.get_model_version("face-recognition", "1").run_id)
    assert "head_decision" in recognition.data.tags and "lfw_accuracy_mean" in recognition.data.metrics
    assert any(h.step == 1 for h in client.get_metric_history(recognition.info.run_id, "loss"))  # per epoch
    artifacts = {a.path for a in client.list_artifacts(recognition.info.run_id, "report")}
    assert {"report/roc_test.png", "report/summary.json"} <= artifacts
    personal = client.get_run(client.get_model_version(PERSON_MODEL, "1").run_id)
    assert {"report/metrics.json", "report/confusion_matrix.png"} <= {
        a.path for a in client.list_artifacts(personal.info.run_id, "report")}


def test_api_serves_production_switches_and_rolls_back(trained, server, pipeline, tmp_path):
    from api.config import ApiSettings
    from api.main import create_app
    from api.services.registry_models import RegistryModels
    from training import train_verifier

    url, client = server["url"], trained["client"]
    promoted = ("face-recognition", "face-verifier", PERSON_MODEL) + (("age-gender",) if trained["age_gender"] else ())
    for name in promoted:
        result = run_cli("scripts.model_utils", "promote", name, "1", uri=url)
        assert result.returncode == 0 and "production -> v1" in result.stdout, result.stderr

    cache = tmp_path / "model-cache"
    settings = ApiSettings(database_url=f"sqlite:///{tmp_path / 'api.db'}", api_keys_enabled=False,
                           mlflow_tracking_uri=url, model_source="registry", model_cache_dir=cache,
                           model_refresh_seconds=1)
    app = create_app(settings, pipeline=pipeline)
    with TestClient(app) as api:
        ready = wait_for(lambda: api.get("/ready").status_code == 200 and api.get("/ready").json(), "API ready")
        versions = ready["model_versions"]
        assert versions["recognition_head"] == "face-recognition:1" and versions["verifier"] == "face-verifier:1"
        assert versions[PERSON_MODEL] == f"{PERSON_MODEL}:1"
        assert ready["served_models"]["registry"] == "ok" and ready["served_models"]["source"] == "registry"
        threshold = client.get_model_version("face-recognition", "1")
        assert ready["match_threshold"] == pytest.approx(
            mlflow.models.get_model_info(f"models:/face-recognition/{threshold.version}").metadata["threshold"],
            abs=1e-4)

        if trained["age_gender"]:
            assert versions["age_gender"] == "age-gender:1"
            analysed = api.post("/analyze", files=upload("Tony_Blair", 3)).json()
            assert analysed["model_versions"]["age_gender"] == "age-gender:1"
            face = analysed["faces"][0]
            assert face["gender"] in ("male", "female") and 0 < face["age"] < 100

        same = api.post("/verify", files={**upload("Tony_Blair", 1), **upload("Tony_Blair", 20, "file2")}).json()
        other = api.post("/verify", files={**upload("Tony_Blair", 1), **upload("Colin_Powell", 1, "file2")}).json()
        assert same["model_version"] == "face-verifier:1" and same["is_match"] is True
        assert other["is_match"] is False and 0.0 <= other["score"] <= 1.0

        assert api.post("/register", files=upload("George_W_Bush", 1),
                        data={"person_name": "George W Bush"}).status_code == 201
        mine = api.post("/verify", files=upload("George_W_Bush", 45), data={"person_name": "George W Bush"}).json()
        assert mine["model_version"] == f"{PERSON_MODEL}:1" and mine["threshold"] == pytest.approx(0.75, abs=0.25)

        # A second verifier version, promoted while the API runs: swapped in without a restart.
        args = train_verifier.parse_args(["general", "--max-people", "12", "--max-images", "4", "--max-pairs", "150"])
        second = train_verifier.run_general(args, pipeline, trained["settings"])
        assert second["version"] == "2"
        assert run_cli("scripts.model_utils", "promote", "face-verifier", "2", uri=url).returncode == 0
        wait_for(lambda: api.get("/ready").json()["model_versions"]["verifier"] == "face-verifier:2", "the switch")
        switched = api.post("/verify", files={**upload("Tony_Blair", 1), **upload("Tony_Blair", 20, "file2")}).json()
        assert switched["model_version"] == "face-verifier:2"

        result = run_cli("scripts.model_utils", "rollback", "face-verifier", uri=url)
        assert result.returncode == 0 and "production -> v1 (previous: v2)" in result.stdout, result.stderr
        wait_for(lambda: api.get("/ready").json()["model_versions"]["verifier"] == "face-verifier:1", "the rollback")

    compare = run_cli("scripts.model_utils", "compare", "face-verifier", "1", "2", uri=url)
    assert compare.returncode == 0 and "metric test_roc_auc" in compare.stdout and "v2" in compare.stdout
    checked = run_cli("scripts.check_models", uri=url)
    assert checked.returncode == 0 and "production" in checked.stdout and "previous" in checked.stdout
    cleaned = run_cli("scripts.model_utils", "clean", "face-verifier", "--keep", "0", uri=url)
    assert cleaned.returncode == 0 and "deleted 0 version(s)" in cleaned.stdout  # v1 production, v2 previous
    assert {str(v.version) for v in client.search_model_versions("name='face-verifier'")} == {"1", "2"}

    # The registry gone: the API's model loader serves the cached production versions and says so.
    offline = RegistryModels(closed_port_url(), cache, refresh_seconds=0,
                             embedder_version=pipeline.embedder.full_version,
                             attribute_embedder_version=pipeline.embedder.attribute_version)
    info = offline.ready_info()
    assert info["serving_cached_models"] is True and info["registry"].startswith("unreachable")
    assert info["versions"]["verifier"] == "face-verifier:1"
    assert info["versions"]["recognition_head"] == "face-recognition:1"
    images = [pipeline.load(lfw_image("Tony_Blair", i)) for i in (1, 2)]
    e = np.stack([pipeline.describe(img, [max(pipeline.detect(img), key=lambda f: f.box.width)])[0].embedding
                  for img in images])  # the man LFW is about (Tony_Blair_0001 has another at its edge)
    score, threshold, label = offline.verify_pair(e[0], e[1])
    assert label == "face-verifier:1" and score >= threshold
    offline.close()
