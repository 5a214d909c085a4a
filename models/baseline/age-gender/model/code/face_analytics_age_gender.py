"""The ``age-gender`` MLflow pyfunc model: the API's contract, independent of the design inside.
The file the model ships (``code_paths``) and is pickled under as the top-level module
``face_analytics_age_gender`` (:mod:`model_registry.pyfunc` logs it), so loading it needs nothing
of this project.

``predict({"embedding": (N,512) float32, "crop": (N,160,160,3) uint8, "features": (N,F) float32})``
returns a DataFrame with ``age`` (float, years), ``gender`` ("male"/"female") and
``gender_confidence`` (float in [0.5, 1]). ``features`` are the embedder's pooled inner activations
(``FaceEmbedding.features``, F = ``feature_dim`` in ``config.json``). Every input is always
accepted; the model uses those its design needs (``inputs`` in its ``config.json``; the signature
names only those) and resizes crops to its ``pixel_size`` with the same ``cv2.INTER_AREA`` the trainer
used, so serving sees exactly the training preprocessing."""

from __future__ import annotations

import json
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


def model_inputs(config: dict, model_input) -> dict[str, np.ndarray]:
    """The inputs a model of ``config`` (its ``config.json``) reads, shaped and resized as it was
    trained; shared with the API's OpenVINO runtime of the same model, so both see the same."""
    inputs = {}
    for name in config["inputs"]:
        value = _column(model_input, name)
        if value is None:
            raise ValueError(f"the age-gender model needs the input {name!r}")
        if name == "embedding":
            value = np.asarray(value, np.float32).reshape(-1, 512)
        elif name == "features":
            value = np.asarray(value, np.float32).reshape(-1, int(config["feature_dim"]))
        else:
            value = resize_crops(np.asarray(value), int(config["pixel_size"]))
        inputs[name] = value
    return inputs


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
        return model_inputs(self.config, model_input)

    def predict(self, context, model_input, params=None):
        inputs = self.model_inputs(model_input)
        n = len(next(iter(inputs.values())))
        if n == 0:
            return to_frame(np.zeros(0), np.zeros(0))
        out = self.model.predict(inputs, verbose=0, batch_size=256)
        return to_frame(out["age"], out["gender"])
