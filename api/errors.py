"""Every error the API answers is JSON ``{"error": "..."}`` with a 4xx status (5xx only for our own
faults), never a traceback. Domain errors are raised as :class:`ApiError` from the services."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from face_pipeline.errors import (
    EmptyImageError,
    ImageError,
    ImageNotFoundError,
    ImageTooLargeError,
    NotAnImageError,
    TruncatedImageError,
)

log = logging.getLogger(__name__)

NO_FACE = "No face detected in the image"


class ApiError(Exception):
    """An answer for the client: status, one-line message and optional extra fields."""

    def __init__(self, status_code: int, message: str, headers: dict[str, str] | None = None, **extra: object) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.headers = headers
        self.extra = extra


DATABASE_UNAVAILABLE = "The database is not reachable right now; try again shortly"


def retry_later(message: str, retry_after: int) -> ApiError:
    """A 503 the client should retry: says when, in Retry-After."""
    return ApiError(503, message, headers={"Retry-After": str(retry_after)})


def is_database_fault(exc: BaseException) -> bool:
    """The database is down, frozen or overloaded (not a bug of ours): connection refused or lost,
    a timeout, a full pool, a statement killed for running too long."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def error_response(status_code: int, message: str, headers: dict[str, str] | None = None, **extra) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status_code, headers=headers)


def image_error_status(exc: ImageError) -> int:
    if isinstance(exc, NotAnImageError):
        return 415
    if isinstance(exc, EmptyImageError):
        return 400
    if isinstance(exc, ImageTooLargeError | TruncatedImageError):
        return 422
    if isinstance(exc, ImageNotFoundError):
        return 400
    return 422


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        location = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "header"))
        message = error.get("msg", "invalid value")
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(parts) or "invalid request"


def install_exception_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status_code, exc.message, headers=exc.headers, **exc.extra)

    @app.exception_handler(SQLAlchemyError)
    async def _database_error(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        """The one place a database fault becomes a 503 with Retry-After; the driver's message (host,
        port, SQL) goes to the log only. Anything else is our bug: re-raised to the JSON 500."""
        retry_after = str(request.app.state.settings.retry_after_seconds)
        if is_database_fault(exc):
            log.warning("database unavailable in %s %s: %s", request.method, request.url.path,
                        " ".join(str(exc).split())[:300])
            return error_response(503, DATABASE_UNAVAILABLE, headers={"Retry-After": retry_after})
        raise exc

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, _validation_message(exc))

    @app.exception_handler(ImageError)
    async def _image_error(_request: Request, exc: ImageError) -> JSONResponse:
        return error_response(image_error_status(exc), str(exc))
