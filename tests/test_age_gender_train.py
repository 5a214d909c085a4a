"""A tiny real age/gender training run (real UTKFace photos, real pipeline, a two-member
``features`` ensemble and ``combined``, 1-2 epochs) logged to a temporary MLflow SQLite store;
the registered pyfunc loads and answers the API's contract on real crops. Also the baseline
folder written by ``--save-baseline``."""

from __future__ import annotations

import shutil

import mlflow
import numpy as np
import pytest

from tests.conftest import DATA_DIR as ROOT_DATA
from training.age_gender import prepare, utk

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_run(data_dir, pipeline, tmp_path_factory):
    from training import train_age_gender_tf as trainer
    from training.config import TrainerSettings

    tmp = tmp_path_factory.mktemp("agetrain")
    src_dir = data_dir / "utkface" / "crop_part1"
    src = tmp / "utk"
    src.mkdir()
    for path in sorted(src_dir.iterdir())[::400][:24]:  # every 400th photo: ages spread over the range
        shutil.copy(path, src / path.name)
    settings = TrainerSettings(mlflow_tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}",
                               mlflow_artifacts_dir=tmp / "artifacts", cache_dir=tmp / "cache")
    previous = mlflow.get_tracking_uri()
    result = trainer.train(epochs=2, cnn_epochs=1, designs="features,combined", patience=1, pipeline=pipeline,
                           settings=settings, src=src, batch_size=8, save_baseline=tmp / "baseline", members=2)
    yield result, settings, src, tmp
    mlflow.set_tracking_uri(previous)


def test_run_logged_and_registered(tiny_run):
    result, settings, _, _ = tiny_run
    assert result["version"] == "1" and result["winner"] in ("features", "combined")
    assert set(result["designs"]) == {"features", "combined"}
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)  # its own registry too
    run = client.get_run(result["run_id"])
    assert run.data.tags["git_commit"] and run.data.tags["winner"] == result["winner"]
    assert int(run.data.params["data_n_images"]) == 24 and len(run.data.params["data_sha256"]) == 64
    for key in ("test_age_mae", "test_gender_acc", "test_gender_f1", "val_age_mae"):
        assert np.isfinite(run.data.metrics[key])
    artifacts = {a.path for a in client.list_artifacts(result["run_id"], "report")}
    assert {"report/gender_confusion.png", "report/age_errors.png", "report/metrics.json"} <= artifacts
    children = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{result['run_id']}'")
    assert {c.data.tags["design"] for c in children} == {"features", "combined"}
    for child in children:
        history = client.get_metric_history(child.info.run_id, "epoch_val_loss")
        assert len(history) >= 1  # per-epoch metrics from the Keras callback
        members = int(child.data.params["members"])
        assert members == (2 if child.data.tags["design"] == "features" else 1)
        if members == 2:  # the second member's curves under their own names
            assert client.get_metric_history(child.info.run_id, "epoch_m1_val_loss")
    assert client.get_model_version("age-gender", "1").run_id == result["run_id"]
    assert not client.get_registered_model("age-gender").aliases  # registered, never promoted


def _contract(frame, n):
    assert list(frame.columns) == ["age", "gender", "gender_confidence"] and len(frame) == n
    assert frame["age"].dtype == np.float64 and (frame["age"] >= 0).all()
    assert set(frame["gender"]) <= {"male", "female"}
    assert ((frame["gender_confidence"] >= 0.5) & (frame["gender_confidence"] <= 1.0)).all()


def test_registered_pyfunc_contract_on_real_crops(tiny_run, pipeline, data_dir):
    result, settings, _, _ = tiny_run
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    model = mlflow.pyfunc.load_model("models:/age-gender/1")
    assert model.metadata.metadata["embedder"] == pipeline.embedder.attribute_version
    faces = pipeline.process(pipeline.load(data_dir / "lfw" / "images" / "George_W_Bush" / "George_W_Bush_0001.jpg"))
    crops = np.stack([f.crop for f in faces])
    embeddings = np.stack([f.attribute_vector for f in faces]).astype(np.float32)  # FaceNet's, as the API sends
    features = np.stack([f.features for f in faces])
    frame = model.predict({"embedding": embeddings, "crop": crops, "features": features})
    _contract(frame, len(faces))
    dim = pipeline.embedder.feature_dim
    empty = model.predict({"embedding": np.zeros((0, 512), np.float32), "crop": np.zeros((0, 160, 160, 3), np.uint8),
                           "features": np.zeros((0, dim), np.float32)})
    assert len(empty) == 0


def test_baseline_folder_loads(tiny_run, pipeline, data_dir):
    _, _, src, tmp = tiny_run
    model = mlflow.pyfunc.load_model(str(tmp / "baseline" / "model"))
    rows = [{"file": p.name, "age": utk.parse_name(p.name).age, "gender": 0} for p in sorted(src.iterdir())[:3]]
    arrays = prepare.load_arrays(rows, prepare.cache_folder(tmp / "cache", pipeline), pixel_size=160, features=True)
    _contract(model.predict({"embedding": arrays["embedding"], "crop": arrays["crop"],
                             "features": arrays["features"]}), 3)
    assert (tmp / "baseline" / "model" / "MLmodel").is_file()
    assert sum(f.stat().st_size for f in (tmp / "baseline" / "model").rglob("*")) < 30 * 2**20


def test_unknown_design_is_a_clear_error(tmp_path):
    from training import train_age_gender_tf as trainer

    assert trainer.main(["--manifest", str(tmp_path / "missing.csv")]) == 2
    with pytest.raises(SystemExit) as usage:  # argparse's one-line usage error
        trainer.parse_args(["--members", "0"])
    assert usage.value.code == 2
    with pytest.raises(ValueError, match="unknown design"):
        trainer.run(trainer.parse_args(["--designs", "resnet"]), pipeline=object())


@pytest.fixture(scope="module")
def tiny_aaf_run(tiny_run, pipeline, data_dir):
    """The same UTKFace photos plus a seeded 24 of All-Age-Faces (``--aaf``), one ``features`` member."""
    from training import train_age_gender_tf as trainer

    _, settings, src, tmp = tiny_run
    result = trainer.train(limit=24, epochs=2, designs="features", patience=1, pipeline=pipeline, settings=settings,
                           src=src, batch_size=8, members=1, aaf=data_dir / "aaf", register=False)
    return result, settings


def test_aaf_joins_training_and_validation_not_test(tiny_aaf_run, tiny_run):
    from training.age_gender import aaf

    result, settings = tiny_aaf_run
    params = result["params"]
    n_train_aaf, n_val_aaf = int(params["n_train_aaf"]), int(params["n_val_aaf"])
    assert n_train_aaf > 0 and n_val_aaf > 0 and n_train_aaf + n_val_aaf == 24
    assert int(params["n_test"]) == int(tiny_run[0]["params"]["n_test"])  # the test split stays UTKFace's
    assert int(params["n_val"]) == int(tiny_run[0]["params"]["n_val"]) + n_val_aaf
    assert params["aaf_val_list"] == aaf.VAL_LIST.name and int(params["aaf_n_images"]) == 24
    by_set = result["designs"]["features"]["val_by_set"]
    assert set(by_set) == {"utkface", "aaf"}
    from training.train_age_gender_tf import domain_scores
    assert result["designs"]["features"]["score"] == pytest.approx(domain_scores(by_set))
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    run = client.get_run(result["run_id"])
    assert np.isfinite(run.data.metrics["val_aaf_age_mae"]) and np.isfinite(run.data.metrics["val_utkface_gender_acc"])
    contexts = {d.dataset.name: [t.value for t in d.tags if t.key == "mlflow.data.context"]
                for d in run.inputs.dataset_inputs}
    assert contexts["aaf/images"] == ["aaf"] and sorted(sum(contexts.values(), [])) == ["aaf", "training"]
    model = mlflow.pyfunc.load_model(result["model_uri"])
    assert model.metadata.metadata["trained_on"] == "utkface+aaf"


def test_aaf_cli_error_before_any_work(tmp_path):
    from training import train_age_gender_tf as trainer

    assert trainer.main(["--src", str(tmp_path), "--aaf", str(tmp_path / "no-aaf")]) == 2
    assert trainer.main(["--src", str(tmp_path), "--aaf", str(ROOT_DATA / "aaf"),
                         "--aaf-val", str(tmp_path / "missing.txt")]) == 2


def test_sample_weights_children_gender_and_aaf_age():
    from training.train_age_gender_tf import parse_args, sample_weights

    weights = sample_weights(np.array([2, 12, 13, 40]), 3.0)
    assert weights["gender"].tolist() == [3.0, 3.0, 1.0, 1.0] and weights["age"].tolist() == [1.0] * 4
    assert sample_weights(np.array([2, 40]), 1.0) is None
    mixed = sample_weights(np.array([2, 30, 30]), 1.0, np.array(["utkface", "aaf", "utkface"]), aaf_age_weight=0.5)
    assert mixed["age"].tolist() == [1.0, 0.5, 1.0] and mixed["gender"].tolist() == [1.0] * 3
    assert parse_args([]).child_weight == 1.0 and parse_args(["--child-weight", "2"]).child_weight == 2.0
