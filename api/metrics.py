"""Prometheus metrics for ``GET /metrics`` (prometheus-client).

uvicorn usually runs several worker processes, and a scrape reaches only one of them. When
``PROMETHEUS_MULTIPROC_DIR`` names a folder (emptied before the server starts), prometheus-client
keeps every worker's counters and histograms there and a scrape adds them up; without it each worker
reports its own numbers only. Gallery size and model versions are read at scrape time from the
worker answering (every worker serves the same gallery and models), so no gauge goes stale."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from api.runtime import Runtime
    from api.services.faces import FaceService

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_STAGE_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter("face_api_requests", "HTTP requests answered", ["method", "route", "status"])
ERRORS = Counter("face_api_request_errors", "HTTP answers with a 4xx or 5xx status", ["method", "route", "status"])
LATENCY = Histogram(
    "face_api_request_duration_seconds", "Time to answer a request", ["method", "route"], buckets=_LATENCY_BUCKETS
)
FACES = Histogram(
    "face_api_faces_per_image", "Faces detected in each photo sent to the API", buckets=(0, 1, 2, 3, 5, 10, 20, 50)
)
STAGE = Histogram(
    "face_api_stage_duration_seconds", "Time spent in one stage of the face pipeline (detect, embed, match)",
    ["stage"], buckets=_STAGE_BUCKETS,
)
DATABASE_ERRORS = Counter("face_api_database_errors", "Errors raised by the database driver")


def multiprocess_enabled() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


@contextmanager
def timed(stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        STAGE.labels(stage).observe(time.perf_counter() - start)


# --- the face pipeline and gallery, instrumented from outside -----------------------------------


def _timed_call(stage: str, function: Callable[..., Any], on_result: Callable[[Any], None] | None = None):
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with timed(stage):
            result = function(*args, **kwargs)
        if on_result is not None:
            on_result(result)
        return result

    wrapper.__wrapped__ = function  # type: ignore[attr-defined]
    return wrapper


class _TimedSnapshot:
    """A gallery snapshot whose searches are timed as the ``match`` stage; all else passes through."""

    def __init__(self, snapshot: Any) -> None:
        self._snapshot = snapshot

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._snapshot, name)
        if name in ("top_k", "best_for_person", "per_person") and callable(value):
            return _timed_call("match", value)
        return value


def instrument_service(service: FaceService) -> None:
    """Time detection, embedding and gallery matching of one loaded service, without touching the
    pipeline's or the gallery's code: their bound methods are wrapped on these instances only (the
    pipeline may be shared by several apps in tests, so it is wrapped once)."""
    pipeline = service.pipeline
    if not getattr(pipeline, "_metrics_instrumented", False):
        if hasattr(pipeline, "detect"):  # test doubles may have only process()
            pipeline.detect = _timed_call("detect", pipeline.detect, lambda faces: FACES.observe(len(faces)))
        if hasattr(pipeline, "describe"):  # every network's alignment + embedding
            pipeline.describe = _timed_call("embed", pipeline.describe)
        pipeline._metrics_instrumented = True
    gallery = service.gallery
    if not getattr(gallery, "_metrics_instrumented", False):
        current = gallery.current
        gallery.current = lambda: _TimedSnapshot(current())
        gallery._metrics_instrumented = True


def count_database_errors(engine: Engine) -> None:
    """Count every error the database driver raises on this engine (SQLAlchemy's handle_error event)."""
    from sqlalchemy import event

    event.listen(engine, "handle_error", lambda _context: DATABASE_ERRORS.inc())


# --- the scrape ----------------------------------------------------------------------------------


def label_name(name: str) -> str:
    """A model name as a Prometheus label name (``verifier-alice`` -> ``verifier_alice``)."""
    cleaned = re.sub(r"[^a-zA-Z0-9_]", "_", name)
    return cleaned if not cleaned[:1].isdigit() else f"_{cleaned}"


class RuntimeCollector(Collector):
    """What this worker serves, read when scraped: gallery size and model versions."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator:
        service = self.runtime.service
        loaded = GaugeMetricFamily("face_api_models_loaded", "1 once this worker has loaded its models")
        loaded.add_metric([], 1.0 if service is not None else 0.0)
        yield loaded
        if service is None:
            return
        try:  # up to date even if another worker changed the gallery since this one's last request
            snapshot = service.gallery.current()
        except Exception:  # noqa: BLE001 - database down: the scrape still answers (and counts the error)
            snapshot = service.gallery.snapshot
        people = GaugeMetricFamily("face_api_gallery_people", "Enrolled people in the gallery this worker holds")
        people.add_metric([], float(snapshot.size))
        yield people
        info = InfoMetricFamily("face_api_model", "Versions of the models this worker serves")
        versions = sorted(service.model_versions().items())
        info.add_metric([], {label_name(name): str(version or "none") for name, version in versions})
        yield info


def render(runtime: Runtime) -> bytes:
    """The exposition text: every worker's counters (multiprocess mode) or this one's, plus this
    worker's view of gallery and models."""
    if multiprocess_enabled():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        shared = generate_latest(registry)
    else:
        shared = generate_latest(REGISTRY)
    own = CollectorRegistry()
    own.register(RuntimeCollector(runtime))
    return shared + generate_latest(own)
