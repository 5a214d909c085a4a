"""Run the platform natively, the way docker compose runs it: an MLflow server, the registry
bootstrap against it, then the API (`make up`, `make down`, `make stack-status`).

What is this project's own lives here: the settings, the start order (MLflow, then the bootstrap
against it, then the API), the health waits and the URLs printed. Each long-running service is a
process tree in a session of its own (``scripts._processes``, psutil): the ids and start times are
kept in ``.run/stack.json`` and each service writes its log under ``.run/logs/``. ``down`` stops
exactly those processes (a reused process id is never killed) and nothing else.

    python -m scripts.stack up | down | status
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from scripts._processes import Service, ServiceError, spawn

ROOT = Path(__file__).resolve().parents[1]
"""Repository root: relative paths in the settings are taken from here, not from the working directory."""


class StackSettings(BaseSettings):
    """Where the native stack listens and keeps its state; each field is documented in ``.env.example``."""

    model_config = SettingsConfigDict(env_file=str(ROOT / ".env"), extra="ignore")

    stack_host: str = Field(
        "127.0.0.1",
        description="Interface both servers bind to (not HOST: some shells set that to the machine's name).",
    )
    api_port: int = Field(8000, ge=1, le=65535, description="Port of the face API.")
    mlflow_port: int = Field(5001, ge=1, le=65535, description="Port of the MLflow server (UI, API and artifacts).")
    api_workers: int = Field(1, ge=1, description="uvicorn worker processes of the API (each loads the models).")
    mlflow_workers: int = Field(1, ge=1, description="Worker processes of the MLflow server.")
    mlflow_backend_uri: str = Field(
        "sqlite:///data/mlflow-server/mlflow.db",
        description="MLflow server store: SQLite (relative path from the repository root) or mysql+pymysql://...",
    )
    mlflow_server_artifacts_dir: Path = Field(
        Path("data/mlflow-server/artifacts"), description="Where the MLflow server keeps the artifacts it serves."
    )
    mlflow_allowed_hosts: str | None = Field(
        None, description="--allowed-hosts of the MLflow server; unset keeps MLflow's default (localhost, private IPs)."
    )
    stack_run_dir: Path = Field(Path(".run"), description="State file and logs of the native stack.")
    stack_start_timeout: float = Field(
        600.0, gt=0, description="Seconds to wait for each server to become healthy (the API loads models first)."
    )
    stack_bootstrap_timeout: float = Field(
        3600.0, gt=0, description="Seconds the registry bootstrap may take (it may train when the registry is empty)."
    )

    @field_validator("mlflow_backend_uri", "mlflow_allowed_hosts", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object, info: ValidationInfo) -> object:
        """An empty value in .env means "not set" (the default), as it does for the API's settings."""
        if value == "":
            return cls.model_fields[info.field_name].default
        return value

    def path(self, value: Path) -> Path:
        return value if value.is_absolute() else ROOT / value

    @property
    def run_dir(self) -> Path:
        return self.path(self.stack_run_dir)

    @property
    def state_file(self) -> Path:
        return self.run_dir / "stack.json"

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def client_host(self) -> str:
        """The address clients use: a wildcard bind is reached through the loopback interface."""
        if self.stack_host in ("0.0.0.0", ""):
            return "127.0.0.1"
        if self.stack_host == "::":
            return "[::1]"
        return f"[{self.stack_host}]" if ":" in self.stack_host else self.stack_host

    @property
    def mlflow_url(self) -> str:
        return f"http://{self.client_host}:{self.mlflow_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.client_host}:{self.api_port}"

    def resolved_backend_uri(self) -> str:
        """The store URI with a relative SQLite path made absolute and its folder created."""
        uri = self.mlflow_backend_uri
        prefix = "sqlite:///"
        if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
            path = ROOT / uri[len(prefix) :]
            path.parent.mkdir(parents=True, exist_ok=True)
            return prefix + str(path)
        return uri


class StackError(ServiceError):
    """A failure the user can act on: printed as one line, exit status 1."""


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host.strip("[]"), port)) == 0


def _http_get(url: str, timeout: float = 3.0) -> tuple[int, str]:
    """(status, body) of a GET; status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own http URL
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError):
        return 0, ""


def _log_tail(path: str, lines: int = 25) -> str:
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    return "\n".join("    " + line for line in text[-lines:])


def _wait_healthy(service: Service, timeout: float, what: str) -> str:
    """Poll the service's health URL until it answers 200; fail early if the process dies."""
    url = service.url + service.health_path
    print(f"  waiting for {what} ({url}) ...", flush=True)
    deadline = time.monotonic() + timeout
    last = (0, "")
    while time.monotonic() < deadline:
        if not service.leader_alive():
            raise StackError(f"{service.name} exited during start-up; last lines of {service.log}:\n"
                             f"{_log_tail(service.log)}")
        last = _http_get(url)
        if last[0] == 200:
            return last[1]
        time.sleep(1.0)
    raise StackError(f"{service.name} not healthy after {timeout:.0f} s (last answer: {last[0] or 'none'} "
                     f"{last[1][:300]}); last lines of {service.log}:\n{_log_tail(service.log)}")


# --- state ---------------------------------------------------------------------------------------


def _load_state(settings: StackSettings) -> list[Service]:
    try:
        raw = json.loads(settings.state_file.read_text())
    except FileNotFoundError:
        return []
    except (json.JSONDecodeError, OSError) as error:
        raise StackError(f"cannot read {settings.state_file}: {error}") from error
    return [Service(**item) for item in raw.get("services", [])]


def _save_state(settings: StackSettings, services: list[Service]) -> None:
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    tmp = settings.state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"root": str(ROOT), "services": [asdict(s) for s in services]}, indent=2))
    tmp.replace(settings.state_file)


# --- commands ------------------------------------------------------------------------------------


def _child_env(settings: StackSettings) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env["MLFLOW_TRACKING_URI"] = settings.mlflow_url
    return env


def _api_env(settings: StackSettings, env: dict[str, str]) -> dict[str, str]:
    """The API's environment: unless PROMETHEUS_MULTIPROC_DIR is set already, a fresh folder under
    the run folder, so /metrics adds up every uvicorn worker (prometheus-client's multiprocess mode)."""
    if env.get("PROMETHEUS_MULTIPROC_DIR"):
        return env
    folder = settings.run_dir / "prometheus-metrics"
    shutil.rmtree(folder, ignore_errors=True)  # counters of a previous run must not add up with these
    folder.mkdir(parents=True)
    return {**env, "PROMETHEUS_MULTIPROC_DIR": str(folder)}


def _mlflow_env(env: dict[str, str]) -> dict[str, str]:
    """MLflow 3 starts a GenAI job runner (8 more processes) that a model registry does not use:
    off unless asked for, as it costs CPU on a small machine and slows every stop."""
    return {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **env}


def _ensure_mysql_database(uri: str) -> None:
    """MLflow creates its tables but not a MySQL database: make it (utf8mb4) when the URI names a missing one."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    url = make_url(uri)
    if url.get_backend_name() != "mysql" or not url.database:
        return
    engine = create_engine(url.set(database=""))
    try:
        with engine.begin() as connection:
            name = url.database.replace("`", "``")
            connection.execute(text(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4"))
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", error)).splitlines()[0]
        raise StackError(f"cannot reach the MLflow store {_redact(uri)}: {reason}") from None
    finally:
        engine.dispose()


def _mlflow_argv(settings: StackSettings) -> list[str]:
    artifacts = settings.path(settings.mlflow_server_artifacts_dir)
    artifacts.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", settings.resolved_backend_uri(),
        "--serve-artifacts", "--artifacts-destination", str(artifacts),
        "--host", settings.stack_host, "--port", str(settings.mlflow_port),
        "--workers", str(settings.mlflow_workers),
    ]  # fmt: skip
    if settings.mlflow_allowed_hosts:
        argv += ["--allowed-hosts", settings.mlflow_allowed_hosts]
    return argv


def _api_argv(settings: StackSettings) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "api.main:app",
        "--host", settings.stack_host, "--port", str(settings.api_port), "--workers", str(settings.api_workers),
    ]  # fmt: skip


def _run_bootstrap(settings: StackSettings, env: dict[str, str]) -> None:
    """Run the registry bootstrap in the foreground, echoing its output and keeping it in a log."""
    log_path = settings.log_dir / "bootstrap.log"
    argv = [sys.executable, "-m", "scripts.bootstrap_registry"]
    print(f"  bootstrapping the registry (python -m scripts.bootstrap_registry; log {log_path}) ...", flush=True)
    expired: list[bool] = []
    with open(log_path, "ab") as log, subprocess.Popen(  # noqa: S603 - our own argv, no shell
        argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as process:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        timer = threading.Timer(settings.stack_bootstrap_timeout, lambda: (expired.append(True), process.kill()))
        timer.start()
        try:
            for line in process.stdout:
                log.write(line)
                log.flush()
                print("    " + line.decode("utf-8", "replace").rstrip(), flush=True)
        finally:
            timer.cancel()
            if process.poll() is None:  # interrupted: the context's wait() must not hang on it
                process.kill()
    if expired:
        raise StackError(f"registry bootstrap took longer than {settings.stack_bootstrap_timeout:.0f} s "
                         "(STACK_BOOTSTRAP_TIMEOUT)")
    if process.returncode != 0:
        raise StackError(f"registry bootstrap failed (exit {process.returncode}); see {log_path}")


def up(settings: StackSettings) -> int:
    running = [s for s in _load_state(settings) if s.processes()]
    if running:
        print("The stack is already running (make down stops it):")
        return status(settings)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    for port, setting in ((settings.mlflow_port, "MLFLOW_PORT"), (settings.api_port, "API_PORT")):
        if _port_in_use(settings.client_host, port):
            raise StackError(f"port {port} on {settings.client_host} is already in use: free it or set {setting}")

    env = _child_env(settings)
    services: list[Service] = []
    try:
        _ensure_mysql_database(settings.resolved_backend_uri())
        print(f"Starting the MLflow server on {settings.mlflow_url} "
              f"(store: {_redact(settings.resolved_backend_uri())}) ...", flush=True)
        mlflow = spawn("mlflow", _mlflow_argv(settings), _mlflow_env(env), settings.log_dir / "mlflow.log",
                       settings.mlflow_url, "/health")
        services.append(mlflow)
        _save_state(settings, services)
        _wait_healthy(mlflow, settings.stack_start_timeout, "MLflow")

        _run_bootstrap(settings, env)

        print(f"Starting the face API on {settings.api_url} ({settings.api_workers} worker(s)) ...", flush=True)
        api = spawn("api", _api_argv(settings), _api_env(settings, env), settings.log_dir / "api.log",
                    settings.api_url, "/ready")
        services.append(api)
        _save_state(settings, services)
        ready = _wait_healthy(api, settings.stack_start_timeout, "the API to be ready (models load first)")
        print(f"  ready; serving {_versions_line(ready)}", flush=True)
    except BaseException:
        print("Start-up failed: stopping what was started.", file=sys.stderr, flush=True)
        _stop_all(settings, services)
        raise

    print("\nFace Analytics Home is up:")
    print(f"  API         {settings.api_url}   (docs: {settings.api_url}/docs)")
    print(f"  MLflow UI   {settings.mlflow_url}")
    print(f"  logs        {settings.log_dir}/   state: {settings.state_file}")
    print("  stop it with: make down")
    return 0


def _versions_line(ready_body: str) -> str:
    """The model versions from a /ready answer, on one line."""
    try:
        versions = json.loads(ready_body).get("model_versions") or {}
    except (json.JSONDecodeError, AttributeError):
        return ready_body[:300]
    listed = ", ".join(f"{name}={version}" for name, version in versions.items())
    return listed or "(the model versions are listed by GET /ready with an X-API-Key)"


def _redact(uri: str) -> str:
    """A store URI without its password, for printing."""
    if "://" in uri and "@" in uri:
        scheme, rest = uri.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
    return uri


def _stop_all(settings: StackSettings, services: list[Service]) -> list[str]:
    """Stop services newest first (the API before the MLflow server it reads from)."""
    stopped = []
    for service in reversed(services):
        if service.processes():
            how = service.stop()
            stopped.append(f"{service.name} (pid {service.pid}, {how})")
    settings.state_file.unlink(missing_ok=True)
    return stopped


def down(settings: StackSettings) -> int:
    services = _load_state(settings)
    if not services:
        print("Nothing to stop: the native stack is not running.")
        return 0
    stopped = _stop_all(settings, services)
    print("Stopped: " + ", ".join(stopped) if stopped else "Nothing was running any more; state cleared.")
    return 0


def status(settings: StackSettings) -> int:
    services = _load_state(settings)
    if not services:
        print("The native stack is not running (make up starts it).")
        return 3
    healthy = True
    for service in services:
        processes = service.processes()
        if not processes:
            state = "stopped"
        else:
            code, _ = _http_get(service.url + service.health_path)
            state = "healthy" if code == 200 else f"unhealthy ({code or 'no answer'})"
        healthy = healthy and state == "healthy"
        print(f"  {service.name:<7} {state:<18} pid {service.pid:<8} {service.url}   log {service.log}")
    return 0 if healthy else 3


COMMANDS: dict[str, Callable[[StackSettings], int]] = {"up": up, "down": down, "status": status}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.stack", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=sorted(COMMANDS), help="up: start; down: stop; status: show")
    args = parser.parse_args(argv)
    try:
        settings = StackSettings()
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors())
        print(f"error: bad stack setting: {problems} (see .env.example)", file=sys.stderr)
        return 2
    try:
        return COMMANDS[args.command](settings)
    except ServiceError as error:  # StackError, or a service that would not stop
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
