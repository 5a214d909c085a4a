"""Serve whatever the MLflow registry has in production: ``models:/<name>@production`` for
``age-gender``, ``face-recognition``, ``face-verifier`` and every ``verifier-<person>``.

* Each version is downloaded once into ``MODEL_CACHE_DIR/<name>/<version>`` and the last known
  production versions are written to ``MODEL_CACHE_DIR/production.json``; when the registry is
  unreachable at start-up the cached versions are served and ``/ready`` says so.
* A background thread checks the aliases every ``MODEL_REFRESH_SECONDS``; a newly promoted (or
  rolled back) version is loaded beside the old one and swapped in with one assignment, so a
  request in flight finishes on the model it started with and none is dropped.
* Models are checked against the pipeline's embedder: a model trained on another embedder's
  vectors is refused (and reported), the previous one stays in service.

No import of the trainer's code: the pyfunc models carry their own (``code_paths``)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model_registry import tracking
from model_registry.errors import RegistryUnreachable as _Unreachable
from model_registry.inputs import select_inputs
from model_registry.names import (
    AGE_GENDER,
    PERSON_PREFIX,
    PRODUCTION,
    RECOGNITION,
    VERIFIER,
    is_served_name,
    person_model_name,
)

from .served_models import AgeGender, ServedModels, Verdict

log = logging.getLogger(__name__)

STATE_FILE = "production.json"


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    model: object  # mlflow.pyfunc.PyFuncModel
    metadata: dict
    loaded_at: float = field(default_factory=time.time)

    @property
    def label(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def threshold(self) -> float | None:
        value = self.metadata.get("threshold")
        return None if value is None else float(value)


class RegistryUnreachable(Exception):
    pass


class RegistryModels(ServedModels):
    """Production models from the MLflow registry, refreshed in the background (thread-safe)."""

    def __init__(self, tracking_uri: str, cache_dir: Path, refresh_seconds: float = 30.0,
                 embedder_version: str | None = None, attribute_embedder_version: str | None = None,
                 on_recognition_change: Callable[[], None] | None = None,
                 start_thread: bool = True, age_gender_runtime: str = "openvino") -> None:
        tracking.quiet_client_env(retries=1, timeout=20)
        self.tracking_uri = tracking_uri
        self.cache_dir = Path(cache_dir)
        self.refresh_seconds = float(refresh_seconds)
        self.embedder_version = embedder_version
        self.attribute_embedder_version = attribute_embedder_version or embedder_version
        self.on_recognition_change = on_recognition_change
        self.age_gender_runtime = age_gender_runtime
        self._models: dict[str, LoadedModel] = {}  # replaced whole, never mutated: readers need no lock
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self.registry_state = "not checked yet"
        self.source = "none"
        self.last_check: float | None = None
        self.errors: dict[str, str] = {}
        self.swaps = 0
        self.refresh(initial=True)
        self._thread: threading.Thread | None = None
        if start_thread and self.refresh_seconds > 0:
            self._thread = threading.Thread(target=self._poll, name="model-refresh", daemon=True)
            self._thread.start()

    # --- the registry ------------------------------------------------------------------

    def _client(self):
        try:
            tracking.check_reachable(self.tracking_uri)
        except _Unreachable as exc:
            raise RegistryUnreachable(f"{exc.uri}: {exc.reason}") from None
        return tracking.client(self.tracking_uri)

    def production_versions(self) -> dict[str, str]:
        """Served model name -> version carrying the alias ``production``, asked of the registry."""
        client = self._client()
        try:
            models = client.search_registered_models(max_results=1000)
        except Exception as exc:  # noqa: BLE001 - any failure to list means "unreachable"
            raise RegistryUnreachable(f"{self.tracking_uri}: {' '.join(str(exc).split())[:200]}") from None
        targets = {}
        for model in models:
            if not is_served_name(model.name):
                continue
            aliases = getattr(model, "aliases", None) or {}
            if not aliases:  # some stores leave aliases out of search results
                aliases = getattr(client.get_registered_model(model.name), "aliases", None) or {}
            if PRODUCTION in aliases:
                targets[model.name] = str(aliases[PRODUCTION])
        return targets

    def _download(self, name: str, version: str) -> Path:
        """The version's files under the cache (downloaded once, moved into place atomically)."""
        import mlflow

        target = self.cache_dir / name / version
        if (target / "MLmodel").is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=target.parent))
        try:
            mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(staging),
                                                tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
            try:
                staging.rename(target)
            except OSError:  # another worker finished first
                if not (target / "MLmodel").is_file():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def _load(self, name: str, version: str, path: Path) -> LoadedModel:
        import mlflow.pyfunc

        model = self._age_gender_on_openvino(version, path) if name == AGE_GENDER else None
        if model is None:
            model = mlflow.pyfunc.load_model(str(path))
        metadata = dict(getattr(model.metadata, "metadata", None) or {})
        embedder = metadata.get("embedder")
        expected = self.attribute_embedder_version if name == AGE_GENDER else self.embedder_version
        if expected and embedder and embedder != expected:
            raise ValueError(f"trained on embedder {embedder}, the pipeline runs {expected}")
        return LoadedModel(name, version, model, metadata)

    def _age_gender_on_openvino(self, version: str, path: Path):
        """The age-gender version on OpenVINO (no TensorFlow in this process), or None: the runtime
        is set to ``pyfunc``, or the version cannot be converted (then its pyfunc serves it)."""
        if self.age_gender_runtime != "openvino":
            return None
        from .age_gender_openvino import OpenVINOAgeGender

        try:
            return OpenVINOAgeGender(path)
        except Exception as exc:  # noqa: BLE001 - any failure: serve it the ordinary way, say why
            log.warning("age-gender version %s runs through its pyfunc (TensorFlow), not OpenVINO: %s: %s",
                        version, type(exc).__name__, " ".join(str(exc).split())[:300])
            return None

    # --- refreshing ----------------------------------------------------------------------

    def refresh(self, initial: bool = False) -> bool:
        """Check the aliases and swap in what changed; returns whether anything was swapped."""
        with self._refresh_lock:
            self.last_check = time.time()
            try:
                targets = self.production_versions()
                self.registry_state = "ok"
                source = "registry"
            except RegistryUnreachable as exc:
                self.registry_state = f"unreachable ({exc})"
                log.warning("model registry unreachable: %s", exc)
                if not initial:
                    return False  # keep serving what is loaded
                targets = self._cached_state()
                source = "cache"
            current = self._models
            new = {name: loaded for name, loaded in current.items() if name in targets}
            errors = {}
            for name, version in targets.items():
                if name in current and current[name].version == version:
                    continue
                try:
                    path = self._download(name, version) if source == "registry" else self.cache_dir / name / version
                    new[name] = self._load(name, version, path)
                    log.info("serving %s:%s%s", name, version,
                             f" (was {current[name].version})" if name in current else "")
                except Exception as exc:  # noqa: BLE001 - keep the old version, report the new one's problem
                    errors[name] = f"version {version}: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
                    log.error("cannot serve %s:%s: %s", name, version, errors[name])
            changed = set(new) != set(current) or any(new[n] is not current.get(n) for n in new)
            recognition_changed = new.get(RECOGNITION) is not current.get(RECOGNITION)
            self._models = new  # the swap: one assignment, readers see old or new, never half
            self.errors = errors
            self.source = source if new else "none"
            if source == "registry":
                self._write_state({n: m.version for n, m in new.items()})
            if changed and not initial:
                self.swaps += 1
            if recognition_changed and not initial and self.on_recognition_change is not None:
                try:
                    self.on_recognition_change()
                except Exception:  # noqa: BLE001 - the gallery reloads on the next change anyway
                    log.exception("could not tell the gallery about the new recognition model")
            return changed

    def _poll(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - the poller must survive anything
                log.exception("model refresh failed")

    def _cached_state(self) -> dict[str, str]:
        path = self.cache_dir / STATE_FILE
        try:
            state = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return {}
        versions = state.get("versions", {})
        return {n: str(v) for n, v in versions.items() if (self.cache_dir / n / str(v) / "MLmodel").is_file()}

    def _write_state(self, versions: dict[str, str]) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_dir / f".{STATE_FILE}.{os.getpid()}"
        tmp.write_text(json.dumps({"tracking_uri": self.tracking_uri, "versions": versions,
                                   "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2))
        tmp.replace(self.cache_dir / STATE_FILE)

    # --- ServedModels --------------------------------------------------------------------

    def versions(self) -> dict[str, str | None]:
        models = self._models
        out: dict[str, str | None] = {
            "age_gender": models[AGE_GENDER].label if AGE_GENDER in models else None,
            "recognition_head": models[RECOGNITION].label if RECOGNITION in models else None,
            "verifier": models[VERIFIER].label if VERIFIER in models else None,
        }
        out.update({name: m.label for name, m in sorted(models.items()) if name.startswith(PERSON_PREFIX)})
        return out

    def predict_age_gender(self, crops: np.ndarray, embeddings: np.ndarray,
                           features: np.ndarray | None = None) -> list[AgeGender]:
        loaded = self._models.get(AGE_GENDER)
        if loaded is None or len(crops) == 0:
            return [(None, None, None)] * len(crops)
        inputs = {"embedding": np.asarray(embeddings, np.float32), "crop": np.asarray(crops, np.uint8)}
        if features is not None and np.asarray(features).size:
            inputs["features"] = np.asarray(features, np.float32)
        frame = loaded.model.predict(select_inputs(loaded.model, inputs, loaded.label))
        return [(float(row.age), str(row.gender), float(row.gender_confidence)) for row in frame.itertuples()]

    def project(self, embeddings: np.ndarray) -> np.ndarray:
        loaded = self._models.get(RECOGNITION)
        matrix = np.asarray(embeddings, dtype=np.float32)
        if loaded is None or len(matrix) == 0:
            return matrix
        return np.asarray(loaded.model.predict(matrix), dtype=np.float32)

    def match_threshold(self) -> float | None:
        loaded = self._models.get(RECOGNITION)
        return None if loaded is None else loaded.threshold

    def far_table(self) -> list[list[float]] | None:
        loaded = self._models.get(RECOGNITION)
        table = None if loaded is None else loaded.metadata.get("far_table")
        return [list(map(float, row)) for row in table] if table else None

    def verify_person(self, person_name: str, embedding: np.ndarray) -> Verdict | None:
        try:
            loaded = self._models.get(person_model_name(person_name))
        except ValueError:  # no letters or digits: nobody can have a verifier under that name
            return None
        if loaded is None:
            return None
        probability = float(np.asarray(loaded.model.predict(np.asarray(embedding, np.float32)[None])).ravel()[0])
        return probability, float(loaded.threshold if loaded.threshold is not None else 0.75), loaded.label

    def verify_pair(self, embedding1: np.ndarray, embedding2: np.ndarray) -> Verdict | None:
        loaded = self._models.get(VERIFIER)
        if loaded is None:
            return None
        pair = np.concatenate([np.asarray(embedding1, np.float32), np.asarray(embedding2, np.float32)])[None]
        probability = float(np.asarray(loaded.model.predict(pair)).ravel()[0])
        return probability, float(loaded.threshold if loaded.threshold is not None else 0.5), loaded.label

    def ready_info(self) -> dict:
        models = self._models
        return {
            "kind": "registry",
            "tracking_uri": self.tracking_uri,
            "registry": self.registry_state,
            "source": self.source,
            "serving_cached_models": self.source == "cache",
            "refresh_seconds": self.refresh_seconds,
            "last_check": None if self.last_check is None else time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.last_check)),
            "swaps": self.swaps,
            "versions": self.versions(),
            "thresholds": {name: m.threshold for name, m in sorted(models.items())},
            "runtimes": {name: getattr(m.model, "runtime", "pyfunc") for name, m in sorted(models.items())},
            "errors": self.errors,
        }

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
