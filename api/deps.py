"""Dependencies the routes declare with ``Annotated[..., Depends(...)]``: the per-process runtime,
the face service (503 while the models load) and the API-key check for each role."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.errors import ApiError, retry_later
from api.rate_limits import client_address
from api.runtime import Runtime
from api.security import allows, find_key
from api.services.faces import FaceService

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key (read or admin role).")
bearer = HTTPBearer(auto_error=False, description="The same API key as `Authorization: Bearer <key>`.")


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_service(runtime: RuntimeDep) -> FaceService:
    if runtime.service is None:
        if runtime.load_error:
            raise ApiError(503, "The models failed to load; see the server log")
        raise retry_later("The models are still loading; try again shortly", runtime.settings.retry_after_seconds)
    return runtime.service


ServiceDep = Annotated[FaceService, Depends(get_service)]


def get_session(runtime: RuntimeDep):  # noqa: ANN201 - generator dependency
    with runtime.session_factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def presented_key(header_key: str | None, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """The key from ``X-API-Key``, else from ``Authorization: Bearer`` (what most HTTP clients and
    tools send); the first one present counts."""
    if header_key:
        return header_key
    return credentials.credentials if credentials is not None else None


HeaderKey = Annotated[str | None, Security(api_key_header)]
BearerKey = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]


def key_role(runtime: Runtime, key: str) -> str | None:
    """The role of an active ``key`` (None if unknown or revoked): from the recently verified keys,
    else from the database (whose faults propagate: the handler answers 503)."""
    role = runtime.verified_keys.get(key)
    if role is not None:
        return role
    with runtime.session_factory() as session:
        row = find_key(session, key)
        role = row.role if row is not None else None
    if role is not None:
        runtime.verified_keys.put(key, role)
    return role


def _check_key(request: Request, runtime: Runtime, key: str | None, needed: str) -> None:
    if not runtime.settings.api_keys_enabled:
        return
    if not key:
        raise ApiError(401, "Missing API key: send it in the X-API-Key header or as Authorization: Bearer <key>")
    role = key_role(runtime, key)
    if role is None:
        request.app.state.rate_limiter.note_failed_key(client_address(request.scope))
        raise ApiError(401, "Invalid or revoked API key")
    if not allows(role, needed):
        raise ApiError(403, f"This API key is {role}; this endpoint needs an {needed} key")


def require_read(request: Request, runtime: RuntimeDep, key: HeaderKey, credentials: BearerKey) -> None:
    _check_key(request, runtime, presented_key(key, credentials), "read")


def require_admin(request: Request, runtime: RuntimeDep, key: HeaderKey, credentials: BearerKey) -> None:
    _check_key(request, runtime, presented_key(key, credentials), "admin")


async def single_form_parts(request: Request) -> None:
    """422 when a form field comes more than once: otherwise the last ``file`` part silently wins."""
    form = await request.form()
    for name in dict.fromkeys(form.keys()):
        count = len(form.getlist(name))
        if count > 1:
            raise ApiError(422, f"{name}: sent {count} times; send each form field once")


ReadAccess = Depends(require_read)
AdminAccess = Depends(require_admin)
SingleParts = Depends(single_form_parts)
