"""Registry chores on an explicit client: look models and versions up with one-line errors, move
the ``production`` alias (promote, roll back), delete old versions (clean), read what a version's
run measured.

Registry stages are deprecated since MLflow 2.9, so "in production" means *the version carrying
the alias* ``production``. Promoting moves the old production version to the alias ``previous``
and appends the new version to the model's ``production_history`` tag (a JSON list), so a
rollback needs no argument."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import RegistryError
from .names import HISTORY_LIMIT, HISTORY_TAG, PREVIOUS, PRODUCTION


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


def download_version(client, name: str, version: str | int, dst_path: str | Path) -> str:
    """The files of ``name`` v``version`` in ``dst_path``, asked of ``client``'s registry (not of
    MLflow's process-wide one); returns the model folder."""
    import mlflow.artifacts

    uri = client.tracking_uri
    return mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(dst_path),
                                               tracking_uri=uri, registry_uri=client._registry_uri or uri)


def load_version(client, name: str, version: str | int):
    """``name`` v``version`` as a pyfunc model, from ``client``'s registry (downloaded to a
    temporary folder that stays, as MLflow's own ``load_model`` leaves it)."""
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(download_version(client, name, version, tempfile.mkdtemp(prefix="model-")))


def latest_run(client, name: str, run_id: str | None = None):
    """The run to register as a version of ``name``: ``run_id``, else the newest successful run
    tagged ``model_name=NAME`` (every trainer sets it)."""
    from mlflow.exceptions import MlflowException

    if run_id:
        try:
            run = client.get_run(run_id)
        except MlflowException:
            raise RegistryError(f"unknown run: {run_id}") from None
        if run.info.status != "FINISHED":
            raise RegistryError(f"run {run_id} did not finish successfully ({run.info.status})")
        return run
    experiments = [e.experiment_id for e in client.search_experiments(max_results=1000)]
    if experiments:
        query = f"tags.model_name = '{name}' and attributes.status = 'FINISHED'"
        runs = client.search_runs(experiments, filter_string=query, order_by=["attributes.start_time DESC"],
                                  max_results=1)
        if runs:
            return runs[0]
    raise RegistryError(f"no successful training run of {name} found (runs are tagged model_name={name})")


def run_model_uri(client, run) -> str:
    """The URI of the model the run logged (MLflow 3 logged model, else ``runs:/<id>/model``)."""
    outputs = getattr(run, "outputs", None)
    for output in getattr(outputs, "model_outputs", None) or []:
        return f"models:/{output.model_id}"
    try:
        models = client.search_logged_models(experiment_ids=[run.info.experiment_id],
                                             filter_string=f"source_run_id = '{run.info.run_id}'", max_results=1)
        if models:
            return f"models:/{models[0].model_id}"
    except Exception:  # noqa: BLE001 - older servers: fall back to the run's artifact path
        pass
    return f"runs:/{run.info.run_id}/model"


def model_uri_for(run_id: str, artifact_path_or_model_uri: str) -> str:
    if "://" in artifact_path_or_model_uri or artifact_path_or_model_uri.startswith("models:/"):
        return artifact_path_or_model_uri
    return f"runs:/{run_id}/{artifact_path_or_model_uri}"


def register_version(run_id: str, artifact_path_or_model_uri: str, name: str, tags: dict | None = None) -> str:
    """Register the run's model as a new version of ``name`` and return the version (no alias
    set). MLflow's ``register_model`` resolves logged-model and run URIs; it registers in the
    tracking store (its registry URI defaults to the tracking URI, which is never changed here)."""
    import mlflow

    uri = model_uri_for(run_id, artifact_path_or_model_uri)
    version = mlflow.register_model(uri, name, tags={"run_id": run_id, **(tags or {})})
    return str(version.version)
