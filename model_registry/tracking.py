"""Where the registry lives and the client that talks to it: the one place that reads
``MLFLOW_TRACKING_URI`` and builds explicit ``MlflowClient(tracking_uri=..., registry_uri=...)``
clients, so no caller depends on (or changes) MLflow's process-wide registry URI."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from .errors import RegistryUnreachable

ROOT = Path(__file__).resolve().parents[1]
"""The repository root: the local default store lives under it, whatever the working directory."""
DEFAULT_MLFLOW_DIR = ROOT / "data" / "mlflow"
DEFAULT_TRACKING_URI = f"sqlite:///{DEFAULT_MLFLOW_DIR / 'mlflow.db'}"
"""A local SQLite store (nothing to start) when ``MLFLOW_TRACKING_URI`` is not set."""
TRACKING_URI_VARIABLE = "MLFLOW_TRACKING_URI"


def tracking_uri(explicit: str | None = None) -> str:
    """``explicit``, else ``MLFLOW_TRACKING_URI`` (the environment, then ``.env``), else the
    local default store."""
    if explicit:
        return explicit
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class _Tracking(BaseSettings):
        model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)
        mlflow_tracking_uri: str = DEFAULT_TRACKING_URI

    return _Tracking().mlflow_tracking_uri


def is_http(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def quiet_client_env(retries: int = 0, timeout: int = 15) -> None:
    """Fail fast instead of MLflow's minutes of retries when the server is down (unless the
    environment says otherwise)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(retries))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(timeout))
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Raise :class:`RegistryUnreachable` when an HTTP tracking server does not answer ``/health``
    (a local store is always reachable)."""
    if not is_http(uri):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as response:
            response.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RegistryUnreachable(uri, getattr(exc, "reason", exc)) from None


def client(uri: str | None = None):
    """An ``MlflowClient`` whose tracking and registry are both ``uri`` (default: :func:`tracking_uri`)."""
    from mlflow import MlflowClient

    uri = tracking_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def connect(uri: str | None = None):
    """A client for the registry at ``uri`` (default: :func:`tracking_uri`), after checking that
    the server answers; a local SQLite store gets its folder."""
    quiet_client_env()
    uri = tracking_uri(uri)
    if uri.startswith("sqlite:///"):  # SQLite makes the file, not its folder
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    check_reachable(uri)
    return client(uri)
