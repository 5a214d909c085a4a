"""Fast checks of the monitoring pieces without a server: the scrape-time collector's gallery and
model-version metrics, route templates for metrics labels, and JSON log lines with the request id."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

from prometheus_client import CollectorRegistry, generate_latest

from api.logs import JsonFormatter, RequestIdFilter
from api.main import create_app
from api.metrics import RuntimeCollector, label_name
from api.middleware import request_id_var, route_template


def test_collector_reports_gallery_and_versions_with_valid_label_names():
    service = SimpleNamespace(
        gallery=SimpleNamespace(current=lambda: SimpleNamespace(size=7)),
        model_versions=lambda: {"embedder": "facenet-1", "age_gender": None, "verifier-alice": "verifier-alice/3"},
    )
    registry = CollectorRegistry()
    registry.register(RuntimeCollector(SimpleNamespace(service=service)))
    text = generate_latest(registry).decode()
    assert "face_api_gallery_people 7.0" in text and "face_api_models_loaded 1.0" in text
    assert 'face_api_model_info{age_gender="none",embedder="facenet-1",verifier_alice="verifier-alice/3"} 1.0' in text

    loading = CollectorRegistry()
    loading.register(RuntimeCollector(SimpleNamespace(service=None)))
    assert "face_api_models_loaded 0.0" in generate_latest(loading).decode()
    assert label_name("verifier-jean-pierre") == "verifier_jean_pierre" and label_name("1x") == "_1x"


def test_route_templates_keep_ids_out_of_the_labels():
    app = create_app()
    scope = {"type": "http", "app": app, "method": "GET", "headers": []}
    assert route_template({**scope, "path": "/persons/42"}) == "/persons/{person_id}"
    assert route_template({**scope, "path": "/register"}) == "/register"
    assert route_template({**scope, "path": "/wp-login.php"}) == "unmatched"


def test_json_lines_carry_the_request_id_and_keep_a_traceback_on_one_line():
    record = logging.LogRecord("api", logging.ERROR, __file__, 1, "failed %s", ("twice",), None)
    token = request_id_var.set("req-7")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    body = json.loads(line)
    assert body["message"] == "failed twice" and body["request_id"] == "req-7" and body["level"] == "ERROR"
    assert body["time"].endswith("Z") and "ValueError: boom" in body["exc_info"]

    outside = logging.LogRecord("api", logging.INFO, __file__, 1, "idle", (), None)
    RequestIdFilter().filter(outside)
    assert json.loads(JsonFormatter().format(outside))["request_id"] is None


def test_make_up_gives_the_api_a_fresh_multiprocess_folder(tmp_path):
    from scripts.stack import StackSettings, _api_env

    settings = StackSettings(stack_run_dir=tmp_path)
    stale = tmp_path / "prometheus-metrics" / "counter_123.db"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    env = _api_env(settings, {"PATH": "/bin"})
    assert env["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path / "prometheus-metrics") and not stale.exists()
    assert _api_env(settings, {"PROMETHEUS_MULTIPROC_DIR": "/mine"})["PROMETHEUS_MULTIPROC_DIR"] == "/mine"


def test_database_errors_are_counted(tmp_path):
    import pytest
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    from api.metrics import DATABASE_ERRORS, count_database_errors

    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    count_database_errors(engine)
    before = DATABASE_ERRORS._value.get()
    with engine.connect() as connection, pytest.raises(OperationalError):
        connection.execute(text("SELECT * FROM no_such_table"))
    engine.dispose()
    assert DATABASE_ERRORS._value.get() == before + 1
