"""Helpers for the trainer/registry tests: a real ``mlflow server`` on a free port (SQLite or a
fresh MariaDB database), trainer settings pointing at it, and running the CLIs as subprocesses."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

from benchmarks.processes import free_port, stop_group

ROOT = Path(__file__).resolve().parents[1]
MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root"}



def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


@contextlib.contextmanager
def mariadb_database(prefix: str = "mlflow_test") -> Iterator[str]:
    import pymysql

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    connection = pymysql.connect(**MARIADB)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    try:
        yield f"mysql+pymysql://root@127.0.0.1:3306/{name}"
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        connection.close()


@contextlib.contextmanager
def mlflow_server(backend_uri: str, artifacts: Path, log_file: Path, timeout: float = 240.0) -> Iterator[str]:
    """``mlflow server --serve-artifacts`` on a free port; yields its URL and stops it (its whole session)."""
    port = free_port()
    artifacts.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri, "--serve-artifacts",
            "--artifacts-destination", str(artifacts), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with open(log_file, "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"mlflow server exited ({process.returncode}): {log_file.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server not healthy after {timeout:.0f} s: {log_file.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        stop_group(process, timeout=20)


def run_cli(module: str, *args: str, uri: str, extra_env: dict | None = None, timeout: float = 180.0,
            ) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "TF_CPP_MIN_LOG_LEVEL": "2",
           **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess, contains: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1 and contains in lines[0], result.stderr
