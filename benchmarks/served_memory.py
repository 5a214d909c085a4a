"""What a worker costs when it serves the registry's models: ``python -m benchmarks.served_memory``.

Why: the other API benchmarks serve the pipeline alone (``MODEL_SOURCE=packaged``), so their memory
figures leave out the age-gender model, and loading that model's pyfunc imports Keras on
TensorFlow. This starts a real MLflow server (SQLite store, a temporary folder), registers the
committed baselines (``scripts.bootstrap_registry --baseline``), and then starts a real uvicorn
(one worker, ``MODEL_SOURCE=registry``) once per ``AGE_GENDER_RUNTIME``, in turn, ``--rounds``
times: ``pyfunc`` (Keras on TensorFlow), ``openvino`` on a fresh model cache (the first start
converts the Keras file) and ``openvino`` again on the same cache (a restart reads the IR). Each
server gets ``--requests`` sequential ``/analyze`` calls of a 640x480 photo with one face; the
report (``reports/served_memory.json``) gives, per start: seconds to ready, the worker's resident
memory after the calls and at its peak, whether ``libtensorflow`` is mapped into it, the median
``/analyze`` latency and the age and gender it answered (the runtimes must agree)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from .api_load import DEFAULT_DATA, PROBE, lfw_path, padded_photo, wait_ready, worker_memory_mb
from .latency import load_average
from .processes import free_port, stop_group

ROOT = Path(__file__).resolve().parents[1]
STARTS = (("pyfunc", "pyfunc"), ("openvino", "openvino-fresh-cache"), ("openvino", "openvino-cached"))


def mlflow_server(folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    argv = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
            "--serve-artifacts", "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1"]
    log = open(folder / "mlflow.log", "wb")  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"error: mlflow server exited: {(folder / 'mlflow.log').read_text()[-500:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop_group(process)
    raise SystemExit("error: mlflow server not healthy within 240 s")


def tensorflow_mapped(pid: int) -> bool:
    """Whether TensorFlow's shared library is mapped into the process (it was imported)."""
    try:
        return "libtensorflow" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def one_start(runtime: str, label: str, tracking_uri: str, cache: Path, folder: Path, photo: bytes,
              requests: int) -> dict:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "DATABASE_URL": f"sqlite:///{folder / f'{label}.db'}",
           "API_KEYS_ENABLED": "false", "RATE_LIMIT_ENABLED": "false", "MODEL_SOURCE": "registry",
           "MLFLOW_TRACKING_URI": tracking_uri, "MODEL_CACHE_DIR": str(cache), "AGE_GENDER_RUNTIME": runtime,
           "MODEL_REFRESH_SECONDS": "0"}
    command = [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1", "--log-level", "warning"]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    try:
        ready = wait_ready(base, process, timeout=600)
        ready_s = time.perf_counter() - started
        times, answers = [], []
        with httpx.Client(timeout=120) as client:
            for _ in range(requests):
                began = time.perf_counter()
                response = client.post(f"{base}/analyze", files={"file": ("probe.jpg", photo, "image/jpeg")})
                times.append(time.perf_counter() - began)
                response.raise_for_status()
                face = response.json()["faces"][0]
                answers.append((face.get("age"), face.get("gender")))
        memory = worker_memory_mb(process.pid)
        return {
            "start": label, "age_gender_runtime": runtime, "ready_s": round(ready_s, 1),
            "served_versions": ready.get("model_versions"),
            "worker": memory, "rss_mb": max(m["rss_mb"] for m in memory.values()),
            "peak_rss_mb": max(m["peak_rss_mb"] for m in memory.values()),
            "tensorflow_mapped": any(tensorflow_mapped(int(pid)) for pid in memory),
            "analyze_median_ms": round(1000 * statistics.median(times[1:] or times), 1),
            "requests": requests, "age": answers[-1][0], "gender": answers[-1][1],
            "answers_constant": len(set(answers)) == 1,
        }
    finally:
        stop_group(process)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.served_memory", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding lfw/")
    parser.add_argument("--requests", type=int, default=20, help="sequential /analyze calls per start")
    parser.add_argument("--rounds", type=int, default=2, help="times each kind of start is repeated, in turn")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "served_memory.json")
    args = parser.parse_args(argv)
    photo_path = lfw_path(args.data, *PROBE)
    if not photo_path.is_file():
        parser.error(f"{photo_path} not found: point --data (or DATA_DIR) at the folder holding lfw/")
    if args.requests < 2 or args.rounds < 1:
        parser.error("--requests must be at least 2 and --rounds at least 1")
    photo = padded_photo(photo_path)
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="served_memory_") as tmp:
        folder = Path(tmp)
        server, uri = mlflow_server(folder)
        try:
            done = subprocess.run([sys.executable, "-m", "scripts.bootstrap_registry", "--baseline"], cwd=ROOT,
                                  env={**os.environ, "MLFLOW_TRACKING_URI": uri, "TF_CPP_MIN_LOG_LEVEL": "2"},
                                  capture_output=True, text=True, timeout=900)
            if done.returncode != 0:
                raise SystemExit(f"error: bootstrap_registry --baseline failed: {done.stderr.strip()[-500:]}")
            starts = []
            for round_ in range(args.rounds):
                for runtime, label in STARTS:
                    cache = folder / f"model-cache-{runtime}-{round_}"
                    starts.append({"round": round_, **one_start(runtime, label, uri, cache, folder, photo,
                                                                args.requests)})
                    print(json.dumps({k: starts[-1][k] for k in ("start", "ready_s", "rss_mb", "tensorflow_mapped",
                                                                  "analyze_median_ms", "age", "gender")}))
        finally:
            stop_group(server)

    def median_of(label: str, key: str) -> float:
        return round(statistics.median(s[key] for s in starts if s["start"] == label), 1)

    summary = {label: {key: median_of(label, key) for key in ("rss_mb", "peak_rss_mb", "ready_s", "analyze_median_ms")}
               for _, label in STARTS}
    summary["rss_saved_mb"] = round(summary["pyfunc"]["rss_mb"] - summary["openvino-cached"]["rss_mb"], 1)
    ages = {s["start"]: s["age"] for s in starts}
    report = {
        "benchmark": "worker memory serving the registry's models, age-gender on its pyfunc vs OpenVINO",
        "command": "python -m benchmarks.served_memory " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "load_average": {"before": load_before, "after": load_average()},
        "photo": f"LFW {PROBE[0]}_{PROBE[1]:04d} padded to 640x480",
        "served": "the committed baselines, registered by scripts.bootstrap_registry --baseline",
        "summary_medians": summary,
        "same_answers": len({(s["gender"], round(s["age"], 1)) for s in starts}) == 1,
        "ages": ages,
        "starts": starts,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
