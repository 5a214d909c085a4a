"""The ``age-gender`` MLflow pyfunc model: the API's contract, independent of the design inside.

``predict({"embedding": (N,512) float32, "crop": (N,160,160,3) uint8, "features": (N,F) float32})``
returns a DataFrame with ``age`` (float, years), ``gender`` ("male"/"female") and
``gender_confidence`` (float in [0.5, 1]). ``features`` are the embedder's pooled inner activations
(``FaceEmbedding.features``, F = ``feature_dim`` in ``config.json``). Every input is always
accepted; the model uses those its design needs (``inputs`` in its ``config.json``; the signature
names only those) and resizes crops to its ``pixel_size`` with the same ``cv2.INTER_AREA`` the trainer
used, so serving sees exactly the training preprocessing."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import tempfile
from pathlib import Path

import mlflow.pyfunc
import numpy as np

GENDERS = ("male", "female")
CROP_SIZE = 160


def resize_crops(crops: np.ndarray, size: int) -> np.ndarray:
    crops = np.asarray(crops, dtype=np.uint8)
    if crops.shape[1] == size and crops.shape[2] == size:
        return crops
    import cv2

    return np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in crops]) if len(crops) \
        else np.zeros((0, size, size, 3), np.uint8)


def _column(model_input, name: str):
    if isinstance(model_input, dict):
        return model_input.get(name)
    if hasattr(model_input, "columns") and name in model_input.columns:
        return np.stack(model_input[name].to_numpy())
    return None


def to_frame(age: np.ndarray, p_female: np.ndarray):
    import pandas as pd

    age = np.clip(np.asarray(age, np.float64).reshape(-1), 0.0, None)
    p_female = np.asarray(p_female, np.float64).reshape(-1)
    female = p_female >= 0.5
    return pd.DataFrame({"age": age, "gender": np.where(female, GENDERS[1], GENDERS[0]).astype(object),
                         "gender_confidence": np.where(female, p_female, 1.0 - p_female)})


class AgeGenderModel(mlflow.pyfunc.PythonModel):
    """Wraps a Keras model with outputs ``age`` and ``gender`` (probability of female)."""

    def load_context(self, context) -> None:
        import keras

        self.config = json.loads(Path(context.artifacts["config"]).read_text())
        self.model = keras.saving.load_model(context.artifacts["keras_model"], compile=False)

    def model_inputs(self, model_input) -> dict[str, np.ndarray]:
        inputs = {}
        for name in self.config["inputs"]:
            value = _column(model_input, name)
            if value is None:
                raise ValueError(f"the age-gender model needs the input {name!r}")
            if name == "embedding":
                value = np.asarray(value, np.float32).reshape(-1, 512)
            elif name == "features":
                value = np.asarray(value, np.float32).reshape(-1, int(self.config["feature_dim"]))
            else:
                value = resize_crops(np.asarray(value), int(self.config["pixel_size"]))
            inputs[name] = value
        return inputs

    def predict(self, context, model_input, params=None):
        inputs = self.model_inputs(model_input)
        n = len(next(iter(inputs.values())))
        if n == 0:
            return to_frame(np.zeros(0), np.zeros(0))
        out = self.model.predict(inputs, verbose=0, batch_size=256)
        return to_frame(out["age"], out["gender"])


SHIPPED_MODULE = "face_analytics_age_gender"
"""The name this file is shipped and pickled under: a top-level module of its own (as
``training.pyfunc_models`` does with ``face_analytics_pyfunc``), so loading the model never depends on
(or collides with) a ``training`` package in the serving process."""


def shipped_class() -> type:
    """:class:`AgeGenderModel` as defined by this file imported under :data:`SHIPPED_MODULE`."""
    module = sys.modules.get(SHIPPED_MODULE)
    # A model loaded earlier in this process may have imported ITS shipped copy under this name
    # (an older version of this file): log with this file's classes, never that copy's.
    if module is None or Path(getattr(module, "__file__", "") or "").resolve() != Path(__file__).resolve():
        spec = importlib.util.spec_from_file_location(SHIPPED_MODULE, Path(__file__))
        module = importlib.util.module_from_spec(spec)
        sys.modules[SHIPPED_MODULE] = module
        spec.loader.exec_module(module)
    return module.AgeGenderModel


def code_file() -> Path:
    """A temporary copy of this file named ``face_analytics_age_gender.py``, shipped as ``code_paths``."""
    folder = Path(tempfile.mkdtemp(prefix="pyfunc-age-gender-"))
    shutil.copy(Path(__file__), folder / f"{SHIPPED_MODULE}.py")
    return folder / f"{SHIPPED_MODULE}.py"


def input_example(embeddings: np.ndarray, crops: np.ndarray, features: np.ndarray | None = None,
                  inputs: tuple[str, ...] | list[str] | None = None) -> dict[str, np.ndarray]:
    """The example (and so the signature): the inputs the design reads (all given ones when
    ``inputs`` is None), so a caller may always send all three and a model never demands one it
    does not use."""
    example = {"embedding": np.asarray(embeddings, np.float32), "crop": np.asarray(crops, np.uint8)}
    if features is not None:
        example["features"] = np.asarray(features, np.float32)
    return example if inputs is None else {name: example[name] for name in inputs}


def model_files(keras_model, config: dict, folder: Path) -> dict[str, str]:
    """Write the Keras model and its config into ``folder``; returns the pyfunc artifacts."""
    import keras

    folder.mkdir(parents=True, exist_ok=True)
    keras_path = folder / "age_gender.keras"
    # A copy rebuilt from the architecture alone (never compiled): the file then holds the weights
    # only, not the optimizer's state (3x smaller). ``clone_model`` would keep the compile config.
    inference = keras.Model.from_config(keras_model.get_config())
    inference.set_weights(keras_model.get_weights())
    inference.save(keras_path)
    config_path = folder / "config.json"
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True))
    return {"keras_model": str(keras_path), "config": str(config_path)}


def _signature_and_example(artifacts: dict[str, str], example: dict[str, np.ndarray]):
    from mlflow.models import infer_signature

    probe = shipped_class()()

    class _Ctx:
        pass

    ctx = _Ctx()
    ctx.artifacts = artifacts
    probe.load_context(ctx)
    return infer_signature(example, probe.predict(ctx, example))


PIP_REQUIREMENTS = ["mlflow", "numpy", "pandas", "tensorflow-cpu", "keras", "opencv-python-headless"]


def log_model(keras_model, config: dict, example: dict[str, np.ndarray], metadata: dict, name: str = "model"):
    """Log the pyfunc (signature, input example, metadata) to the active run; returns ``ModelInfo``."""
    work = Path(tempfile.mkdtemp(prefix="age-gender-model-"))
    code = code_file()
    try:
        artifacts = model_files(keras_model, config, work)
        return mlflow.pyfunc.log_model(
            name=name, python_model=shipped_class()(), artifacts=artifacts, code_paths=[str(code)],
            signature=_signature_and_example(artifacts, example), input_example=example, metadata=metadata,
            pip_requirements=PIP_REQUIREMENTS)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(code.parent, ignore_errors=True)


def save_model(keras_model, config: dict, example: dict[str, np.ndarray], metadata: dict, path: Path) -> Path:
    """Save the pyfunc as a plain MLflow model directory (the committed baseline)."""
    work = Path(tempfile.mkdtemp(prefix="age-gender-model-"))
    code = code_file()
    try:
        artifacts = model_files(keras_model, config, work)
        shutil.rmtree(path, ignore_errors=True)
        mlflow.pyfunc.save_model(
            path=str(path), python_model=shipped_class()(), artifacts=artifacts, code_paths=[str(code)],
            signature=_signature_and_example(artifacts, example), input_example=example, metadata=metadata,
            pip_requirements=PIP_REQUIREMENTS)
        return Path(path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(code.parent, ignore_errors=True)
