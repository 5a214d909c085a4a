"""Give an empty registry something to serve: ``python -m model_registry bootstrap`` (also
``python -m scripts.bootstrap_registry``; ``make up`` runs it after the MLflow server is healthy).

* Registry empty: register the committed baseline of each model (``models/baseline/<name>/``, see
  its ``MODEL_CARD.md``) and, when face data is found under ``DATA_DIR``, train a quick model too
  (a little more than the smoke run); then the gate (``model_registry.gate``, the same rule as
  ``deploy``) evaluates both on the model's fixed evaluation set and promotes the
  better one (the baseline when they tie within the noise). Without data the baseline is promoted
  unjudged, so a fresh machine serves age and gender too.
* Some model already registered: nothing to do (promotion stays a deliberate act), unless
  ``--baseline``: then each baseline is registered as a new version and promoted only if it beats
  production on the fixed set.

``--baseline`` skips training; ``--export-baseline`` writes the registry's production versions
into ``models/baseline/`` (how the committed baselines were made)."""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from model_registry import registry as reg
from model_registry.errors import RegistryError
from model_registry.names import AGE_GENDER, MODEL_NAMES, PRODUCTION, RECOGNITION, VERIFIER
from model_registry.tracking import ROOT, connect, tracking_uri

BASELINE_DIR = ROOT / "models" / "baseline"
BOOTSTRAP_MODELS = MODEL_NAMES

HELP = "give an empty registry something to serve (baselines, quick models, the gate)"


def baseline_names(folder: Path = BASELINE_DIR) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if (p / "model" / "MLmodel").is_file()) if folder.is_dir() else []


def register_baseline(client, name: str, folder: Path = BASELINE_DIR) -> str:
    """Log ``models/baseline/<name>`` as a run (its original metrics and parameters included),
    register it as a new version of ``name`` and return the version."""
    import mlflow

    from training.tracking import ensure_experiment, log_git_commit

    source = folder / name
    info = json.loads((source / "run.json").read_text()) if (source / "run.json").is_file() else {}
    ensure_experiment("baseline-models")
    with mlflow.start_run(run_name=f"baseline {name}") as run:
        mlflow.set_tags({"model_name": name, "baseline": "true", "source": f"models/baseline/{name}",
                         **{f"original_{k}": v for k, v in info.get("tags", {}).items() if k in ("git_commit",)}})
        log_git_commit()
        params = {k: str(v)[:500] for k, v in info.get("params", {}).items()}
        if params:
            mlflow.log_params(params)
        metrics = {k: float(v) for k, v in info.get("metrics", {}).items()}
        if metrics:
            mlflow.log_metrics(metrics)
        mlflow.log_artifacts(str(source / "model"), artifact_path="model")
        if (source / "MODEL_CARD.md").is_file():
            mlflow.log_artifact(str(source / "MODEL_CARD.md"))
    return reg.register_version(run.info.run_id, "model", name, tags={"baseline": "true"})


def export_baseline(client, names: list[str], folder: Path = BASELINE_DIR) -> list[str]:
    """Copy each model's production version (files, run metrics, parameters) into ``folder``."""
    written = []
    for name in names:
        version = reg.alias_version(client, name, PRODUCTION)
        if version is None:
            print(f"{name}: no production version, not exported")
            continue
        model_version = reg.get_version(client, name, version)
        target = folder / name
        staging = Path(tempfile.mkdtemp())
        try:
            path = reg.download_version(client, name, version, staging)
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            skip = shutil.ignore_patterns("__pycache__", "registered_model_meta")
            shutil.copytree(path, target / "model", ignore=skip)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        run = reg.version_run(client, model_version)
        info = {"name": name, "version": version, "run_id": model_version.run_id,
                "metrics": dict(run.data.metrics) if run else {}, "params": dict(run.data.params) if run else {},
                "tags": {k: v for k, v in (run.data.tags if run else {}).items() if not k.startswith("mlflow.")}}
        (target / "run.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        written.append(name)
        print(f"{name}: exported v{version} to {target}")
    return written


def train_quick(name: str, pipeline, settings) -> str:
    """Train ``name`` a little more than the smoke run does; returns the registered version."""
    if name == RECOGNITION:
        from training import train_face_recognition_tf as rec

        config = rec.RecognitionConfig(max_people=60, max_images=6, epochs=5, lfw_pairs=200)
        return rec.run(config, pipeline, settings)["version"]
    if name == VERIFIER:
        from training import train_verifier as ver

        config = ver.GeneralConfig(max_people=60, max_images=6, max_pairs=1000)
        return ver.run_general(config, pipeline, settings)["version"]
    if name == AGE_GENDER:
        from training import train_age_gender_tf as age

        return str(age.bootstrap(pipeline=pipeline, settings=settings)["version"])
    raise ValueError(f"no quick trainer for {name}")


def can_train(name: str, data_dir: Path) -> bool:
    if name == AGE_GENDER:
        return (data_dir / "utkface" / "crop_part1").is_dir()
    return (data_dir / "lfw" / "images").is_dir()


def gate_and_promote(client, name: str, candidates: list[str], evaluator) -> str:
    """Promote the gate's choice among ``candidates`` (and production); returns what happened.

    Without the fixed evaluation set here (no DATA_DIR) and nothing in production, the single
    candidate (the baseline: nothing can be trained without data either) is promoted unjudged,
    so a fresh machine still serves; with a production version, nothing moves unjudged."""
    from model_registry import fixed_sets as fs
    from model_registry import gate

    current = reg.alias_version(client, name, PRODUCTION)
    try:
        evaluator.check_data(name)
    except fs.EvaluationUnavailable as exc:
        if current is None and len(candidates) == 1:
            reg.promote(client, name, candidates[0])
            return f"v{candidates[0]} promoted without the gate ({exc}; nothing was in production)"
        return f"not promoted: {exc}"
    decision = gate.judge(client, name, candidates, evaluator)
    for line in decision.lines:
        print(f"{name}: {line}", flush=True)
    if decision.version is None:
        return f"unchanged: {decision.reason}"
    reg.promote(client, name, decision.version)
    return f"v{decision.version} promoted: {decision.reason}"


def bootstrap(client, use_baseline_only: bool = False) -> dict[str, str]:
    """Register the baseline and (data permitting) a quick model of each, then promote through the
    gate; returns model name -> what happened."""
    from training.config import TrainerSettings
    from training.fixed_sets import Evaluator

    settings = TrainerSettings()
    data_dir = settings.resolved_data_dir()
    evaluator = Evaluator(settings=settings)
    done: dict[str, str] = {}
    for name in BOOTSTRAP_MODELS:
        candidates = []
        if name in baseline_names():
            candidates.append(register_baseline(client, name))
            print(f"{name}: baseline from models/baseline registered as v{candidates[-1]}", flush=True)
        if not use_baseline_only and can_train(name, data_dir):
            try:
                print(f"{name}: training from {data_dir} ...", flush=True)
                candidates.append(train_quick(name, evaluator.pipeline, settings))
                print(f"{name}: trained on {data_dir}, registered as v{candidates[-1]}", flush=True)
            except Exception as exc:  # noqa: BLE001 - the baseline still competes, say why
                print(f"{name}: training failed ({type(exc).__name__}: {exc})", flush=True)
        if not candidates:
            print(f"{name}: nothing to register (no data to train on and no baseline)", flush=True)
            continue
        done[name] = gate_and_promote(client, name, candidates, evaluator)
        print(f"{name}: {done[name]}", flush=True)
    return done


def register_baselines_again(client) -> dict[str, str]:
    """``--baseline`` on a registry that has models: each baseline becomes a new version, which
    reaches production only by beating the production version on the fixed set."""
    from training.fixed_sets import Evaluator

    evaluator = Evaluator()
    done = {}
    for name in baseline_names():
        version = register_baseline(client, name)
        print(f"{name}: baseline from models/baseline registered as v{version}", flush=True)
        done[name] = gate_and_promote(client, name, [version], evaluator)
        print(f"{name}: {done[name]}", flush=True)
    return done


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", action="store_true", help="register the committed baselines, do not train "
                        "(on a registry with models: as new versions, through the gate)")
    parser.add_argument("--export-baseline", action="store_true",
                        help="write the production versions into models/baseline/ (maintainers)")


def run(args: argparse.Namespace) -> int:
    from training.config import TrainerSettings
    from training.tracking import configure_mlflow

    client = connect()
    configure_mlflow()  # baselines are logged as runs through MLflow's fluent API
    if args.export_baseline:
        export_baseline(client, list(BOOTSTRAP_MODELS))
        return 0
    existing = [m.name for m in reg.list_models(client)]
    if existing and args.baseline:
        register_baselines_again(client)
        return 0
    if existing:
        print(f"registry at {tracking_uri()} already has {len(existing)} model(s) "
              f"({', '.join(existing[:6])}{'...' if len(existing) > 6 else ''}): nothing to bootstrap "
              "(--baseline registers the baselines as new versions, promoted only through the gate)")
        return 0
    done = bootstrap(client, use_baseline_only=args.baseline or not TrainerSettings().bootstrap_train)
    if not done:
        raise RegistryError("nothing could be registered: no face data under DATA_DIR and no baseline models")
    return 0

