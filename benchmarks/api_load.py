"""Load test of ``POST /analyze``: ``python -m benchmarks.api_load --clients 4 --duration 30``.

Starts a real uvicorn on loopback (its own SQLite database in a temporary folder unless
``--database-url`` is given), enrolls a gallery of ``--gallery`` people — one real person through
``/register`` and the rest as synthetic random unit vectors written straight into the database, which
costs the matcher exactly what real embeddings would — then drives ``--clients`` concurrent HTTP
clients for ``--duration`` seconds with a 640x480 photo holding one face (an LFW photo padded), and
writes requests per second and latency percentiles to ``reports/api_load.json``."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from .processes import free_port, stop_group

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("DATA_DIR", ROOT.parent / "shared" / "data"))
REAL_PERSON = ("George W Bush", "George_W_Bush", 1)
PROBE = ("George_W_Bush", 2)


def lfw_path(data: Path, folder: str, index: int) -> Path:
    return data / "lfw" / "images" / folder / f"{folder}_{index:04d}.jpg"


def padded_photo(path: Path, size: tuple[int, int] = (640, 480)) -> bytes:
    """The LFW photo centred on a plain 640x480 canvas, as a JPEG."""
    face = Image.open(path).convert("RGB")
    canvas = Image.new("RGB", size, (128, 128, 128))
    canvas.paste(face, ((size[0] - face.width) // 2, (size[1] - face.height) // 2))
    buffer = io.BytesIO()
    canvas.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()



def wait_ready(base: str, process: subprocess.Popen, timeout: float = 300.0, headers: dict | None = None) -> dict:
    """The /ready body once ready; pass an API key in ``headers`` to get its details (model versions)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("error: uvicorn exited before it was ready (see the log above)")
        try:
            response = httpx.get(f"{base}/ready", timeout=5, headers=headers)
            if response.status_code == 200:
                return response.json()
            error = response.json().get("error", "") if headers else ""
            if error.startswith("The models failed to load"):
                raise SystemExit(f"error: the API will not be ready: {error}")
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    raise SystemExit(f"error: the API was not ready within {timeout:.0f} s")


def enrolled_dim(database_url: str) -> int:
    """The width of the descriptor the server stored for the real person (640 for the fused one)."""
    from sqlalchemy import select

    from api.db.engine import make_engine, make_session_factory
    from api.db.models import FaceEmbeddingRow

    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            return int(session.execute(select(FaceEmbeddingRow.dim)).scalars().first())
    finally:
        engine.dispose()


def worker_memory_mb(pid: int) -> dict:
    """Resident memory now and at its peak of the uvicorn process and each worker, in MiB."""
    import psutil

    def peak(proc) -> float:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024.0, 1)
        except OSError:
            pass
        return float("nan")

    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    return {str(p.pid): {"rss_mb": round(p.memory_info().rss / 2**20, 1), "peak_rss_mb": peak(p),
                         "cmd": " ".join(p.cmdline()[:4])} for p in procs}


def seed_gallery(database_url: str, synthetic: int, embedder_version: str, dim: int, seed: int = 0) -> None:
    """Insert ``synthetic`` people with one random unit-vector face each, then bump the gallery revision."""
    from sqlalchemy import insert

    from api.db.engine import make_engine, make_session_factory
    from api.db.models import FaceEmbeddingRow, Person, utcnow
    from api.services.gallery import bump_revision
    from api.services.vectors import normalize_rows, to_bytes

    rng = np.random.default_rng(seed)
    vectors = normalize_rows(rng.normal(size=(synthetic, dim)))
    engine = make_engine(database_url)
    now = utcnow()
    with make_session_factory(engine).begin() as session:
        session.execute(
            insert(Person),
            [
                {"name": f"Synthetic {i:05d}", "name_key": f"synthetic {i:05d}", "created_at": now}
                for i in range(synthetic)
            ],
        )
        ids = session.query(Person.id).filter(Person.name_key.like("synthetic %")).order_by(Person.id).all()
        session.execute(
            insert(FaceEmbeddingRow),
            [
                {
                    "person_id": pid,
                    "vector": to_bytes(vector),
                    "dim": dim,
                    "embedder_version": embedder_version,
                    "image_sha256": f"synthetic-{pid}",
                    "face_index": 0,
                    "box_x": 0,
                    "box_y": 0,
                    "box_width": 160,
                    "box_height": 160,
                    "created_at": now,
                }
                for (pid,), vector in zip(ids, vectors)
            ],
        )
        bump_revision(session)
    engine.dispose()


def make_key(database_url: str, role: str) -> str:
    from api.db.engine import make_engine, make_session_factory, upgrade_database
    from api.security import create_key

    engine = make_engine(database_url)
    upgrade_database(engine)
    with make_session_factory(engine).begin() as session:
        key, _ = create_key(session, role, "api_load benchmark")
    engine.dispose()
    return key


async def drive(base: str, photo: bytes, headers: dict, clients: int, duration: float, warmup: float) -> dict:
    """``clients`` loops posting the photo; only requests started after the warm-up are counted."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    start = time.perf_counter()
    measure_from = start + warmup
    stop = measure_from + duration

    async def client_loop() -> None:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
            while True:
                sent = time.perf_counter()
                if sent >= stop:
                    return
                try:
                    response = await client.post("/analyze", files={"file": ("photo.jpg", photo, "image/jpeg")})
                    ok = response.status_code == 200 and len(response.json()["faces"]) == 1
                    label = "ok" if ok else f"status {response.status_code}"
                except httpx.HTTPError as exc:
                    label = type(exc).__name__
                done = time.perf_counter()
                if sent >= measure_from:
                    if label == "ok":
                        latencies.append((done - sent) * 1000.0)
                    else:
                        errors[label] = errors.get(label, 0) + 1

    await asyncio.gather(*(client_loop() for _ in range(clients)))
    elapsed = time.perf_counter() - measure_from
    values = np.asarray(latencies) if latencies else np.zeros(1)
    return {
        "requests": len(latencies),
        "errors": errors,
        "measured_s": round(elapsed, 2),
        "requests_per_s": round(len(latencies) / elapsed, 2),
        "latency_ms": {
            "p50": round(float(np.percentile(values, 50)), 1),
            "p95": round(float(np.percentile(values, 95)), 1),
            "p99": round(float(np.percentile(values, 99)), 1),
            "mean": round(float(values.mean()), 1),
            "max": round(float(values.max()), 1),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api_load", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients (default 4)")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds (default 30)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before measuring (default 5)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    parser.add_argument("--gallery", type=int, default=1000, help="enrolled people (default 1000)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding lfw/ (default DATA_DIR)")
    parser.add_argument("--database-url", help="use this database instead of a temporary SQLite file")
    parser.add_argument("--output", type=Path, default=ROOT / "reports" / "api_load.json")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.duration <= 0 or args.gallery < 1 or args.workers < 1:
        parser.error("--clients, --duration, --gallery and --workers must be positive")
    real_photo = lfw_path(args.data, *REAL_PERSON[1:])
    probe_path = lfw_path(args.data, *PROBE)
    for path in (real_photo, probe_path):
        if not path.is_file():
            parser.error(f"{path} not found: point --data (or DATA_DIR) at the folder holding lfw/")

    with tempfile.TemporaryDirectory(prefix="api_load_") as tmp:
        database_url = args.database_url or f"sqlite:///{Path(tmp) / 'face_api.db'}"
        admin_key = make_key(database_url, "admin")
        read_key = make_key(database_url, "read")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "DATABASE_URL": database_url,
               "API_KEYS_ENABLED": "true", "RATE_LIMIT_ENABLED": "false"}  # measure the service, not the throttle
        command = [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port),
                   "--workers", str(args.workers), "--log-level", "warning"]
        print(f"starting {shlex.join(command[2:])}", file=sys.stderr)
        process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
        try:
            ready = wait_ready(base, process, headers={"X-API-Key": read_key})
            versions = ready["model_versions"]
            registered = httpx.post(
                f"{base}/register",
                files={"file": ("p.jpg", real_photo.read_bytes())},
                data={"person_name": REAL_PERSON[0]},
                headers={"X-API-Key": admin_key},
                timeout=120,
            )
            if registered.status_code not in (200, 201):
                raise SystemExit(f"error: registering the real person failed: {registered.text}")
            seed_gallery(database_url, args.gallery - 1, versions["embedder"], enrolled_dim(database_url))
            photo = padded_photo(probe_path)
            check = httpx.post(f"{base}/analyze", files={"file": ("p.jpg", photo)}, headers={"X-API-Key": read_key},
                               timeout=120).json()
            identity = check["faces"][0]["identity"] if check.get("faces") else None
            print(f"gallery: {args.gallery} people; probe answered as {identity!r}", file=sys.stderr)
            result = asyncio.run(drive(base, photo, {"X-API-Key": read_key}, args.clients, args.duration, args.warmup))
            stats = httpx.get(f"{base}/stats", headers={"X-API-Key": read_key}, timeout=30).json()
            memory = worker_memory_mb(process.pid)
        finally:
            stop_group(process)

    report = {
        "benchmark": "POST /analyze under concurrent load",
        "command": "python -m benchmarks.api_load " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "server": {"uvicorn_workers": args.workers, "database": database_url.split(":")[0], "api_keys": True,
                   "memory_after_load": memory},
        "clients": args.clients,
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        "photo": {
            "size": [640, 480],
            "faces": 1,
            "source": f"LFW {PROBE[0]}_{PROBE[1]:04d} padded",
            "bytes": len(photo),
        },
        "gallery": {
            "people": stats["persons"],
            "real": 1,
            "synthetic": args.gallery - 1,
            "note": "synthetic people are random unit vectors inserted into the database (same matching cost)",
        },
        "probe_identity": identity,
        "model_versions": versions,
        **result,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    latency = result["latency_ms"]
    print(
        f"{result['requests_per_s']} requests/s over {result['measured_s']} s with {args.clients} clients; "
        f"latency p50 {latency['p50']} ms, p95 {latency['p95']} ms, p99 {latency['p99']} ms; "
        f"errors {result['errors'] or 'none'} -> {args.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
