"""Fast checks of the trainer's and the registry tools' logic on a local SQLite MLflow store (no
TensorFlow, no server): manifests split by identity, dataset hashes, thresholds, the production /
previous aliases with their history, rollback, clean, compare, deploy, and every CLI's one-line
errors (unknown model, unknown version, nothing to roll back to, unreachable server)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from face_pipeline.calibrate import best_accuracy_threshold
from tests.registry_helpers import assert_one_line_error, closed_port_url, run_cli
from training.common import sample_pairs
from training.config import TrainerSettings
from training.datasets.survface import build_manifest, read_manifest, write_manifest
from training.tracking import dataset_info
from training.train_verifier import choose_person_threshold, person_model_name, slugify


def make_people(root: Path, counts: dict[str, int]) -> Path:
    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            (root / name / f"{name}_{i + 1:04d}.jpg").write_bytes(b"x")
    (root / "empty_folder").mkdir()
    return root


def test_manifest_splits_by_identity_and_is_seeded(tmp_path):
    root = make_people(tmp_path / "people", {f"p{i:02d}": 2 + i % 4 for i in range(20)} | {"solo": 1})
    items = build_manifest(root, min_images=2, seed=1)
    by_split = {s: {i.identity for i in items if i.split == s} for s in ("train", "val", "test")}
    assert by_split["train"] and by_split["val"] and by_split["test"]
    assert not (by_split["train"] & by_split["val"] or by_split["train"] & by_split["test"]
                or by_split["val"] & by_split["test"])
    assert "solo" not in {i.identity for i in items}
    assert build_manifest(root, min_images=2, seed=1) == items
    assert build_manifest(root, min_images=2, seed=2) != items
    limited = build_manifest(root, min_images=2, max_people=5, max_images_per_person=2, seed=1)
    assert len({i.identity for i in limited}) == 5 and len(limited) == 10
    for suffix in (".csv", ".json"):
        assert read_manifest(write_manifest(items, tmp_path / f"m{suffix}")) == items


def test_manifest_cli_errors_in_one_line(tmp_path, capsys):
    from training.datasets.survface import main

    assert main(["--root", str(tmp_path / "missing"), "--out", str(tmp_path / "m.csv")]) == 2
    assert capsys.readouterr().err.strip().startswith("error: dataset folder not found")


def test_dataset_info_hash_ignores_order_and_root(tmp_path):
    files = [tmp_path / "b" / "2.jpg", tmp_path / "a" / "1.jpg"]
    one = dataset_info(tmp_path, files)
    two = dataset_info(tmp_path, ["a/1.jpg", "b/2.jpg"])
    assert one == two and one["n_images"] == 2 and len(one["sha256"]) == 64
    assert dataset_info(tmp_path, ["a/1.jpg"])["sha256"] != one["sha256"]
    assert one["files"] == ["a/1.jpg", "b/2.jpg"]


def test_log_dataset_info_records_a_dataset_input_and_the_params(tmp_path):
    import mlflow

    from training.tracking import log_dataset_info

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_tracking_uri(client.tracking_uri)
    try:
        mlflow.set_experiment("dataset-inputs")  # not an experiment another test left active elsewhere
        with mlflow.start_run() as run:
            log_dataset_info(dataset_info(tmp_path / "lfw" / "images", ["A/1.jpg", "A/2.jpg", "B/1.jpg"]))
    finally:
        mlflow.set_tracking_uri(None)
    got = client.get_run(run.info.run_id)
    assert got.data.params["data_n_images"] == "3" and "data_files" not in got.data.params
    [entry] = got.inputs.dataset_inputs
    tags = {t.key: t.value for t in entry.tags}
    assert entry.dataset.name == "lfw/images" and tags["mlflow.data.context"] == "training"
    assert tags["sha256"] == got.data.params["data_sha256"] and tags["sha256"].startswith(entry.dataset.digest)
    assert json.loads(entry.dataset.profile)["num_rows"] == 3


def test_pairs_are_balanced_and_threshold_separates():
    rng = np.random.default_rng(0)
    identities = np.repeat(np.arange(10), 4)
    first, second, same = sample_pairs(identities, rng)
    assert same.sum() == (~same).sum() == 60
    assert np.all((identities[first] == identities[second]) == same)
    scores = np.where(same, 0.8, 0.2) + rng.normal(0, 0.01, len(same))
    threshold = best_accuracy_threshold(scores, same)
    assert 0.25 < threshold < 0.75


def test_slugs_and_person_threshold():
    assert slugify("José  Núñez-O'Brien") == "jose-nunez-o-brien"
    assert person_model_name("George W. Bush") == "verifier-george-w-bush"
    with pytest.raises(ValueError):
        slugify("!!!")
    labels = np.array([True] * 10 + [False] * 10)
    separable = np.where(labels, 0.9, 0.1)
    assert choose_person_threshold(separable, labels)[0] == 0.75
    low = np.where(labels, 0.6, 0.1)  # every positive below 0.75: the data says otherwise
    threshold, why = choose_person_threshold(low, labels)
    assert threshold <= 0.6 and "validation F1" in why
    assert choose_person_threshold(separable[:4], labels[:4])[0] == 0.75


# --- the registry on a local store ----------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A local SQLite store with model ``verifier-unit`` v1..v3 (metric test_roc_auc 0.80, 0.95, 0.90).

    A personal verifier's name: it has no fixed evaluation set, so ``deploy_model`` judges it by its
    runs' own metrics (the fixed-set gate is tested on real models in test_registry_gate.py)."""
    import mlflow

    from model_registry.pyfunc import ProjectionModel, log_pyfunc
    from training.tracking import configure_mlflow, ensure_experiment, register_model_version

    folder = tmp_path_factory.mktemp("registry_units")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    settings = TrainerSettings(mlflow_tracking_uri=uri, mlflow_artifacts_dir=folder / "artifacts")
    configure_mlflow(settings)
    ensure_experiment("units", settings)
    example = np.eye(3, 512, dtype=np.float32)
    for auc in (0.80, 0.95, 0.90):
        with mlflow.start_run() as run:
            mlflow.set_tag("model_name", "verifier-unit")
            mlflow.log_param("auc_param", auc)
            mlflow.log_metric("test_roc_auc", auc)
            info = log_pyfunc(ProjectionModel(), {}, example, {"threshold": 0.5, "embedder": "unit"})
        register_model_version(run.info.run_id, info.model_uri, "verifier-unit")
    assert (folder / "artifacts" / "units").is_dir()  # the local default keeps artifacts in its own folder
    return {"uri": uri, "folder": folder, "settings": settings}


@pytest.fixture()
def client(store, monkeypatch):
    from model_registry.tracking import connect

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    return connect()


def test_promote_previous_history_rollback(client, capsys):
    from model_registry import registry as reg
    from scripts.model_utils import main

    assert main(["promote", "verifier-unit", "1"]) == 0
    assert main(["promote", "verifier-unit", "2"]) == 0
    assert "production -> v2 (previous: v1)" in capsys.readouterr().out
    assert reg.alias_version(client, "verifier-unit", "production") == "2"
    assert reg.alias_version(client, "verifier-unit", "previous") == "1"
    assert reg.history(client, "verifier-unit") == ["1", "2"]
    assert main(["rollback", "verifier-unit"]) == 0
    assert reg.alias_version(client, "verifier-unit", "production") == "1"
    assert reg.alias_version(client, "verifier-unit", "previous") == "2"
    assert main(["rollback", "verifier-unit", "3"]) == 0
    assert reg.alias_version(client, "verifier-unit", "production") == "3"
    assert reg.history(client, "verifier-unit") == ["1", "2", "1", "3"]
    assert main(["promote", "verifier-unit", "3"]) == 0
    assert "already in production" in capsys.readouterr().out


def test_compare_performance_clean_and_deploy(client, capsys):
    from model_registry import registry as reg
    from scripts import deploy_model, model_utils

    reg.promote(client, "verifier-unit", "2")
    reg.promote(client, "verifier-unit", "1")  # production v1 (0.80), previous v2 (0.95)
    assert model_utils.main(["compare", "verifier-unit", "1", "2"]) == 0
    out = capsys.readouterr().out
    assert "metric test_roc_auc" in out and "0.8000" in out and "0.9500" in out and "better by test_roc_auc" in out
    assert "param auc_param" in out
    assert model_utils.main(["performance"]) == 0
    assert "test_roc_auc=0.8000" in capsys.readouterr().out

    assert deploy_model.main(["verifier-unit", "--dry-run"]) == 0
    assert "would promote v2" in capsys.readouterr().out
    assert reg.alias_version(client, "verifier-unit", "production") == "1"
    assert deploy_model.main(["verifier-unit"]) == 0
    assert reg.alias_version(client, "verifier-unit", "production") == "2"
    assert deploy_model.main(["verifier-unit"]) == 0
    assert "already the best" in capsys.readouterr().out

    # production v2, previous v1: --keep 0 may only delete v3.
    assert model_utils.main(["clean", "verifier-unit", "--keep", "0", "--dry-run"]) == 0
    assert "would delete 1 version(s): 3" in capsys.readouterr().out
    assert model_utils.main(["clean", "verifier-unit", "--keep", "0"]) == 0
    assert [str(v.version) for v in reg.list_versions(client, "verifier-unit")] == ["1", "2"]


def test_check_models_and_register_model(client, capsys):
    from model_registry import registry as reg
    from scripts import check_models, register_model

    reg.promote(client, "verifier-unit", "2")
    assert register_model.main(["verifier-unit"]) == 0  # the latest run's version was cleaned: registered again
    assert "registered run" in capsys.readouterr().out
    assert register_model.main(["verifier-unit"]) == 0
    assert "already version" in capsys.readouterr().out
    assert check_models.main([]) == 0
    out = capsys.readouterr().out
    assert "verifier-unit" in out and "production" in out and "test_roc_auc=" in out


def test_bootstrap_does_nothing_when_models_exist(client, capsys):
    from scripts import bootstrap_registry

    assert bootstrap_registry.main([]) == 0
    assert "nothing to bootstrap" in capsys.readouterr().out


def run_main(module: str, *args: str, capsys) -> subprocess.CompletedProcess:
    """A CLI's ``main`` in-process (quick), with its output as a CompletedProcess."""
    import importlib

    code = importlib.import_module(module).main(list(args))
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, captured.out, captured.err)


def test_cli_errors_are_one_line(store, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    cases = [
        (("scripts.model_utils", "promote", "no-such-model", "1"), "unknown model: no-such-model"),
        (("scripts.model_utils", "promote", "verifier-unit", "99"), "unknown version of verifier-unit: 99"),
        (("scripts.model_utils", "rollback", "verifier-unit", "abc"), "unknown version"),
        (("scripts.model_utils", "compare", "verifier-unit", "1", "42"), "unknown version of verifier-unit: 42"),
        (("scripts.model_utils", "clean", "no-such-model", "--keep", "1"), "unknown model"),
        (("scripts.register_model", "no-such-model"), "no successful training run of no-such-model"),
        (("scripts.check_models", "no-such-model"), "unknown model"),
    ]
    for args, message in cases:
        assert_one_line_error(run_main(*args, capsys=capsys), message)


def test_cli_unreachable_server_is_one_line(monkeypatch, capsys):
    uri = closed_port_url()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for args in (("scripts.check_models",), ("scripts.model_utils", "performance"),
                 ("scripts.model_utils", "rollback", "face-verifier"), ("scripts.deploy_model", "--dry-run"),
                 ("scripts.register_model", "face-verifier")):
        assert_one_line_error(run_main(*args, capsys=capsys), "is unreachable")
    # And once as a real command line: nothing but the one line, exit status 2.
    assert_one_line_error(run_cli("scripts.bootstrap_registry", uri=uri), "is unreachable")


def test_rollback_without_previous(tmp_path, monkeypatch, capsys):
    import mlflow

    from model_registry.pyfunc import ProjectionModel, log_pyfunc
    from training.tracking import configure_mlflow, ensure_experiment, register_model_version

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    configure_mlflow(TrainerSettings(mlflow_tracking_uri=uri, mlflow_artifacts_dir=tmp_path / "a"))
    ensure_experiment("solo")
    with mlflow.start_run() as run:
        info = log_pyfunc(ProjectionModel(), {}, np.eye(2, 512, dtype=np.float32), {"threshold": 0.4})
    version = register_model_version(run.info.run_id, info.model_uri, "face-recognition")
    assert version == "1"
    assert_one_line_error(run_cli("scripts.model_utils", "rollback", "face-recognition", uri=uri),
                          "no previous production version")  # as a real command line
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    result = run_main("scripts.model_utils", "promote", "face-recognition", "1", capsys=capsys)
    assert result.returncode == 0 and "production -> v1" in result.stdout
    model = mlflow.pyfunc.load_model("models:/face-recognition@production")
    assert json.loads(json.dumps(model.metadata.metadata))["threshold"] == 0.4
    out = model.predict(np.full((2, 512), 3.0, np.float32))
    assert out.shape == (2, 512) and np.allclose(np.linalg.norm(out, axis=1), 1.0)


def test_noise_rule_calls_a_winner_only_beyond_two_standard_errors():
    from model_registry.fixed_sets import Evaluation, compare

    def accuracy(version: str, correct: np.ndarray) -> Evaluation:
        return Evaluation("face-verifier", version, "fixed_pair_accuracy", True, float(correct.mean()),
                          float(correct.std(ddof=1) / np.sqrt(len(correct))), len(correct), correct.astype(float))

    rng = np.random.default_rng(0)
    base = rng.random(400) < 0.9
    one_more = base.copy()
    one_more[np.flatnonzero(~base)[0]] = True  # right on one more pair: noise
    much_better = base | (rng.random(400) < 0.8)
    assert compare(accuracy("1", base), accuracy("2", base)).winner is None  # a copy
    assert compare(accuracy("1", base), accuracy("2", one_more)).winner is None
    verdict = compare(accuracy("1", base), accuracy("2", much_better))
    assert verdict.winner.version == "2" and "v2 is better" in verdict.text and verdict.se > 0
    mae = [Evaluation("age-gender", v, "fixed_age_mae", False, float(e.mean()), 0.1, len(e), e)
           for v, e in (("1", np.full(300, 5.0) + rng.normal(0, 2, 300)), ("2", np.full(300, 4.0)))]
    assert compare(*mae).winner.version == "2"  # lower is better
    broken = Evaluation("age-gender", "3", "fixed_age_mae", False, problem="trained on embedder x")
    assert compare(mae[0], broken).winner.version == "1" and "cannot be evaluated" in compare(mae[0], broken).text


def test_impostors_sampled_by_person_and_split_by_person(tmp_path):
    from training.train_verifier import sample_impostors, split_people, split_photos

    root = make_people(tmp_path / "people", {f"Person_{i:02d}": 3 for i in range(30)} | {"George_W_Bush": 5})
    sample = sample_impostors(root, {"George_W_Bush", "Person_00"}, people=20, per_person=2, seed=1)
    assert len(sample) == 20 and "George_W_Bush" not in sample and "Person_00" not in sample
    assert all(len(photos) == 2 for photos in sample.values())
    assert sample == sample_impostors(root, {"George_W_Bush", "Person_00"}, people=20, per_person=2, seed=1)
    assert "George_W_Bush" not in sample_impostors(root, {"george-w-bush"}, people=40, per_person=1, seed=1)
    splits = split_people(sorted(sample), seed=1)
    assert [list(splits.values()).count(s) for s in ("train", "val", "test")] == [12, 4, 4]
    photos = split_photos(10, seed=1)
    assert sorted(photos.tolist()).count("train") == 6 and set(photos) == {"train", "val", "test"}
    with pytest.raises(FileNotFoundError, match="impostor folder not found"):
        sample_impostors(tmp_path / "missing", set(), people=3, per_person=1, seed=1)
