"""The API hands an age-gender model exactly the inputs its signature names: an older version
(embedding and crop) never sees the features, a features version gets them, and one that needs an
input the pipeline did not give is a clear error. Small pyfunc models saved here, no TensorFlow."""

from __future__ import annotations

import logging

import mlflow
import numpy as np
import pandas as pd
import pytest

from api.services.registry_models import LoadedModel, RegistryModels
from model_registry.inputs import signature_inputs
from model_registry.names import AGE_GENDER


class EchoModel(mlflow.pyfunc.PythonModel):
    """Answers with the number of inputs it was handed as the age, so the test sees what arrived."""

    def predict(self, context, model_input, params=None):
        n = len(next(iter(model_input.values())))
        return pd.DataFrame({"age": [float(len(model_input))] * n, "gender": ["male"] * n,
                             "gender_confidence": [0.9] * n})


def _inputs(n: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"embedding": rng.random((n, 512), dtype=np.float32), "crop": np.zeros((n, 160, 160, 3), np.uint8),
            "features": rng.random((n, 2688), dtype=np.float32)}


def _served(tmp_path, names: tuple[str, ...]) -> RegistryModels:
    example = {name: value[:1] for name, value in _inputs().items() if name in names}
    path = tmp_path / "-".join(names)
    mlflow.pyfunc.save_model(str(path), python_model=EchoModel(), input_example=example)
    served = RegistryModels.__new__(RegistryModels)  # no registry: only the model-calling part is under test
    served._models = {AGE_GENDER: LoadedModel(AGE_GENDER, "1", mlflow.pyfunc.load_model(str(path)), {})}
    return served


def test_an_older_model_gets_only_what_it_declares(tmp_path, caplog):
    served = _served(tmp_path, ("embedding", "crop"))
    assert signature_inputs(served._models[AGE_GENDER].model) == {"embedding", "crop"}
    data = _inputs()
    with caplog.at_level(logging.WARNING):
        answers = served.predict_age_gender(data["crop"], data["embedding"], data["features"])
    assert [age for age, _, _ in answers] == [2.0, 2.0]  # embedding and crop, not the features
    assert "extra inputs" not in caplog.text


def test_a_features_model_gets_them_and_refuses_without(tmp_path):
    served = _served(tmp_path, ("embedding", "features"))
    data = _inputs(3)
    answers = served.predict_age_gender(data["crop"], data["embedding"], data["features"])
    assert answers == [(2.0, "male", 0.9)] * 3
    with pytest.raises(ValueError, match="features"):
        served.predict_age_gender(data["crop"], data["embedding"])
    assert served.predict_age_gender(data["crop"][:0], data["embedding"][:0]) == []
