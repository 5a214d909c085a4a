"""The FastAPI application: ``uvicorn api.main:app --workers N``.

Each worker runs the migrations (under a lock), then loads ONE face pipeline and ONE set of served
models in the background; ``/ready`` turns 200 when they are in and the database answers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.concurrency import run_in_threadpool

from api.config import ApiSettings, get_settings
from api.db.engine import engine_for, make_session_factory, upgrade_database
from api.docs import install_offline_docs
from api.errors import install_exception_handlers
from api.logs import configure_logging
from api.metrics import count_database_errors
from api.middleware import BodySizeLimitMiddleware, MetricsMiddleware, RequestIdMiddleware
from api.query_guard import reject_unknown_query_parameters
from api.rate_limits import RateLimiter, RateLimitMiddleware
from api.routes import analysis, health, monitoring, persons, search, stats, verification
from api.runtime import Runtime
from api.security_headers import SecurityHeadersMiddleware
from api.settings_errors import settings_or_exit
from api.web import install_web_page
from face_pipeline import FacePipeline

log = logging.getLogger("api")


def create_app(settings: ApiSettings | None = None, pipeline: FacePipeline | None = None) -> FastAPI:
    """Build the app; tests pass their own settings and an already loaded pipeline."""
    settings = settings or get_settings()
    # Now, not at start-up: uvicorn's "Started server process" line comes before the lifespan.
    configure_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.api_keys_enabled:
            log.warning("API_KEYS_ENABLED=false: every endpoint is open to anyone who can reach this server")
        engine = engine_for(settings)
        count_database_errors(engine)
        await run_in_threadpool(upgrade_database, engine)
        runtime = Runtime(settings=settings, engine=engine, session_factory=make_session_factory(engine))
        app.state.runtime = runtime
        runtime.start_loading(pipeline)
        try:
            yield
        finally:
            await run_in_threadpool(runtime.close)

    app = FastAPI(
        title="Face Analytics Home API",
        version="1.0.0",
        description="Detect, identify, verify and search faces; people and embeddings are kept in SQL.",
        lifespan=lifespan,
        docs_url=None,  # served from local files by install_offline_docs
        redoc_url=None,
        dependencies=[Depends(reject_unknown_query_parameters)],
    )
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter(settings)
    install_exception_handlers(app)
    for module in (health, monitoring, analysis, persons, verification, search, stats):
        app.include_router(module.router)
    install_offline_docs(app)
    install_web_page(app)
    # Added last = outermost: the request id wraps everything, including the 413s and 429s; the
    # metrics count those too, and an escaped exception as a 500.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(RateLimitMiddleware, limiter=app.state.rate_limiter)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
    return app


app = create_app(settings_or_exit(get_settings, pipeline=True))
"""What uvicorn serves; a bad setting is one line on stderr and exit status 2, not a traceback."""
