"""The registry examples of docs/training.md run as written, and the promotion gate judges real models on real
photos.

* The fenced block after ``<!-- registry-examples -->`` in docs/training.md (``python -m model_registry``
  commands) is extracted and every line run, in order, against a real ``mlflow server`` that the
  seed-named ``scripts.bootstrap_registry`` has filled
  (baselines only: a quick training run is too slow for a test), each one exiting 0.
* The gate on the fixed LFW pairs: an identity projection at the calibrated threshold beats the
  same projection at a threshold that rejects almost every match; a copy of a version ties it
  ("no clear winner", nothing moves); a version trained on another embedder is never chosen."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml

from tests.registry_helpers import mlflow_server, run_cli
from training.config import TrainerSettings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- registry-examples -->"


def readme_examples() -> list[list[str]]:
    """The marked block's command lines as argv lists (comments dropped)."""
    text = (ROOT / "docs" / "training.md").read_text()
    assert MARKER in text, "docs/training.md lost its registry-examples marker"
    match = re.search(r"```bash\n(.*?)```", text[text.index(MARKER):], re.S)
    assert match, "no ```bash block after the marker"
    commands = [shlex.split(line, comments=True) for line in match.group(1).splitlines()]
    return [argv for argv in commands if argv]


def baseline_embedder_env() -> dict[str, str]:
    """Run the CLIs with the embedder the committed baselines were made for (the stack they ship for)."""
    meta = yaml.safe_load((ROOT / "models" / "baseline" / "face-recognition" / "model" / "MLmodel").read_text())
    embedder = str(meta["metadata"]["embedder"])
    kind = "fused" if embedder.startswith("fused[") else embedder.split("-")[0]
    return {"FACE_EMBEDDER": kind}


def test_readme_block_is_only_registry_cli_lines():
    commands = readme_examples()
    assert len(commands) >= 8
    for argv in commands:
        assert argv[:3] == [".venv/bin/python", "-m", "model_registry"] and len(argv) > 3, argv


@pytest.fixture(scope="module")
def bootstrapped(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readme_registry")
    with mlflow_server(f"sqlite:///{folder / 'mlflow.db'}", folder / "artifacts", folder / "server.log") as url:
        env = {"BOOTSTRAP_TRAIN": "false", **baseline_embedder_env()}
        result = run_cli("scripts.bootstrap_registry", uri=url, extra_env=env, timeout=900)
        assert result.returncode == 0, result.stdout + result.stderr
        yield {"url": url, "env": env, "bootstrap": result.stdout}


def test_readme_registry_examples_run_as_written(bootstrapped):
    url, env = bootstrapped["url"], bootstrapped["env"]
    assert "age-gender: v1 promoted" in bootstrapped["bootstrap"], bootstrapped["bootstrap"]
    outputs = {}
    for argv in readme_examples():
        result = run_cli(argv[2], *argv[3:], uri=url, extra_env=env, timeout=900)
        assert result.returncode == 0, (argv, result.stdout, result.stderr)
        outputs[" ".join(argv[2:])] = result.stdout
    again = outputs["model_registry bootstrap --baseline"]
    assert "registered as v2" in again and "no clear winner" in again, again  # a copy never wins
    dry = outputs["model_registry deploy --dry-run"]
    assert "fixed evaluation set" in dry and "±" in dry and "age-gender: unchanged" in dry, dry
    compare = outputs["model_registry compare face-verifier 1 2"]
    assert "fixed evaluation set" in compare and "no clear winner" in compare, compare
    client = mlflow.MlflowClient(url, url)
    aliases = client.get_registered_model("face-recognition").aliases
    assert aliases["production"] == "1" and aliases["previous"] == "2", aliases
    assert client.get_registered_model("age-gender").aliases["production"] == "1"


@pytest.fixture(scope="module")
def projections(tmp_path_factory, pipeline):
    """A local store with face-recognition v1 (calibrated threshold), v2 (threshold 0.95: rejects
    nearly every match), v3 (a copy of v1) and v4 (claims another embedder)."""
    from model_registry.pyfunc import ProjectionModel, log_pyfunc
    from training.tracking import configure_mlflow, ensure_experiment, register_model_version

    folder = tmp_path_factory.mktemp("gate")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    settings = TrainerSettings(mlflow_tracking_uri=uri, mlflow_artifacts_dir=folder / "artifacts")
    configure_mlflow(settings)
    ensure_experiment("gate", settings)
    example = np.eye(3, pipeline.embedder.dim, dtype=np.float32)
    embedder = pipeline.embedder.full_version
    for threshold, used in ((pipeline.threshold, embedder), (0.95, embedder), (pipeline.threshold, embedder),
                            (pipeline.threshold, "facenet-casia:some-other-version")):
        with mlflow.start_run() as run:
            info = log_pyfunc(ProjectionModel(), {}, example, {"threshold": float(threshold), "embedder": used})
        register_model_version(run.info.run_id, info.model_uri, "face-recognition")
    return {"uri": uri, "settings": settings}


def test_gate_promotes_only_beyond_the_noise(projections, pipeline):
    from model_registry import fixed_sets as ev
    from model_registry import gate
    from model_registry import registry as reg
    from model_registry.tracking import connect
    from training.fixed_sets import Evaluator

    client = connect(projections["uri"])
    evaluator = Evaluator(pipeline, projections["settings"])
    good, bad, copy, foreign = (evaluator.evaluate(client, "face-recognition", v) for v in "1234")
    assert good.ok and bad.ok and copy.ok and not foreign.ok and "trained on embedder" in foreign.problem
    assert good.n >= 390 and good.value > 0.9 and bad.value < 0.75, (good.describe(), bad.describe())
    assert 0 < good.se < 0.03 and "±" in good.describe()
    assert ev.compare(good, bad).winner is good and ev.compare(bad, good).winner is good
    tie = ev.compare(good, copy)
    assert tie.winner is None and "no clear winner" in tie.text

    first = gate.judge(client, "face-recognition", ["2", "1", "4"], evaluator)  # empty registry
    assert first.version == "1" and any("fixed evaluation set" in line for line in first.lines), first
    reg.promote(client, "face-recognition", "2")
    better = gate.decide(client, "face-recognition", evaluator)
    assert better.version == "1" and "beats production" in better.reason, better
    reg.promote(client, "face-recognition", "3")
    same = gate.decide(client, "face-recognition", evaluator)
    assert same.version is None and "no clear winner" in same.reason, same
    reg.promote(client, "face-recognition", "4")  # production cannot be evaluated: any evaluable one replaces it
    replaced = gate.decide(client, "face-recognition", evaluator)
    assert replaced.version == "1" and "cannot be evaluated" in replaced.reason, replaced
