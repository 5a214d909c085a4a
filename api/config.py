"""API settings, read once from the environment (no prefix) so that every worker, script and test
configures the service the same way; the face pipeline keeps its own ``FACE_*`` settings."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[1]
"""The repository root: relative SQLite paths are taken from here, not from the working directory."""


class ApiSettings(BaseSettings):
    """Everything the API reads from the environment; each field is documented in ``.env.example``."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    database_url: str = Field(
        "sqlite:///data/face_api.db",
        description="SQLAlchemy URL; a relative SQLite path is relative to the repository root.",
    )
    api_keys_enabled: bool = Field(
        True, description="Require an API key (X-API-Key or Authorization: Bearer) on the face endpoints."
    )
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1, description="Largest accepted request body (413 beyond).")
    match_threshold: float | None = Field(
        None, ge=-1.0, le=1.0,
        description="1:1 (/verify) cosine needed for a match; unset uses the served model's or the calibrated one.",
    )
    identify_threshold: float | None = Field(
        None, ge=-1.0, le=1.0,
        description="Fixed cosine a best gallery match must reach to name someone (/analyze, /search); unset: "
        "derived from the gallery's size and IDENTIFY_STRANGER_RATE.",
    )
    identify_stranger_rate: float = Field(
        0.01, gt=0.0, lt=1.0,
        description="Share of never-enrolled people the gallery may name as someone; the identification "
        "threshold tightens as the gallery grows to hold it.",
    )
    keep_face_crops: bool = Field(True, description="Store the aligned crop of every enrolled face.")
    unknown_match_window_hours: float = Field(
        24.0 * 30, gt=0, description="Unknown faces seen within this many hours are matched to give a stable id."
    )
    unknown_max_recent: int = Field(10_000, ge=1, description="At most this many recent unknown faces are compared.")
    default_top_k: int = Field(3, ge=0, le=100, description="Look-alikes listed per face when ?top_k= is not given.")
    log_level: str = Field("INFO", description="Python log level of the API's own loggers.")
    annotated_jpeg_quality: int = Field(
        90, ge=1, le=95, description="JPEG quality of POST /analyze?format=jpeg (the photo with its faces drawn)."
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="text: human-readable lines; json: one JSON object per line (with the request id)."
    )
    me_person: str | None = Field(
        None, description="The enrolled person (or personal verifier) /verify checks when no person is named."
    )
    # Models from the MLflow registry (api/services/registry_models.py).
    mlflow_tracking_uri: str | None = Field(None, description="MLflow tracking/registry URI (standard variable).")
    model_source: Literal["registry", "packaged"] | None = Field(
        None, description="registry: serve models:/<name>@production; packaged: pipeline only; unset: registry "
        "when MLFLOW_TRACKING_URI is set."
    )
    model_cache_dir: Path = Field(Path("data/model-cache"), description="Local copies of the served model versions.")
    model_refresh_seconds: float = Field(
        30.0, ge=0, description="How often the production aliases are checked (0: never)."
    )

    def resolved_database_url(self) -> str:
        """The database URL with a relative SQLite path made absolute and its folder created."""
        return resolve_database_url(self.database_url)


def resolve_database_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return url
    path = Path(parsed.database)
    if not path.is_absolute():
        path = ROOT / path
    path.parent.mkdir(parents=True, exist_ok=True)
    return parsed.set(database=str(path)).render_as_string(hide_password=False)


@lru_cache(maxsize=1)
def get_settings() -> ApiSettings:
    return ApiSettings()
