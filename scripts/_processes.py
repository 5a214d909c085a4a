"""A service of the native stack as a process tree that outlives the command that started it: started
in a session of its own, so that stopping it reaches every process it forked (uvicorn and MLflow both
start workers), and recognised later by its pid and start time (psutil), so that a pid the system has
handed to another process since is never signalled."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


class ServiceError(Exception):
    """A service that would not stop: printed as one line by the stack's command line."""


def _start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _same_start(recorded: float | str | None, actual: float) -> bool:
    """Whether a process started when the recorded one did: a pid is reused only after the pid range
    wraps, never within a second, and a second absorbs psutil's boot-time rounding."""
    return recorded is None or abs(float(recorded) - actual) < 1.0


@dataclass
class Service:
    """One process tree the stack started, as recorded in the state file: its leader's pid (also the id
    of the session the leader heads, so every process it forked) and the leader's start time."""

    name: str
    pid: int
    start_time: float | None
    url: str
    health_path: str
    log: str
    argv: list[str] = field(default_factory=list)

    def _reused(self) -> bool:
        """The pid now belongs to another process (ours is gone and the number was handed out again)."""
        try:
            return not _same_start(self.start_time, psutil.Process(self.pid).create_time())
        except psutil.Error:
            return False

    def leader_alive(self) -> bool:
        try:
            leader = psutil.Process(self.pid)
            return _same_start(self.start_time, leader.create_time()) and leader.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def processes(self) -> list[int]:
        """Every live process of this service's session (the leader may be gone while its workers live
        on), or [] when none is left or the pid is someone else's now."""
        if self._reused():
            return []
        members = []
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.Error, OSError):
                if os.getsid(process.pid) == self.pid and process.status() != psutil.STATUS_ZOMBIE:
                    members.append(process.pid)
        return members

    def stop(self, grace: float = 20.0) -> str:
        """SIGTERM the whole session, then SIGKILL whatever is left after ``grace`` seconds; says how it went."""
        if not self.processes():
            return "already gone"
        started = time.monotonic()
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            for pid in self.processes():  # each one, and the group: also what forks while we signal
                with contextlib.suppress(psutil.Error):
                    psutil.Process(pid).send_signal(sig)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if not self.processes():
                    how = "stopped" if sig == signal.SIGTERM else f"killed after {grace:.0f} s"
                    return f"{how} in {time.monotonic() - started:.1f} s"
                time.sleep(0.2)
        raise ServiceError(f"{self.name} (pid {self.pid}) did not stop; its processes: {self.processes()}")


def spawn(name: str, argv: list[str], env: dict[str, str], log_path: Path, url: str, health_path: str,
          cwd: Path = ROOT) -> Service:
    """Start ``argv`` (from the repository root) in a session of its own, its output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        log.flush()
        process = subprocess.Popen(  # noqa: S603 - our own argv, no shell
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Service(name, process.pid, _start_time(process.pid), url, health_path, str(log_path), argv)
