"""scripts.stack without the models: real process trees stopped by their ids, stale and reused ids,
a taken port, bad settings. (The whole stack end to end is tests/test_stack_e2e.py.)"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts import stack

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def settings(tmp_path, monkeypatch) -> stack.StackSettings:
    for name in ("API_PORT", "MLFLOW_PORT", "STACK_HOST", "MLFLOW_BACKEND_URI", "STACK_RUN_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STACK_RUN_DIR", str(tmp_path / "run"))
    return stack.StackSettings()


def spawn_tree(settings: stack.StackSettings, script: str) -> stack.Service:
    """A service whose leader forks children, started the way the stack starts its servers."""
    service = stack.spawn("tree", ["bash", "-c", script], dict(os.environ), settings.log_dir / "tree.log",
                          "http://127.0.0.1:9", "/health")  # fmt: skip
    deadline = time.monotonic() + 10
    while len(service.processes()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    return service


def test_stop_ends_the_whole_process_tree(settings):
    service = spawn_tree(settings, "sleep 300 & sleep 300 & wait")
    members = service.processes()
    assert len(members) >= 3 and service.pid in members
    service.stop(grace=10)
    assert service.processes() == []
    assert not service.leader_alive()


def test_stop_kills_what_ignores_sigterm(settings):
    service = spawn_tree(settings, "trap '' TERM; sleep 300 & sleep 300 & wait")
    assert len(service.processes()) >= 3
    service.stop(grace=0.5)
    assert service.processes() == []


def test_a_reused_process_id_is_never_signalled(settings):
    real = spawn_tree(settings, "sleep 300 & sleep 300 & wait")
    try:
        impostor = stack.Service(**{**real.__dict__, "start_time": "1"})  # same pid, another start time
        assert impostor.processes() == [] and not impostor.leader_alive()
        impostor.stop(grace=0.5)
        assert len(real.processes()) >= 3, "the live process with that pid was left alone"
    finally:
        real.stop(grace=5)


def test_down_clears_a_stale_state_file_and_status_says_not_running(settings, capsys):
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = stack.Service("api", gone.pid, "1", "http://127.0.0.1:9", "/ready", "x.log")
    stack._save_state(settings, [dead])
    assert stack.status(settings) == 3
    assert "stopped" in capsys.readouterr().out
    assert stack.down(settings) == 0
    assert "Nothing was running" in capsys.readouterr().out
    assert not settings.state_file.exists()
    assert stack.status(settings) == 3
    assert stack.down(settings) == 0
    assert "Nothing to stop" in capsys.readouterr().out


def test_up_refuses_a_taken_port_and_starts_nothing(settings, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = dict(os.environ, STACK_RUN_DIR=str(settings.run_dir), MLFLOW_PORT=str(port),
                   API_PORT=str(port))  # fmt: skip
        result = subprocess.run([sys.executable, "-m", "scripts.stack", "up"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: port {port} on 127.0.0.1 is already in use: free it or set MLFLOW_PORT"
    assert "Traceback" not in result.stdout + result.stderr
    assert not settings.state_file.exists()


def test_bad_setting_is_one_line_and_exit_2():
    env = dict(os.environ, API_PORT="eighty")
    result = subprocess.run([sys.executable, "-m", "scripts.stack", "status"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("error: bad stack setting: API_PORT:") and result.stderr.count("\n") == 1


def test_settings_resolve_paths_and_hide_passwords(settings, monkeypatch):
    monkeypatch.setenv("MLFLOW_BACKEND_URI", "")
    monkeypatch.setenv("STACK_HOST", "0.0.0.0")
    resolved = stack.StackSettings()
    assert resolved.resolved_backend_uri() == f"sqlite:///{ROOT / 'data' / 'mlflow-server' / 'mlflow.db'}"
    assert resolved.mlflow_url == "http://127.0.0.1:5001" and resolved.api_url == "http://127.0.0.1:8000"
    assert stack._redact("mysql+pymysql://u:secret@db:3306/x") == "mysql+pymysql://u:***@db:3306/x"
    assert stack._redact("sqlite:////a/b.db") == "sqlite:////a/b.db"
    state = {"root": str(ROOT), "services": []}
    stack._save_state(settings, [])
    assert json.loads(settings.state_file.read_text()) == state


def _mariadb_available() -> bool:
    return shutil.which("mariadb") is not None and subprocess.run(
        ["mariadb", "-uroot", "-e", "SELECT 1"], capture_output=True
    ).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _mariadb_available(), reason="needs the MariaDB on 127.0.0.1:3306 (root, no password)")
def test_mlflow_server_on_a_mariadb_store_it_creates(settings, monkeypatch, tmp_path):
    """MLFLOW_BACKEND_URI=mysql+pymysql://...: the database is made if missing and the server comes up on it."""
    import secrets

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    database = f"stack_mlflow_{secrets.token_hex(4)}"
    monkeypatch.setenv("MLFLOW_BACKEND_URI", f"mysql+pymysql://root@127.0.0.1:3306/{database}")
    monkeypatch.setenv("MLFLOW_SERVER_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("MLFLOW_PORT", str(port))
    configured = stack.StackSettings()
    service = None
    try:
        stack._ensure_mysql_database(configured.resolved_backend_uri())
        env = stack._mlflow_env(stack._child_env(configured))
        service = stack.spawn("mlflow", stack._mlflow_argv(configured), env, configured.log_dir / "mlflow.log",
                              configured.mlflow_url, "/health")  # fmt: skip
        stack._wait_healthy(service, 300, "MLflow on MariaDB")
        from mlflow import MlflowClient

        # Both URIs: an earlier test in the same process may have set a global registry URI.
        client = MlflowClient(tracking_uri=configured.mlflow_url, registry_uri=configured.mlflow_url)
        client.create_registered_model("stack-probe")
        assert [m.name for m in client.search_registered_models()] == ["stack-probe"]
        tables = subprocess.run(["mariadb", "-uroot", "-N", "-e", f"SHOW TABLES FROM `{database}`"],
                                capture_output=True, text=True).stdout.split()  # fmt: skip
        assert "registered_models" in tables
    finally:
        if service is not None:
            service.stop()
            assert service.processes() == []
        subprocess.run(["mariadb", "-uroot", "-e", f"DROP DATABASE IF EXISTS `{database}`"])
