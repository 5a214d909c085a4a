"""Schemathesis against a live uvicorn (the real app, the fake pipeline): whatever its generator
sends to any operation, valid or not, the answer is never a 5xx, a hang, a non-JSON error, an
answer without the security headers, or one the OpenAPI schema does not describe.

Bounded for the test suite (``FUZZ_EXAMPLES``, default 15 per operation and mode); the server launch
and the run are ``benchmarks.fuzz``'s, whose report (``make fuzz``) runs many more."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from benchmarks.fuzz import FAKE_APP, LiveApi, contract_problem, fuzz_api, live_api, log_tracebacks, schema_problem

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[LiveApi]:
    with live_api(tmp_path_factory.mktemp("fuzz"), FAKE_APP, ready_timeout=60) as api:
        yield api


def test_no_input_gives_a_5xx_a_schema_violation_or_a_non_json_error(live):
    # Hypothesis driven directly (schemathesis' own pytest plugin does not support this pytest yet).
    results = fuzz_api(live, EXAMPLES)
    assert len(results) >= 9
    assert all(result.requests > 0 for result in results.values()), results
    findings = {name: result.samples for name, result in results.items()
                if result.server_errors or result.schema_violations or result.contract_violations}
    assert not findings, findings
    log = live.log.read_text()
    assert log_tracebacks(live.log) == 0, log[-3000:]


def test_the_checks_can_fail(live):
    """Each check flags what it must: a plain-text 500 without the security headers breaks the error
    contract, and a real answer whose body was changed breaks the schema; the real answer passes both."""
    import requests
    import schemathesis
    from schemathesis.core.transport import Response

    answered = requests.get(f"{live.base}/stats", headers={"X-API-Key": live.key}, timeout=30)
    assert answered.status_code == 200
    real = Response.from_requests(answered, verify=True)
    case = schemathesis.openapi.from_url(f"{live.base}/openapi.json")["/stats"]["GET"].Case()
    assert contract_problem(real) is None and schema_problem(case, real) is None
    plain = Response(500, {"content-type": ["text/plain"]}, b"Internal Server Error", answered.request, 0.0, True)
    assert contract_problem(plain) == "no X-Content-Type-Options: nosniff"
    wrong = Response(200, real.headers, b'{"people": "many"}', answered.request, 0.0, True)
    assert schema_problem(case, wrong) is not None
