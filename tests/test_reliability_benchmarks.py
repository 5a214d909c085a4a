"""The three reliability benchmarks run end to end, briefly and on the fake pipeline, so that the
commands their committed reports name keep working and their reports keep the figures
docs/reliability.md quotes: real uvicorn, real MariaDB (the fault benchmark's own); 1-2 min."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.mariadb import available as mariadb_available

ROOT = Path(__file__).resolve().parents[1]


def run_benchmark(module: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.skipif(not mariadb_available(), reason="needs mariadbd and mariadb-install-db")
def test_fault_benchmark_measures_503s_recovery_and_enrollments(tmp_path):
    output = tmp_path / "fault.json"
    done = run_benchmark("benchmarks.fault", "--fake", "--baseline", "3", "--fault", "6", "--settle", "2",
                         "--output", str(output))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["command"].startswith("python -m benchmarks.fault --fake")
    assert report["recovered_within_target"] is True
    assert 0 < report["recovery_after_sigcont_s"] <= 5 and 0 < report["recovery_after_restart_s"] <= 5
    stopped = report["phases"]["stopped"]
    assert stopped["wholly_inside_fault"]["statuses"].get("503", 0) > 0 and not stopped["problems"]
    assert set(report["in_flight_during_fault"]) == {"frozen", "stopped"}
    assert report["in_flight_during_fault"]["frozen"]["latency_ms"]["max"] >= 1000 * report["configured"][
        "database_timeouts_s"] * 0.9  # something did wait for the frozen server's timeout
    enrollments = report["enrollments"]
    assert enrollments["before_faults"] == 5 and enrollments["lost"] == [] and enrollments["duplicated"] == []
    # A registration in flight when the database froze may commit after its client timed out: present,
    # never acknowledged, and allowed; one that was answered with an error yet committed is not.
    assert enrollments["committed_though_refused"] == []
    assert enrollments["after"] == enrollments["before_faults"] + enrollments["acknowledged_during_run"] + len(
        enrollments["committed_without_an_answer"])
    assert len(report["load_average"]["start"]) == 3


def test_soak_benchmark_reports_each_route_and_the_load(tmp_path):
    output = tmp_path / "soak.json"
    done = run_benchmark("benchmarks.soak", "--fake", "--duration", "6", "--clients", "2", "--output", str(output))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(output.read_text())
    routes = report["latency_ms_per_route"]
    assert set(routes) == {"register", "analyze", "verify", "search", "delete", "hostile"}
    assert sum(route["requests"] for route in routes.values()) == report["requests"]
    assert all(routes[name]["requests"] > 0 and routes[name]["p50"] <= routes[name]["p95"]
               for name in ("analyze", "search"))
    load = report["load_average"]
    assert load["max_1min"] >= max(load["start"][0], load["end"][0])


def test_fuzz_benchmark_counts_per_operation(tmp_path):
    output = tmp_path / "fuzz.json"
    done = run_benchmark("benchmarks.fuzz", "--fake", "--examples", "3", "--output", str(output))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["operations"] >= 9 and report["total_server_errors"] == 0
    assert report["total_requests"] == sum(op["requests"] for op in report["per_operation"].values())
    assert report["per_operation"]["GET /stats"]["statuses"] == {"200": report["per_operation"]["GET /stats"]
                                                                 ["requests"]}
    assert report["versions"]["schemathesis"] and report["command"] == (
        f"python -m benchmarks.fuzz --fake --examples 3 --output {output}")


def test_the_benchmarks_refuse_bad_arguments_in_one_line():
    for module, args in (("benchmarks.fuzz", ["--examples", "0"]), ("benchmarks.fault", ["--fault", "-1"]),
                         ("benchmarks.soak", ["--clients", "0"])):
        done = run_benchmark(module, *args, timeout=60)
        assert done.returncode == 2, (module, done.stderr)
        assert done.stderr.strip().splitlines()[-1].startswith(f"python -m {module}: error:"), done.stderr
