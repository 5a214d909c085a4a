"""Stopping a server that a benchmark or test started in its own session (``start_new_session=True``):
uvicorn's workers and MLflow's children go with it, so no stray process holds a port or the CPU."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def stop_group(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM to the process group, SIGKILL after ``timeout`` seconds; waits for the leader."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:  # the group is gone already
        process.wait()
        return
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
