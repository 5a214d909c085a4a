"""Registry helpers shared by the registry scripts (and the tests): reach the MLflow server,
look models and versions up with one-line errors, and move the ``production`` alias.

Registry stages are deprecated since MLflow 2.9, so "in production" means *the version carrying
the alias* ``production``. Promoting moves the old production version to the alias ``previous``
and appends the new version to the model's ``production_history`` tag (a JSON list), so a
rollback needs no argument."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

PRODUCTION = "production"
PREVIOUS = "previous"
HISTORY_TAG = "production_history"
HISTORY_LIMIT = 100

PRIMARY_METRICS: dict[str, list[tuple[str, bool]]] = {
    # model name (or prefix ending in "-") -> candidate metrics, first one both versions have wins;
    # bool: higher is better.
    "age-gender": [("test_age_mae", False), ("val_age_mae", False), ("test_gender_acc", True)],
    "face-recognition": [("lfw_accuracy_mean", True), ("test_roc_auc", True)],
    "face-verifier": [("test_roc_auc", True), ("test_accuracy", True)],
    "verifier-": [("test_f1", True), ("test_roc_auc", True)],
}
GATE_METRICS: dict[str, tuple[str, bool]] = {
    # model name -> (metric on its fixed evaluation set, higher is better): the one rule the gate
    # (scripts.deploy_model, scripts.bootstrap_registry, model_utils compare) promotes by. The sets
    # themselves are defined in scripts.evaluation.
    "age-gender": ("fixed_age_mae", False),
    "face-recognition": ("fixed_pair_accuracy", True),
    "face-verifier": ("fixed_pair_accuracy", True),
}
HEADLINE_METRICS = ("test_age_mae", "test_gender_acc", "lfw_accuracy_mean", "test_roc_auc", "test_accuracy",
                    "test_f1", "threshold")


class RegistryError(Exception):
    """A problem worth one line to the user (unknown model or version, unreachable server...)."""


def _quiet_client_env() -> None:
    # Fail fast instead of MLflow's minutes of retries when the server is down.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def tracking_uri() -> str:
    from training.config import TrainerSettings

    return TrainerSettings().mlflow_tracking_uri


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Raise :class:`RegistryError` when an HTTP tracking server does not answer ``/health``."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as response:
            response.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RegistryError(f"MLflow server at {uri} is unreachable ({reason})") from None


def connect(uri: str | None = None):
    """Configure MLflow (tracking and registry URI), check the server answers, return a client."""
    _quiet_client_env()
    from mlflow import MlflowClient

    from training.config import TrainerSettings
    from training.tracking import configure_mlflow

    settings = TrainerSettings() if uri is None else TrainerSettings(mlflow_tracking_uri=uri)
    uri = configure_mlflow(settings)
    check_reachable(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def is_not_found(exc: Exception) -> bool:
    code = getattr(exc, "error_code", "")
    return code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE") or "not found" in str(exc).lower()


def get_model(client, name: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(name)
    except MlflowException as exc:
        if is_not_found(exc):
            raise RegistryError(f"unknown model: {name}") from None
        raise


def get_version(client, name: str, version: str | int):
    from mlflow.exceptions import MlflowException

    get_model(client, name)
    if not str(version).isdigit():
        raise RegistryError(f"unknown version of {name}: {version} (versions are numbers)")
    try:
        return client.get_model_version(name, str(version))
    except MlflowException as exc:
        if is_not_found(exc):
            raise RegistryError(f"unknown version of {name}: {version}") from None
        raise


def alias_version(client, name: str, alias: str) -> str | None:
    """The version carrying ``alias`` (None when no version does)."""
    aliases = getattr(get_model(client, name), "aliases", {}) or {}
    value = aliases.get(alias)
    return str(value) if value is not None else None


def list_models(client) -> list:
    return sorted(client.search_registered_models(max_results=1000), key=lambda m: m.name)


def list_versions(client, name: str) -> list:
    get_model(client, name)
    versions = client.search_model_versions(f"name='{name}'", max_results=10000)
    return sorted(versions, key=lambda v: int(v.version))


def history(client, name: str) -> list[str]:
    tags = getattr(get_model(client, name), "tags", {}) or {}
    try:
        value = json.loads(tags.get(HISTORY_TAG, "[]"))
        return [str(v) for v in value] if isinstance(value, list) else []
    except json.JSONDecodeError:
        return []


@dataclass
class Promotion:
    name: str
    version: str
    previous: str | None
    changed: bool


def promote(client, name: str, version: str | int) -> Promotion:
    """Point ``production`` at ``version``; the old production version becomes ``previous``."""
    target = str(get_version(client, name, version).version)
    current = alias_version(client, name, PRODUCTION)
    if current == target:
        return Promotion(name, target, alias_version(client, name, PREVIOUS), changed=False)
    if current is not None:
        client.set_registered_model_alias(name, PREVIOUS, current)
    client.set_registered_model_alias(name, PRODUCTION, target)
    entries = (history(client, name) + [target])[-HISTORY_LIMIT:]
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(entries))
    client.set_model_version_tag(name, target, "promoted_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    return Promotion(name, target, current, changed=True)


def rollback(client, name: str, version: str | int | None = None) -> Promotion:
    """Back to ``previous`` (or to ``version``): the version rolled back from becomes ``previous``."""
    if version is None:
        version = alias_version(client, name, PREVIOUS)
        if version is None:
            raise RegistryError(f"{name} has no previous production version to roll back to")
    return promote(client, name, version)


def clean(client, name: str, keep: int, dry_run: bool = False) -> list[str]:
    """Delete all but the newest ``keep`` versions; production, previous and any aliased version stay."""
    if keep < 0:
        raise RegistryError("--keep must be 0 or more")
    model = get_model(client, name)
    protected = {str(v) for v in (getattr(model, "aliases", {}) or {}).values()}
    versions = sorted(list_versions(client, name), key=lambda v: int(v.version), reverse=True)
    deletable = [v for v in versions[keep:] if str(v.version) not in protected]
    deleted = []
    for v in deletable:
        if not dry_run:
            client.delete_model_version(name, str(v.version))
        deleted.append(str(v.version))
    return deleted


def version_run(client, model_version):
    """The run that made a version (None when it has no run or the run is gone)."""
    from mlflow.exceptions import MlflowException

    if not model_version.run_id:
        return None
    try:
        return client.get_run(model_version.run_id)
    except MlflowException:
        return None


def version_metrics(client, model_version) -> dict[str, float]:
    run = version_run(client, model_version)
    return dict(run.data.metrics) if run else {}


def version_params(client, model_version) -> dict[str, str]:
    run = version_run(client, model_version)
    return dict(run.data.params) if run else {}


def primary_metric_candidates(name: str) -> list[tuple[str, bool]]:
    if name in PRIMARY_METRICS:
        return PRIMARY_METRICS[name]
    for key, candidates in PRIMARY_METRICS.items():
        if key.endswith("-") and name.startswith(key):
            return candidates
    return [("test_accuracy", True)]


def primary_metric(name: str, metrics: dict[str, float]) -> tuple[str, bool, float] | None:
    """(metric, higher is better, value) of the first candidate present in ``metrics``."""
    for metric, higher in primary_metric_candidates(name):
        if metric in metrics:
            return metric, higher, float(metrics[metric])
    return None


def is_better(value: float, than: float, higher_is_better: bool) -> bool:
    return value > than if higher_is_better else value < than


def run_cli(body, argv_description: str = "") -> int:
    """Run a CLI body; known problems become one line on stderr and exit status 2 (no traceback)."""
    import sys

    try:
        return int(body() or 0)
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
    except Exception as exc:  # MLflow/HTTP failures: keep it to one line
        message = " ".join(str(exc).split())
        if any(word in message for word in ("Max retries", "Connection refused", "Failed to establish",
                                            "API request to", "timed out")):
            message = f"MLflow server at {tracking_uri()} is unreachable ({message[:200]})"
        print(f"error: {type(exc).__name__}: {message[:500]}" if "unreachable" not in message
              else f"error: {message}", file=sys.stderr)
    return 2


def format_table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)
