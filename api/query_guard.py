"""Unknown query parameters are refused with a 422 that names them, on every documented route.

FastAPI silently ignores query parameters a route does not declare, so a typo such as
``/analyze?fromat=jpeg`` or a guess such as ``?annotate=true`` would answer as if nothing had been
asked. Installed once as an app-wide dependency, this check reads the parameters each route (and its
dependencies) declares from FastAPI's own dependency tree, so a new route or parameter needs nothing here.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api.errors import ApiError


def declared_query_names(dependant: Dependant) -> frozenset[str]:
    """The query parameter names (aliases) of ``dependant`` and of every dependency below it."""
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        names.update(field.alias for field in current.query_params)
        pending.extend(current.dependencies)
    return frozenset(names)


async def reject_unknown_query_parameters(request: Request) -> None:
    """422 naming every query parameter the matched route does not declare (the docs pages are exempt)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.include_in_schema or not request.query_params:
        return
    allowed = declared_query_names(route.dependant)  # a few dependants: cheaper than a cache keyed on routes
    unknown = sorted(set(request.query_params.keys()) - allowed)
    if not unknown:
        return
    accepted = ", ".join(sorted(allowed)) if allowed else "none"
    plural = "s" if len(unknown) > 1 else ""
    raise ApiError(
        422,
        f"unknown query parameter{plural}: {', '.join(unknown)} ({route.path} accepts: {accepted})",
        unknown_parameters=unknown,
    )
