"""Trainer settings, read once from the environment so every training script, registry tool and
test agrees on where MLflow lives and where the data is, without passing options around."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from model_registry.tracking import DEFAULT_MLFLOW_DIR, DEFAULT_TRACKING_URI

ROOT = Path(__file__).resolve().parents[1]
"""The repository root: default folders are taken from here, not from the working directory."""


class TrainerSettings(BaseSettings):
    """Everything the trainer reads from the environment (documented in ``.env.example``)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True,
                                      populate_by_name=True)

    mlflow_tracking_uri: str = Field(
        DEFAULT_TRACKING_URI,
        description="MLflow tracking URI (standard variable); default: a local SQLite store, nothing to start "
        "(model_registry.tracking.DEFAULT_TRACKING_URI).",
    )
    mlflow_artifacts_dir: Path = Field(
        DEFAULT_MLFLOW_DIR / "artifacts",
        validation_alias="TRAINER_ARTIFACTS_DIR",
        description="Artifact folder used with the local SQLite default (a server serves its own artifacts).",
    )
    data_dir: Path = Field(ROOT.parent / "shared" / "data", description="Folder holding lfw/ and utkface/.")
    cache_dir: Path = Field(ROOT / "data" / "cache", validation_alias="TRAINER_CACHE_DIR",
                            description="Embeddings and crops cached between runs.")
    seed: int = Field(42, validation_alias="TRAINER_SEED", description="Seed for splits, sampling and initialisation.")
    experiment_prefix: str = Field("", validation_alias="TRAINER_EXPERIMENT_PREFIX",
                                   description="Prefix of the MLflow experiment names (e.g. for tests).")

    bootstrap_train: bool = Field(True, validation_alias="BOOTSTRAP_TRAIN",
                                  description="bootstrap_registry trains from DATA_DIR (false: baselines only).")

    def resolved_data_dir(self) -> Path:
        path = Path(self.data_dir)
        return (path if path.is_absolute() else ROOT / path).resolve()

    def resolved_cache_dir(self) -> Path:
        path = Path(self.cache_dir)
        return path if path.is_absolute() else ROOT / path

    def is_local_default(self) -> bool:
        """True when the tracking URI is a local SQLite file (artifacts then go to ``mlflow_artifacts_dir``)."""
        return self.mlflow_tracking_uri.startswith("sqlite:///")


def get_settings() -> TrainerSettings:
    return TrainerSettings()
