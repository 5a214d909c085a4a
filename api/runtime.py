"""Everything a worker process loads once, held on ``app.state.runtime``; models load in a
background thread so that ``/health`` answers at once and ``/ready`` says 503 until they are in."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from api.capacity import InferenceSlots
from api.config import ROOT, ApiSettings
from api.key_cache import VerifiedKeys
from api.metrics import instrument_service
from api.services.faces import FaceService
from api.services.registry_models import RegistryModels
from api.services.served_models import PackagedModels, ServedModels
from face_pipeline import FacePipeline, PipelineSettings

log = logging.getLogger("api")


def create_served_models(settings: ApiSettings, pipeline: FacePipeline) -> ServedModels:
    """The one place that decides which models are served: the MLflow registry's production
    versions (MODEL_SOURCE=registry, the default when MLFLOW_TRACKING_URI is set), else the
    pipeline's own (``PackagedModels``). Age/gender models are checked against the network whose
    vectors they read (FaceNet's part of a fused descriptor)."""
    source = settings.model_source or ("registry" if settings.mlflow_tracking_uri else "packaged")
    if source == "packaged":
        return PackagedModels(pipeline, threshold=settings.match_threshold)
    from model_registry.tracking import DEFAULT_TRACKING_URI

    cache = settings.model_cache_dir if settings.model_cache_dir.is_absolute() else ROOT / settings.model_cache_dir
    return RegistryModels(settings.mlflow_tracking_uri or DEFAULT_TRACKING_URI, cache, settings.model_refresh_seconds,
                          embedder_version=pipeline.embedder.full_version,
                          attribute_embedder_version=pipeline.embedder.attribute_version,
                          on_recognition_change=lambda: _bump_gallery_revision(settings),
                          age_gender_runtime=settings.age_gender_runtime)


def _bump_gallery_revision(settings: ApiSettings) -> None:
    """A new recognition head changes the matching space: make every worker reload its gallery."""
    from api.db.engine import make_engine, make_session_factory
    from api.services.gallery import bump_revision

    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session, session.begin():
            bump_revision(session)
    finally:
        engine.dispose()


def serving_pipeline_settings(settings: ApiSettings) -> PipelineSettings:
    """The pipeline's settings for a worker that runs up to MAX_CONCURRENT_INFERENCES analyses at
    once: unless FACE_INFERENCE_THREADS says otherwise, each network call gets the worker's cores
    divided by that number, so concurrent requests share the CPU instead of oversubscribing it
    (two requests with two OpenVINO threads each on 2 cores served 6.6 requests/s, one thread
    each 11.4, in ``benchmarks.api_load``)."""
    import os

    pipeline_settings = PipelineSettings()
    if pipeline_settings.inference_threads == 0:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        threads = max(1, cores // max(1, settings.max_concurrent_inferences))
        pipeline_settings = pipeline_settings.model_copy(update={"inference_threads": threads})
    return pipeline_settings


@dataclass
class Runtime:
    settings: ApiSettings
    engine: Engine
    session_factory: sessionmaker[Session]
    pipeline: FacePipeline | None = None
    served: ServedModels | None = None
    service: FaceService | None = None
    load_error: str | None = None
    started_at: float = field(default_factory=time.time)
    verified_keys: VerifiedKeys | None = None
    inference: InferenceSlots | None = None
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        if self.verified_keys is None:
            self.verified_keys = VerifiedKeys(self.settings.api_key_cache_seconds)
        if self.inference is None:
            self.inference = InferenceSlots(
                self.settings.max_concurrent_inferences,
                self.settings.inference_queue_seconds,
                self.settings.retry_after_seconds,
            )

    def start_loading(self, pipeline: FacePipeline | None = None) -> None:
        self._thread = threading.Thread(target=self._load, args=(pipeline,), name="model-loader", daemon=True)
        self._thread.start()

    def _load(self, pipeline: FacePipeline | None) -> None:
        try:
            started = time.perf_counter()
            self.pipeline = pipeline or FacePipeline(serving_pipeline_settings(self.settings))
            self.served = create_served_models(self.settings, self.pipeline)
            service = FaceService.create(self.settings, self.pipeline, self.served, self.session_factory)
            instrument_service(service)
            try:
                people = str(service.gallery.current().size)
            except SQLAlchemyError as exc:  # the database is down now: the gallery loads on a later request
                people = f"not loaded yet ({type(exc).__name__})"
            self.service = service
            log.info(
                "models loaded in %.1f s (%s); gallery: %s people",
                time.perf_counter() - started,
                service.model_versions(),
                people,
            )
        except Exception as exc:  # noqa: BLE001 - reported by /ready instead of killing the worker
            log.exception("loading the models failed")
            self.load_error = f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=60)
        if self.service is not None:
            try:
                self.service.gallery.close()  # the last snapshot, the Milvus connection
            except Exception:  # noqa: BLE001 - shutting down anyway
                log.exception("closing the gallery failed")
        if self.served is not None:
            self.served.close()
        self.engine.dispose()
