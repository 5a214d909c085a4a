"""MLflow plumbing shared by every trainer: where runs go, what each run records about its data and
code, and how a logged model becomes a registered version (never promoted here: promotion is a
separate, deliberate step: ``python -m model_registry promote|deploy``)."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import warnings
from collections.abc import Sequence
from pathlib import Path

from .config import ROOT, TrainerSettings

log = logging.getLogger(__name__)

_configured: TrainerSettings | None = None


def configure_mlflow(settings: TrainerSettings | None = None) -> str:
    """Point MLflow's fluent API (runs, ``register_model``) at the configured tracking URI and
    return it. The registry URI is left alone: it defaults to the tracking URI, and registry
    chores use explicit clients (``model_registry.tracking.client``).

    With the local SQLite default, the folder is created and experiments made through
    :func:`ensure_experiment` keep their artifacts under ``data/mlflow/artifacts`` (MLflow would
    otherwise put them in ``./mlruns`` of whatever the working directory happens to be)."""
    import mlflow

    global _configured
    settings = settings or TrainerSettings()
    uri = settings.mlflow_tracking_uri
    if settings.is_local_default():
        db_path = Path(uri.removeprefix("sqlite:///"))
        db_path.parent.mkdir(parents=True, exist_ok=True)
        Path(settings.mlflow_artifacts_dir).mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)  # runs are logged through MLflow's fluent API, which reads this
    _configured = settings
    return uri


def ensure_experiment(name: str, settings: TrainerSettings | None = None) -> str:
    """Select (creating if needed) the experiment ``name``; returns its id.

    For a local store the artifact location is the local artifacts folder; for a server the
    server's own default (``--serve-artifacts`` proxies them) is kept."""
    import mlflow

    settings = settings or _configured or TrainerSettings()
    if _configured is None:
        configure_mlflow(settings)
    full_name = f"{settings.experiment_prefix}{name}"
    experiment = mlflow.get_experiment_by_name(full_name)
    if experiment is None:
        location = None
        if settings.is_local_default():
            location = (Path(settings.mlflow_artifacts_dir).resolve() / full_name).as_uri()
        experiment_id = mlflow.create_experiment(full_name, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def dataset_info(root: Path, files: Sequence[Path | str]) -> dict:
    """What a run trained on: the folder, how many images, a hash of the sorted relative file list
    (two runs with the same hash saw the same files) and that list itself (``files``, for the
    MLflow dataset; not logged as a parameter)."""
    root = Path(root)
    relative = []
    for item in files:
        path = Path(item)
        try:
            relative.append(path.relative_to(root).as_posix() if path.is_absolute() else path.as_posix())
        except ValueError:
            relative.append(path.as_posix())
    relative.sort()
    digest = hashlib.sha256("\n".join(relative).encode()).hexdigest()
    return {"path": str(root), "n_images": len(relative), "sha256": digest, "files": relative}


DATASET_DIGEST_CHARS = 32
"""MLflow keeps a dataset digest of at most 36 characters; the full sha256 goes in its tags."""


def dataset_name(root: Path | str) -> str:
    """``.../lfw/images`` -> ``lfw/images``: enough of the path to tell the data sets apart."""
    return "/".join(Path(root).parts[-2:]) or str(root)


def log_dataset_info(info: dict, prefix: str = "data") -> None:
    """Log a :func:`dataset_info` dict as run parameters ``<prefix>_path`` etc., and as an MLflow
    dataset input (``mlflow.log_input``: name, source folder, digest, one row per file, context
    ``training`` or the prefix), so the run page's Datasets panel and ``run.inputs`` show what the
    run saw and runs on the same data can be found by the digest."""
    import mlflow
    import pandas as pd

    mlflow.log_params({f"{prefix}_{key}": value for key, value in info.items() if key != "files"})
    files = list(info.get("files", []))
    frame = pd.DataFrame({"file": files, "folder": [f.rpartition("/")[0] for f in files]}, columns=["file", "folder"])
    with warnings.catch_warnings():
        # MLflow registers its local-folder source under two schemes and warns that it picked it.
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted in multiple ways")
        dataset = mlflow.data.from_pandas(frame, source=str(info["path"]), name=dataset_name(info["path"]),
                                          digest=info["sha256"][:DATASET_DIGEST_CHARS])  # fmt: skip
    mlflow.log_input(
        dataset,
        context="training" if prefix == "data" else prefix,
        tags={"n_images": str(info["n_images"]), "sha256": info["sha256"], "param_prefix": prefix},
    )


def git_commit() -> str | None:
    """The repository's current commit (with ``-dirty`` when there are local changes), or None."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if dirty else commit or None


def log_git_commit() -> str | None:
    """Tag the active run with ``git_commit`` (``unknown`` outside a git checkout)."""
    import mlflow

    commit = git_commit()
    mlflow.set_tag("git_commit", commit or "unknown")
    return commit


def register_model_version(run_id: str, artifact_path_or_model_uri: str, name: str,
                           tags: dict | None = None) -> str:
    """Register the run's model as a new version of ``name`` and return the version (no alias set)."""
    from model_registry.registry import register_version

    return register_version(run_id, artifact_path_or_model_uri, name, tags)
