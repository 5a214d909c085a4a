"""Settings errors as one line and exit status 2, for the API's start-up and every script.

pydantic's own report is a multi-line traceback naming field paths; an operator who typed
``FACE_MAX_PIXELS=abc`` wants to read which variable is wrong and why."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

from pydantic import ValidationError

T = TypeVar("T")

EXIT_USAGE = 2


def describe(exc: ValidationError, prefix: str = "") -> str:
    """``NAME=value: why`` for each wrong variable, on one line."""
    parts = []
    for error in exc.errors():
        field = "_".join(str(p) for p in error.get("loc", ()) if isinstance(p, str)) or "settings"
        message = error.get("msg", "invalid value").removeprefix("Value error, ")
        given = error.get("input")
        shown = f"={given!r}" if isinstance(given, str | int | float) else ""
        parts.append(f"{prefix}{field.upper()}{shown}: {message}")
    return "; ".join(parts)


def _stop_supervisor() -> None:
    """Under ``uvicorn --workers N`` each worker is a multiprocessing child, and uvicorn restarts a
    dead one for ever; with a bad setting every restart fails alike, so stop the supervisor too."""
    import multiprocessing
    import os
    import signal

    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid:
        os.kill(parent.pid, signal.SIGTERM)


def fail(message: str) -> None:
    """Print ``error: message`` and exit 2."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    _stop_supervisor()
    raise SystemExit(EXIT_USAGE)


def settings_or_exit(factory: Callable[[], T], pipeline: bool = False) -> T:
    """``factory()`` (e.g. ``get_settings``), and with ``pipeline`` the face pipeline's ``FACE_*``
    settings checked too; any invalid value ends the process with one line and status 2."""
    try:
        settings = factory()
    except ValidationError as exc:
        fail(f"invalid setting: {describe(exc)}")
    if pipeline:
        from face_pipeline.config import PipelineSettings

        try:
            PipelineSettings()
        except ValidationError as exc:
            fail(f"invalid setting: {describe(exc, prefix='FACE_')}")
    return settings
