"""The code a registered model ships is this package's file, never a hand-kept copy: the committed
baselines' ``code/`` files are byte-identical to ``model_registry``'s shipped modules, a freshly
logged model ships the same file and is pickled under its top-level name, and the shipped files
import nothing of this project (so the API, or any MLflow, loads them without it)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pytest

from model_registry.pyfunc import SHIPPED_MODULES, code_path, refresh_code, shipped_copies

ROOT = Path(__file__).resolve().parents[1]
BASELINES = sorted(p.parent for p in (ROOT / "models" / "baseline").glob("*/model/MLmodel"))
PROJECT_PACKAGES = {"face_pipeline", "model_registry", "training", "api", "scripts", "benchmarks", "tests"}


def test_every_baseline_ships_the_package_file_byte_for_byte():
    assert {p.parent.name for p in BASELINES} >= {"age-gender", "face-recognition", "face-verifier"}
    for model_dir in BASELINES:
        copies = shipped_copies(model_dir)
        assert copies, f"{model_dir}: no shipped module in code/"
        for copy in copies:
            assert copy.read_bytes() == code_path(copy.stem).read_bytes(), (
                f"{copy} differs from {code_path(copy.stem)}: run model_registry.pyfunc.refresh_code")


def test_refresh_code_rewrites_a_stale_copy(tmp_path):
    import shutil

    model_dir = tmp_path / "model"
    shutil.copytree(BASELINES[0], model_dir)
    copy = shipped_copies(model_dir)[0]
    copy.write_text(copy.read_text() + "\n# edited by hand\n")
    assert refresh_code(model_dir) == [copy]
    assert copy.read_bytes() == code_path(copy.stem).read_bytes()
    assert refresh_code(model_dir) == []


@pytest.mark.parametrize("module", SHIPPED_MODULES)
def test_shipped_files_import_nothing_of_the_project(module):
    tree = ast.parse(code_path(module).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{module}: a relative import cannot work as a top-level module"
            imported.add((node.module or "").split(".")[0])
    assert not imported & PROJECT_PACKAGES, f"{module} imports {sorted(imported & PROJECT_PACKAGES)}"


def test_a_logged_model_ships_the_package_file_and_loads_by_its_top_level_name(tmp_path):
    import mlflow

    from model_registry.pyfunc import ProjectionModel, log_pyfunc

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        experiment = mlflow.create_experiment("code", artifact_location=(tmp_path / "a").as_uri())
        with mlflow.start_run(experiment_id=experiment):
            info = log_pyfunc(ProjectionModel(), {}, np.eye(2, 8, dtype=np.float32), {"threshold": 0.3})
        local = Path(mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path / "dl")))
    finally:
        mlflow.set_tracking_uri(None)
    shipped = local / "code" / "face_analytics_pyfunc.py"
    assert shipped.read_bytes() == code_path("face_analytics_pyfunc").read_bytes()
    pickled = (local / "python_model.pkl").read_bytes()
    assert b"face_analytics_pyfunc" in pickled and b"model_registry" not in pickled
    sys.modules.pop("face_analytics_pyfunc", None)  # load it as a fresh process would: from code/
    model = mlflow.pyfunc.load_model(str(local))
    assert Path(sys.modules["face_analytics_pyfunc"].__file__).resolve() == shipped.resolve()
    out = model.predict(np.full((3, 8), 2.0, np.float32))
    assert out.shape == (3, 8) and np.allclose(np.linalg.norm(out, axis=1), 1.0)
