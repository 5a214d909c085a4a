"""The served age-gender model on OpenVINO: the committed baseline converted in a child process
answers real LFW faces as its pyfunc does, in a process that never imports TensorFlow; the IR is
reused, and a damaged one rebuilt; a model that cannot be converted is served through its pyfunc;
the converter's command line fails in one line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from api.services.registry_models import RegistryModels
from model_registry.names import AGE_GENDER
from tests.conftest import lfw_image

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "models" / "baseline" / "age-gender" / "model"
PHOTOS = [("Aaron_Peirsol", 1), ("Serena_Williams", 1), ("Ariel_Sharon", 1), ("Angelina_Jolie", 1)]

CHILD = """
import json, sys
import numpy as np
from pathlib import Path
from api.services.age_gender_openvino import OpenVINOAgeGender
model = OpenVINOAgeGender(Path(sys.argv[1]))
frame = model.predict(dict(np.load(sys.argv[2])))
print(json.dumps({"state": model.cache_state, "tensorflow": "tensorflow" in sys.modules,
                  "keras": "keras" in sys.modules, "age": frame["age"].tolist(),
                  "gender": frame["gender"].tolist(), "confidence": frame["gender_confidence"].tolist()}))
"""


@pytest.fixture(scope="module")
def faces(pipeline, tmp_path_factory) -> Path:
    found = [pipeline.process(pipeline.load(lfw_image(name, index)))[0] for name, index in PHOTOS]
    path = tmp_path_factory.mktemp("age_gender_ov") / "inputs.npz"
    np.savez(path, embedding=np.stack([f.attribute_vector for f in found]),
             features=np.stack([f.features for f in found]))
    return path


def _served_in_child(model_dir: Path, inputs: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(model_dir), str(inputs)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_baseline_on_openvino_answers_as_its_pyfunc_without_tensorflow(faces, tmp_path):
    model_dir = tmp_path / "age-gender" / "1"
    shutil.copytree(BASELINE, model_dir)
    first = _served_in_child(model_dir, faces)
    assert first["state"] == "built"
    assert not first["tensorflow"] and not first["keras"]

    reference = mlflow.pyfunc.load_model(str(BASELINE)).predict(
        {name: value for name, value in np.load(faces).items()})
    np.testing.assert_allclose(first["age"], reference["age"], atol=0.02)
    np.testing.assert_allclose(first["confidence"], reference["gender_confidence"], atol=1e-3)
    assert first["gender"] == reference["gender"].tolist()
    assert len(set(np.round(first["age"]))) > 1  # real, different faces: not one constant answer

    again = _served_in_child(model_dir, faces)
    assert again["state"] == "cache" and again["age"] == first["age"]

    weights = next((model_dir / "openvino").glob("*.bin"))
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    rebuilt = _served_in_child(model_dir, faces)
    assert rebuilt["state"] == "rebuilt"
    np.testing.assert_allclose(rebuilt["age"], first["age"], atol=1e-4)


def _registry(runtime: str) -> RegistryModels:
    served = RegistryModels.__new__(RegistryModels)  # no registry: only loading is under test
    served.age_gender_runtime, served.embedder_version, served.attribute_embedder_version = runtime, None, None
    return served


def test_registry_serves_age_gender_on_openvino_and_the_pyfunc_on_request(faces, tmp_path):
    model_dir = tmp_path / "1"
    shutil.copytree(BASELINE, model_dir)
    inputs = dict(np.load(faces))
    answers = {}
    for runtime in ("openvino", "pyfunc"):
        served = _registry(runtime)
        served._models = {AGE_GENDER: served._load(AGE_GENDER, "1", model_dir)}
        assert getattr(served._models[AGE_GENDER].model, "runtime", "pyfunc") == runtime
        assert served._models[AGE_GENDER].metadata["embedder"] == "facenet-casia:20180408-102900:flip"
        answers[runtime] = served.predict_age_gender(np.zeros((len(PHOTOS), 160, 160, 3), np.uint8),
                                                     inputs["embedding"], inputs["features"])
    for (age, gender, confidence), (age2, gender2, confidence2) in zip(answers["openvino"], answers["pyfunc"]):
        assert gender == gender2 and abs(age - age2) < 0.02 and abs(confidence - confidence2) < 1e-3


class ConstantModel(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        n = len(next(iter(model_input.values())))
        return pd.DataFrame({"age": [30.0] * n, "gender": ["female"] * n, "gender_confidence": [0.8] * n})


def test_a_model_without_our_keras_files_is_served_through_its_pyfunc(tmp_path, caplog):
    path = tmp_path / "other"
    mlflow.pyfunc.save_model(str(path), python_model=ConstantModel(),
                             input_example={"embedding": np.zeros((1, 512), np.float32)})
    served = _registry("openvino")
    served._models = {AGE_GENDER: served._load(AGE_GENDER, "7", path)}
    assert not hasattr(served._models[AGE_GENDER].model, "runtime")
    assert "runs through its pyfunc" in caplog.text
    assert served.predict_age_gender(np.zeros((2, 160, 160, 3), np.uint8), np.zeros((2, 512), np.float32)) == [
        (30.0, "female", 0.8)] * 2


@pytest.mark.parametrize("make", ["missing", "not-keras"])
def test_converter_errors_are_one_line_and_exit_2(tmp_path, make):
    source = tmp_path / "model.keras"
    if make == "not-keras":
        source.write_bytes(b"this is no keras archive")
    done = subprocess.run([sys.executable, "-m", "model_registry.keras_openvino", str(source), str(tmp_path / "o.xml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(lines) == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "o.xml").exists()
