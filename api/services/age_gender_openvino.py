"""The served age-gender model run by OpenVINO instead of its pyfunc (Keras on TensorFlow).

Why: loading the pyfunc imports Keras, and Keras here runs on TensorFlow, which costs each worker
about 600 MiB of resident memory (more than the face pipeline, which needs no TensorFlow). The
model's own Keras file is converted once per version, in a child process
(:mod:`model_registry.keras_openvino`), and the IR is kept beside the downloaded version
(``<version>/openvino/``, checked against its manifest like the pipeline's IRs). Inputs are
prepared by the pyfunc's own ``model_inputs`` and the answer is the same DataFrame, so nothing else
in the API knows which runtime ran it. A version whose files are not the ones our pyfunc ships
(another kind of model) is :class:`NotConvertible`: the caller then serves it through its pyfunc."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from face_pipeline.openvino_cache import CompiledNetwork, IRCache
from model_registry.face_analytics_age_gender import model_inputs, to_frame
from model_registry.keras_openvino import CONVERTER_REVISION, convert_in_child

IR_FOLDER = "openvino"


class NotConvertible(ValueError):
    """The model version holds no Keras file and config of ours to convert."""


class OpenVINOAgeGender:
    """What the API uses of an age-gender ``PyFuncModel``: ``metadata`` and ``predict``."""

    runtime = "openvino"

    def __init__(self, model_dir: Path, threads: int = 1) -> None:
        from mlflow.models import Model

        model_dir = Path(model_dir)
        self.metadata = Model.load(str(model_dir / "MLmodel"))
        artifacts = self.metadata.flavors.get("python_function", {}).get("artifacts") or {}
        try:
            keras_path = model_dir / artifacts["keras_model"]["path"]
            config_path = model_dir / artifacts["config"]["path"]
        except (KeyError, TypeError) as exc:
            raise NotConvertible(f"no {exc} artifact: not a Keras age-gender model of ours") from exc
        if not keras_path.is_file() or not config_path.is_file():
            raise NotConvertible(f"{keras_path.name} or {config_path.name} is missing from {model_dir}")
        self.config = json.loads(config_path.read_text())
        model, self.cache_state = IRCache(model_dir / IR_FOLDER).load_or_build(
            "age-gender", keras_path, CONVERTER_REVISION, lambda: convert_in_child(keras_path))
        self._network = CompiledNetwork(model, threads, "f32")
        self._outputs = [output.get_any_name() for output in self._network.compiled.outputs]
        self._dtypes = {port.get_any_name(): port.get_element_type().to_dtype()
                        for port in self._network.compiled.inputs}
        missing = set(self.config["inputs"]) - self._dtypes.keys()
        if missing or not {"age", "gender"} <= set(self._outputs):
            raise NotConvertible(f"the converted model has inputs {sorted(self._dtypes)} and outputs "
                                 f"{self._outputs}, not those of its config")

    def predict(self, model_input, params=None):
        """The pyfunc's answer (``age``, ``gender``, ``gender_confidence``) for the same input."""
        inputs = model_inputs(self.config, model_input)
        if len(next(iter(inputs.values()))) == 0:
            return to_frame(np.zeros(0), np.zeros(0))
        batch = {name: np.asarray(value, self._dtypes[name]) for name, value in inputs.items()}
        out = dict(zip(self._outputs, self._network(batch)))
        return to_frame(out["age"], out["gender"])
