"""Fuzz report: ``python -m benchmarks.fuzz --examples 100`` (``make fuzz`` runs more).

Starts a real uvicorn of the app (its own SQLite database in a temporary folder; the real pipeline,
or ``--fake`` for the tests' fake one) and lets schemathesis generate requests for every operation of
its OpenAPI schema, inputs that follow the schema and inputs that break it on purpose. Every answer
is checked for what a client must never see: a 5xx (503 included: nothing here overloads the
server), an error that is not ``{"error": "..."}`` JSON or names a traceback, a missing security
header, and a response the schema does not describe (status code, content type, body). Writes
``reports/fuzz.json``: per operation the requests sent, 5xx, schema violations and status codes, and
the total, duration, load average, versions and command.

The server launch and the run are functions here because ``tests/test_api_fuzz.py`` uses them too
(a bounded run in the test suite that fails on any finding); benchmarks never import tests, so the
fake pipeline is named to uvicorn as ``tests.fake_app:app``, not imported."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from .processes import stop_group

if TYPE_CHECKING:
    from schemathesis.core.transport import Response

ROOT = Path(__file__).resolve().parents[1]
REAL_APP = "api.main:app"
FAKE_APP = "tests.fake_app:app"
MAX_SAMPLES = 5
"""Failing requests kept per operation (as curl commands), enough to reproduce without flooding."""


@dataclass(frozen=True)
class LiveApi:
    """A running uvicorn: its base URL, an admin key for its database, and its log file."""

    base: str
    key: str
    log: Path


def admin_key(database_url: str) -> str:
    """An admin key in a fresh database (schema brought up first), as ``scripts.api_keys`` makes one."""
    from api.db.engine import make_engine, make_session_factory, upgrade_database
    from api.security import create_key

    engine = make_engine(database_url)
    try:
        upgrade_database(engine)
        with make_session_factory(engine).begin() as session:
            return create_key(session, "admin", "fuzz")[0]
    finally:
        engine.dispose()


@contextmanager
def live_api(folder: Path, app: str = FAKE_APP, ready_timeout: float = 300.0) -> Iterator[LiveApi]:
    """uvicorn serving ``app`` on a free loopback port with a SQLite database in ``folder``, until the
    block ends. Throttling is off (the fuzzer sends thousands of requests from one address) and the
    upload limit small, so that generated bodies are refused early rather than parsed at length."""
    from benchmarks.api_load import free_port

    url = f"sqlite:///{folder / 'face_api.db'}"
    key = admin_key(url)
    port = free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "DATABASE_URL": url,
           "MODEL_SOURCE": "packaged", "RATE_LIMIT_ENABLED": "false", "MAX_UPLOAD_BYTES": "200000"}
    log_path = folder / "uvicorn.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            try:
                if httpx.get(f"{base}/ready", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the fuzz server did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield LiveApi(base, key, log_path)
    finally:
        stop_group(process)


@dataclass
class OperationResult:
    """What one operation answered to the generated requests."""

    requests: int = 0
    server_errors: int = 0
    schema_violations: int = 0
    contract_violations: int = 0
    """Errors that are not ``{"error": "..."}`` JSON, mention a traceback, or lack the security headers."""
    statuses: Counter[int] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"requests": self.requests, "server_errors": self.server_errors,
                "schema_violations": self.schema_violations, "contract_violations": self.contract_violations,
                "statuses": {str(code): n for code, n in sorted(self.statuses.items())}, "samples": self.samples}


def contract_problem(response: Response) -> str | None:
    """Why this answer breaks the API's own error contract, or None (schemathesis' response: header
    values are lists)."""
    if response.headers.get("x-content-type-options") != ["nosniff"]:
        return "no X-Content-Type-Options: nosniff"
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            return "an error that is not JSON"
        if not isinstance(body, dict) or not isinstance(body.get("error"), str) or not body["error"]:
            return "an error without an 'error' string"
        if "Traceback" in response.text:
            return "a traceback in the answer"
    return None


def schema_problem(case, response: Response) -> str | None:  # noqa: ANN001 - a schemathesis Case
    """The first way the answer contradicts the OpenAPI schema (status code, content type, body), or None."""
    from schemathesis.core.failures import Failure, FailureGroup
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    try:
        case.validate_response(response, checks=[status_code_conformance, content_type_conformance,
                                                 response_schema_conformance])
    except (Failure, FailureGroup) as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def fuzz_operation(operation, api: LiveApi, examples: int, result: OperationResult) -> None:  # noqa: ANN001
    """``examples`` generated inputs per generation mode (valid, then schema-breaking) against one
    operation, every answer recorded in ``result``. Findings are counted, not raised, so that one
    bad answer does not stop the run (and Hypothesis does not spend the budget shrinking it)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.generation import GenerationMode

    def send(case) -> None:  # noqa: ANN001
        response = case.call(headers={"X-API-Key": api.key}, timeout=30)
        result.requests += 1
        result.statuses[response.status_code] += 1
        problems = []
        if response.status_code >= 500:
            result.server_errors += 1
            problems.append(f"{response.status_code}: {response.text[:200]}")
        contract = contract_problem(response)
        if contract:
            result.contract_violations += 1
            problems.append(contract)
        schema = schema_problem(case, response)
        if schema:
            result.schema_violations += 1
            problems.append(f"schema: {schema}")
        if problems and len(result.samples) < MAX_SAMPLES:
            result.samples.append(f"{'; '.join(problems)} <- {case.as_curl_command()}")

    for mode in GenerationMode:
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case) -> None:  # noqa: ANN001
            send(case)

        with contextlib.suppress(Unsatisfiable):  # nothing to break on purpose: no parameters, no body
            run()


def fuzz_api(api: LiveApi, examples: int) -> dict[str, OperationResult]:
    """Every operation of the live schema, fuzzed; keyed ``"METHOD /path"``."""
    import schemathesis

    schema = schemathesis.openapi.from_url(f"{api.base}/openapi.json")
    results: dict[str, OperationResult] = {}
    for operation in (entry.ok() for entry in schema.get_all_operations()):
        result = results.setdefault(f"{operation.method.upper()} {operation.path}", OperationResult())
        fuzz_operation(operation, api, examples, result)
    return results


def log_tracebacks(log: Path) -> int:
    """Unhandled errors the server logged (each is a 500 somebody could trigger)."""
    text = log.read_text(errors="replace")
    return text.count("Traceback") + text.count("unhandled error")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100,
                        help="generated inputs per operation and generation mode (default 100)")
    parser.add_argument("--fake", action="store_true", help="serve the tests' fake pipeline (no TensorFlow)")
    parser.add_argument("--output", type=Path, default=ROOT / "reports" / "fuzz.json")
    args = parser.parse_args(argv)
    if args.examples < 1:
        parser.error("--examples must be positive")
    import hypothesis
    import schemathesis

    app = FAKE_APP if args.fake else REAL_APP
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="fuzz_") as tmp, live_api(Path(tmp), app) as api:
        started = time.monotonic()
        results = fuzz_api(api, args.examples)
        duration = time.monotonic() - started
        load_end = os.getloadavg()
        tracebacks = log_tracebacks(api.log)

    totals = {name: sum(getattr(r, name) for r in results.values())
              for name in ("requests", "server_errors", "schema_violations", "contract_violations")}
    report = {
        "benchmark": "fuzz: schemathesis against a live uvicorn",
        "command": "python -m benchmarks.fuzz " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "pipeline": "fake" if args.fake else "real",
        "examples_per_operation_and_mode": args.examples,
        "generation_modes": ["positive", "negative"],
        "operations": len(results),
        **{f"total_{name}": n for name, n in totals.items()},
        "server_log_tracebacks": tracebacks,
        "duration_s": round(duration, 1),
        "requests_per_second": round(totals["requests"] / duration, 1) if duration else None,
        "load_average": {"start": [round(v, 2) for v in load_start], "end": [round(v, 2) for v in load_end],
                         "cpu_count": os.cpu_count()},
        "versions": {"schemathesis": schemathesis.__version__, "hypothesis": hypothesis.__version__,
                     "python": platform.python_version()},
        "per_operation": {name: result.as_dict() for name, result in sorted(results.items())},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "per_operation"}, indent=2))
    bad = totals["server_errors"] + totals["schema_violations"] + totals["contract_violations"] + tracebacks
    print("fuzz passed" if not bad else f"fuzz FAILED: {bad} finding(s), see {args.output}", file=sys.stderr)
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
