"""Logging the registered models: the pyfunc classes live in two files of this package
(:mod:`model_registry.face_analytics_pyfunc`, :mod:`model_registry.face_analytics_age_gender`),
each model ships its file as ``code_paths`` (MLflow copies it into the model's ``code/``) and is
pickled under the file's own top-level name, so loading a model needs neither this package nor the
trainer, and a serving process never mixes a model's code with another copy of it.

:func:`shipped_module` is the one place a file is imported under its top-level name; the helpers
below are the ones trainers and tests use to log or save a model. The committed baselines'
``code/`` copies are these files (``tests/test_model_registry_code.py`` checks they are identical;
:func:`refresh_code` rewrites them)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from .face_analytics_age_gender import AgeGenderModel
from .face_analytics_pyfunc import (
    EMBEDDING_DIM,
    PairVerifierModel,
    PersonVerifierModel,
    ProjectionModel,
    apply_dense_layers,
    as_matrix,
    l2_normalize,
    load_layers,
    pair_features,
    reweight_fused,
    save_layers,
)

__all__ = [
    "EMBEDDING_DIM", "AgeGenderModel", "PairVerifierModel", "PersonVerifierModel", "ProjectionModel",
    "apply_dense_layers", "as_matrix", "l2_normalize", "load_layers", "pair_features", "reweight_fused",
    "save_layers", "log_pyfunc", "log_age_gender", "save_age_gender", "shipped_module", "code_path",
    "refresh_code", "SHIPPED_MODULES",
]

HERE = Path(__file__).resolve().parent
SHIPPED_MODULES = ("face_analytics_pyfunc", "face_analytics_age_gender")
"""The files models ship, by the top-level name they are shipped and pickled under."""
AGE_GENDER_REQUIREMENTS = ["mlflow", "numpy", "pandas", "tensorflow-cpu", "keras", "opencv-python-headless"]
PYFUNC_REQUIREMENTS = ["mlflow", "numpy", "scikit-learn", "joblib"]


def code_path(module: str) -> Path:
    """This package's file that is shipped as top-level module ``module``."""
    if module not in SHIPPED_MODULES:
        raise ValueError(f"not a shipped module: {module}")
    return HERE / f"{module}.py"


def shipped_module(module: str):
    """This package's file imported as the top-level module ``module`` (what a model is pickled
    under). A model loaded earlier in this process may have imported ITS shipped copy under that
    name (an older version of the file): log with this package's file, never with that copy."""
    path = code_path(module)
    loaded = sys.modules.get(module)
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() == path:
        return loaded
    spec = importlib.util.spec_from_file_location(module, path)
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[module] = loaded
    spec.loader.exec_module(loaded)
    return loaded


class _Context:
    """What ``load_context`` reads: the artifacts, before the model is logged."""

    def __init__(self, artifacts: dict[str, str]) -> None:
        self.artifacts = artifacts


def _probe(model_class: type, artifacts: dict[str, str], example):
    """The model's output on ``example`` (for the signature), from the artifacts about to be logged."""
    probe = model_class()
    context = _Context(artifacts)
    probe.load_context(context)
    return probe.predict(context, example)


def log_pyfunc(python_model, artifacts: dict[str, str], example: np.ndarray, metadata: dict, name: str = "model"):
    """Log a recognition head or verifier (an instance of a class of ``face_analytics_pyfunc``)
    with signature, input example and metadata to the active run; returns MLflow's ``ModelInfo``."""
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    model_class = getattr(shipped_module("face_analytics_pyfunc"), type(python_model).__name__)
    output = _probe(model_class, artifacts, example)
    return mlflow.pyfunc.log_model(
        name=name, python_model=model_class(), artifacts=artifacts,
        code_paths=[str(code_path("face_analytics_pyfunc"))],
        signature=infer_signature(example, output), input_example=example, metadata=metadata,
        pip_requirements=PYFUNC_REQUIREMENTS,
    )


def input_example(embeddings: np.ndarray, crops: np.ndarray, features: np.ndarray | None = None,
                  inputs: tuple[str, ...] | list[str] | None = None) -> dict[str, np.ndarray]:
    """The age-gender example (and so the signature): the inputs the design reads (all given ones
    when ``inputs`` is None), so a caller may always send all three and a model never demands one
    it does not use."""
    example = {"embedding": np.asarray(embeddings, np.float32), "crop": np.asarray(crops, np.uint8)}
    if features is not None:
        example["features"] = np.asarray(features, np.float32)
    return example if inputs is None else {name: example[name] for name in inputs}


def age_gender_files(keras_model, config: dict, folder: Path) -> dict[str, str]:
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


def _age_gender(keras_model, config: dict, example: dict[str, np.ndarray], metadata: dict, write) -> object:
    """Write the age-gender model's files, then hand ``write`` (MLflow's log or save) the rest."""
    from mlflow.models import infer_signature

    model_class = shipped_module("face_analytics_age_gender").AgeGenderModel
    work = Path(tempfile.mkdtemp(prefix="age-gender-model-"))
    try:
        artifacts = age_gender_files(keras_model, config, work)
        return write(python_model=model_class(), artifacts=artifacts,
                     code_paths=[str(code_path("face_analytics_age_gender"))],
                     signature=infer_signature(example, _probe(model_class, artifacts, example)),
                     input_example=example, metadata=metadata, pip_requirements=AGE_GENDER_REQUIREMENTS)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def log_age_gender(keras_model, config: dict, example: dict[str, np.ndarray], metadata: dict, name: str = "model"):
    """Log the age-gender pyfunc (signature, input example, metadata) to the active run; returns ``ModelInfo``."""
    import mlflow.pyfunc

    return _age_gender(keras_model, config, example, metadata,
                       lambda **kwargs: mlflow.pyfunc.log_model(name=name, **kwargs))


def save_age_gender(keras_model, config: dict, example: dict[str, np.ndarray], metadata: dict, path: Path) -> Path:
    """Save the age-gender pyfunc as a plain MLflow model directory (the committed baseline)."""
    import mlflow.pyfunc

    shutil.rmtree(path, ignore_errors=True)
    _age_gender(keras_model, config, example, metadata,
                lambda **kwargs: mlflow.pyfunc.save_model(path=str(path), **kwargs))
    return Path(path)


def shipped_copies(model_dir: Path) -> list[Path]:
    """The shipped-module files in a saved model's ``code/`` folder."""
    return [p for p in sorted((Path(model_dir) / "code").glob("*.py")) if p.stem in SHIPPED_MODULES]


def refresh_code(model_dir: Path) -> list[Path]:
    """Rewrite a saved model's shipped copies from this package's files (what saving it anew
    would write); returns the files rewritten. The pickled model refers to its classes by name,
    so it loads the rewritten file as it loaded the old one."""
    written = []
    for copy in shipped_copies(model_dir):
        source = code_path(copy.stem)
        if copy.read_bytes() != source.read_bytes():
            shutil.copyfile(source, copy)
            written.append(copy)
    return written
