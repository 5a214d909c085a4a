"""Give an empty registry something to serve: ``python -m scripts.bootstrap_registry``
(``make up`` runs it after the MLflow server is healthy).

* Some model already registered: nothing to do (promotion stays a deliberate act).
* Registry empty and face data found under ``DATA_DIR``: train each model quickly (a little more
  than the smoke run) and promote it; a model that cannot be trained falls back to its baseline.
* Otherwise: register the committed baseline models (``models/baseline/<name>/``, see its
  ``MODEL_CARD.md``) and promote them, so a fresh machine serves age and gender too.

``--baseline`` skips training; ``--export-baseline`` writes the registry's production versions
into ``models/baseline/`` (how the committed baselines were made)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from . import registry as reg

ROOT = Path(__file__).resolve().parents[1]
BASELINE_DIR = ROOT / "models" / "baseline"
BOOTSTRAP_MODELS = ("age-gender", "face-recognition", "face-verifier")


def baseline_names(folder: Path = BASELINE_DIR) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if (p / "model" / "MLmodel").is_file()) if folder.is_dir() else []


def register_baseline(client, name: str, folder: Path = BASELINE_DIR) -> str:
    """Log ``models/baseline/<name>`` as a run (its original metrics and parameters included),
    register it as a new version of ``name`` and return the version."""
    import mlflow

    from training.tracking import ensure_experiment, log_git_commit, register_model_version

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
    return register_model_version(run.info.run_id, "model", name, tags={"baseline": "true"})


def export_baseline(client, names: list[str], folder: Path = BASELINE_DIR) -> list[str]:
    """Copy each model's production version (files, run metrics, parameters) into ``folder``."""
    import mlflow

    written = []
    for name in names:
        version = reg.alias_version(client, name, reg.PRODUCTION)
        if version is None:
            print(f"{name}: no production version, not exported")
            continue
        model_version = reg.get_version(client, name, version)
        target = folder / name
        staging = Path(tempfile.mkdtemp())
        try:
            path = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(staging))
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
    if name == "face-recognition":
        from training import train_face_recognition_tf as rec

        args = rec.parse_args(["--max-people", "60", "--max-images", "6", "--epochs", "5", "--lfw-pairs", "200"])
        return rec.run(args, pipeline, settings)["version"]
    if name == "face-verifier":
        from training import train_verifier as ver

        args = ver.parse_args(["general", "--max-people", "60", "--max-images", "6", "--max-pairs", "1000"])
        return ver.run_general(args, pipeline, settings)["version"]
    if name == "age-gender":
        from training import train_age_gender_tf as age

        return str(age.bootstrap(pipeline=pipeline, settings=settings)["version"])
    raise ValueError(f"no quick trainer for {name}")


def can_train(name: str, data_dir: Path) -> bool:
    if name == "age-gender":
        return (data_dir / "utkface" / "crop_part1").is_dir()
    return (data_dir / "lfw" / "images").is_dir()


def bootstrap(client, use_baseline_only: bool = False) -> dict[str, str]:
    """Fill an empty registry; returns model name -> how it was filled."""
    from training.config import TrainerSettings

    settings = TrainerSettings()
    data_dir = settings.resolved_data_dir()
    done: dict[str, str] = {}
    pipeline = None
    for name in BOOTSTRAP_MODELS:
        version, how = None, ""
        if not use_baseline_only and can_train(name, data_dir):
            try:
                if pipeline is None:
                    from face_pipeline import FacePipeline

                    pipeline = FacePipeline()
                print(f"{name}: training from {data_dir} ...", flush=True)
                version, how = train_quick(name, pipeline, settings), f"trained on {data_dir}"
            except Exception as exc:  # noqa: BLE001 - fall back to the baseline, say why
                print(f"{name}: training failed ({type(exc).__name__}: {exc}); using the baseline", flush=True)
        if version is None and name in baseline_names():
            version, how = register_baseline(client, name), "baseline from models/baseline"
        if version is None:
            print(f"{name}: nothing to register (no data to train on and no baseline)", flush=True)
            continue
        reg.promote(client, name, version)
        done[name] = f"v{version} in production ({how})"
        print(f"{name}: v{version} promoted to production ({how})", flush=True)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bootstrap_registry", description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", action="store_true", help="register the committed baselines, do not train")
    parser.add_argument("--export-baseline", action="store_true",
                        help="write the production versions into models/baseline/ (maintainers)")
    args = parser.parse_args(argv)

    def body() -> int:
        client = reg.connect()
        if args.export_baseline:
            export_baseline(client, list(BOOTSTRAP_MODELS))
            return 0
        existing = [m.name for m in reg.list_models(client)]
        if existing:
            print(f"registry at {reg.tracking_uri()} already has {len(existing)} model(s) "
                  f"({', '.join(existing[:6])}{'...' if len(existing) > 6 else ''}): nothing to bootstrap")
            return 0
        from training.config import TrainerSettings

        done = bootstrap(client, use_baseline_only=args.baseline or not TrainerSettings().bootstrap_train)
        if not done:
            raise reg.RegistryError("nothing could be registered: no face data under DATA_DIR and no baseline models")
        return 0

    return reg.run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
