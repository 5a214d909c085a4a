"""Soak test: ``python -m benchmarks.soak --duration 600 --clients 6`` (not run by the test suite).

Starts a real ``uvicorn --workers 2`` on loopback (its own SQLite database unless ``--database-url``)
and drives a mix for ``--duration`` seconds: analyses of a known face and of strangers, enrol-then-
delete cycles, verifications, name searches, and hostile requests (truncated and non-image files,
two ``file`` parts, wrong keys, absurd pages, control characters in names). Every ~5 s it samples
the workers' resident memory. At the end it checks that nothing answered 5xx other than 503, that
the enrolled people are exactly those expected, and writes ``reports/soak.json`` (status counts,
latency percentiles overall and per route, memory at start, peak and end per worker, and the
machine's load average at start, end and its maximum, since on shared cores latency means little
without it). ``--fake`` serves the fake pipeline
of the tests (no TensorFlow), to soak the HTTP, database and limit layers alone."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

from benchmarks.api_load import DEFAULT_DATA, free_port, lfw_path, make_key, padded_photo, wait_ready
from benchmarks.mariadb import ensure_database

from .processes import stop_group

ROOT = Path(__file__).resolve().parents[1]
KNOWN = ("Soak Known", "Colin_Powell", 1)
PROBE = ("Colin_Powell", 2)
STRANGERS = [("Tony_Blair", 1), ("Serena_Williams", 2), ("Hugo_Chavez", 1)]
CYCLE = ("Gerhard_Schroeder", 1)
# The route each kind of request exercises, for the per-route percentiles; hostile kinds go under
# "hostile" so that refusals in microseconds do not flatter the real routes' figures.
ROUTE_OF_KIND = {"analyze": "analyze", "stranger": "analyze", "register": "register", "delete": "delete",
                 "verify": "verify", "search": "search"}
ROUTES = ("register", "analyze", "verify", "search", "delete")


def worker_memory(parent: int) -> dict[int, int]:
    """Resident memory (bytes) of each child of ``parent`` (the uvicorn workers), from /proc."""
    sizes: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("PPid", "").strip() == str(parent) and "VmRSS" in fields:
            sizes[int(entry.name)] = int(fields["VmRSS"].split()[0]) * 1024
    return sizes


class Soak:
    def __init__(self, base: str, photos: dict[str, bytes], admin: str, read: str, fake: bool = False) -> None:
        self.base = base
        self.fake = fake  # the fake pipeline decodes nothing: bad image files are not refused
        self.photos = photos
        self.admin = {"X-API-Key": admin}
        self.read = {"X-API-Key": read}
        self.statuses: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.route_latencies: dict[str, list[float]] = {}
        self.bad: list[str] = []
        self.cycles = 0

    def note(self, kind: str, response: httpx.Response, started: float, expected: tuple[int, ...]) -> None:
        elapsed = time.perf_counter() - started
        self.latencies.append(elapsed)
        self.route_latencies.setdefault(ROUTE_OF_KIND.get(kind, "hostile"), []).append(elapsed)
        self.statuses[f"{kind} {response.status_code}"] += 1
        if response.status_code >= 500 and response.status_code != 503:
            self.bad.append(f"{kind}: {response.status_code} {response.text[:200]}")
        elif response.status_code not in (*expected, 429, 503):
            self.bad.append(f"{kind}: unexpected {response.status_code} {response.text[:200]}")

    async def one(self, client: httpx.AsyncClient, rng: random.Random) -> None:
        kind = rng.choices(["analyze", "stranger", "cycle", "verify", "search", "hostile"], [4, 3, 1, 2, 2, 2])[0]
        started = time.perf_counter()
        if kind == "analyze":
            response = await client.post("/analyze", files={"file": ("p.jpg", self.photos["probe"])}, headers=self.read)
            self.note(kind, response, started, (200,))
        elif kind == "stranger":
            photo = self.photos[f"stranger{rng.randrange(len(STRANGERS))}"]
            response = await client.post("/analyze", files={"file": ("p.jpg", photo)}, headers=self.read)
            self.note(kind, response, started, (200,))
        elif kind == "cycle":
            name = f"Soak Cycle {rng.randrange(10**9)}"
            response = await client.post("/register", files={"file": ("p.jpg", self.photos["cycle"])},
                                         data={"person_name": name}, headers=self.admin)
            self.note("register", response, started, (201,))
            if response.status_code == 201:
                started = time.perf_counter()  # the delete's own latency, not register + delete
                deleted = await client.delete(f"/persons/{response.json()['person_id']}", headers=self.admin)
                self.note("delete", deleted, started, (200,))
                self.cycles += deleted.status_code == 200
        elif kind == "verify":
            response = await client.post("/verify", files={"file": ("p.jpg", self.photos["probe"])},
                                         data={"person_name": KNOWN[0]}, headers=self.read)
            self.note(kind, response, started, (200,))
        elif kind == "search":
            response = await client.get("/search", params={"name": "soak", "page": rng.randint(1, 3)},
                                        headers=self.read)
            self.note(kind, response, started, (200,))
        else:
            await self.hostile(client, rng, started)

    async def hostile(self, client: httpx.AsyncClient, rng: random.Random, started: float) -> None:
        probe = self.photos["probe"]
        choice = rng.randrange(6)
        if choice == 0:
            response = await client.post("/analyze", files={"file": ("p.jpg", probe[: len(probe) // 2])},
                                         headers=self.read)
            self.note("truncated", response, started, (200, 422) if self.fake else (422,))
        elif choice == 1:
            response = await client.post("/analyze", files={"file": ("p.jpg", b"not an image\n")}, headers=self.read)
            self.note("text", response, started, (200, 415) if self.fake else (415,))
        elif choice == 2:
            response = await client.post("/analyze", files=[("file", ("a.jpg", probe)), ("file", ("b.jpg", probe))],
                                         headers=self.read)
            self.note("two-files", response, started, (422,))
        elif choice == 3:
            response = await client.get("/stats", headers={"X-API-Key": f"fah_{rng.randrange(10**8):08d}_guess"})
            self.note("wrong-key", response, started, (401,))
        elif choice == 4:
            response = await client.get("/search", params={"page": "1" + "0" * 30}, headers=self.read)
            self.note("huge-page", response, started, (422,))
        else:
            response = await client.post("/register", files={"file": ("p.jpg", probe)},
                                         data={"person_name": "Eve\u202e\x00"}, headers=self.admin)
            self.note("bad-name", response, started, (422,))

    async def client_loop(self, seed: int, until: float) -> None:
        rng = random.Random(seed)
        async with httpx.AsyncClient(base_url=self.base, timeout=120) as client:
            while time.monotonic() < until:
                await self.one(client, rng)


async def run(soak: Soak, clients: int, duration: float, parent: int) -> list[dict]:
    until = time.monotonic() + duration
    samples: list[dict] = []

    async def sampler() -> None:
        while time.monotonic() < until:
            samples.append({"t": round(time.monotonic() - (until - duration), 1), "rss": worker_memory(parent),
                            "load": os.getloadavg()})
            await asyncio.sleep(5)

    await asyncio.gather(sampler(), *(soak.client_loop(seed, until) for seed in range(clients)))
    return samples


def memory_summary(samples: list[dict]) -> dict[str, dict[str, float]]:
    mib = 1024 * 1024
    out: dict[str, dict[str, float]] = {}
    for pid in sorted({pid for sample in samples for pid in sample["rss"]}):
        series = [sample["rss"][pid] for sample in samples if pid in sample["rss"]]
        out[str(pid)] = {"start_mib": round(series[0] / mib, 1), "peak_mib": round(max(series) / mib, 1),
                         "end_mib": round(series[-1] / mib, 1)}
    return out


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds (empty when nothing was measured)."""
    if not seconds:
        return {}
    values = np.array(seconds) * 1000.0
    return {p: round(float(np.percentile(values, q)), 1) for p, q in (("p50", 50), ("p95", 95), ("p99", 99),
                                                                       ("max", 100))}


def load_summary(start: tuple[float, float, float], samples: list[dict],
                 end: tuple[float, float, float]) -> dict[str, object]:
    """1-minute load average at start, end and its maximum over the run (all three averages at start/end)."""
    one_minute = [start[0], *(sample["load"][0] for sample in samples if "load" in sample), end[0]]
    return {"start": [round(v, 2) for v in start], "end": [round(v, 2) for v in end],
            "max_1min": round(max(one_minute), 2), "cpu_count": os.cpu_count()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of traffic (default 600)")
    parser.add_argument("--clients", type=int, default=6, help="concurrent clients (default 6)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (default 2)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding lfw/ (default DATA_DIR)")
    parser.add_argument("--database-url", help="use this database (fresh; made if missing on MySQL/MariaDB) "
                                               "instead of a temporary SQLite file")
    parser.add_argument("--fake", action="store_true", help="serve the tests' fake pipeline (no TensorFlow)")
    parser.add_argument("--output", type=Path, default=ROOT / "reports" / "soak.json")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.clients < 1 or args.workers < 1:
        parser.error("--duration, --clients and --workers must be positive")
    paths = {"known": lfw_path(args.data, *KNOWN[1:]), "probe": lfw_path(args.data, *PROBE),
             "cycle": lfw_path(args.data, *CYCLE),
             **{f"stranger{i}": lfw_path(args.data, *s) for i, s in enumerate(STRANGERS)}}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        parser.error(f"{missing[0]} not found: point --data (or DATA_DIR) at the folder holding lfw/")
    if args.fake:  # byte 0: one face; the rest names the face
        photos = {name: b"\x01" + name.encode() for name in paths}
        photos["probe"] = photos["known"]
    else:
        photos = {name: padded_photo(path) for name, path in paths.items()}

    with tempfile.TemporaryDirectory(prefix="soak_") as tmp:
        database_url = args.database_url or f"sqlite:///{Path(tmp) / 'face_api.db'}"
        try:
            ensure_database(database_url)  # the documented command on a fresh MariaDB
        except RuntimeError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        admin, read = make_key(database_url, "admin"), make_key(database_url, "read")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "DATABASE_URL": database_url,
               "API_KEYS_ENABLED": "true", "MODEL_SOURCE": "packaged",
               # The hostile share includes wrong keys: keep the soak's own address from being shut out.
               "RATE_LIMIT_FAILED_KEYS": "100000/minute", "RATE_LIMIT_PER_ADDRESS": "100000/minute",
               "RATE_LIMIT_PER_KEY_HOLDER": "100000/minute"}
        app = "tests.fake_app:app" if args.fake else "api.main:app"
        command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
                   "--workers", str(args.workers), "--log-level", "warning"]
        print(f"starting {shlex.join(command[2:])}", file=sys.stderr)
        process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
        try:
            wait_ready(base, process)
            known = httpx.post(f"{base}/register", files={"file": ("p.jpg", photos["known"])},
                               data={"person_name": KNOWN[0]}, headers={"X-API-Key": admin}, timeout=120)
            if known.status_code != 201:  # 200: already there, so the ledger would not add up
                raise SystemExit(f"error: enrolling the known person answered {known.status_code} (the soak needs a "
                                 f"fresh database: drop one an earlier run left): {known.text[:200]}")
            soak = Soak(base, photos, admin, read, fake=args.fake)
            load_start = os.getloadavg()
            samples = asyncio.run(run(soak, args.clients, args.duration, process.pid))
            load_end = os.getloadavg()
            people = httpx.get(f"{base}/search", params={"name": "soak", "page_size": 100},
                               headers={"X-API-Key": read}, timeout=30).json()
        finally:
            stop_group(process)

    left = [r["name"] for r in people["results"]]
    report = {
        "benchmark": "soak: mixed and hostile traffic against uvicorn",
        "command": "python -m benchmarks.soak " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "pipeline": "fake" if args.fake else "real",
        "workers": args.workers,
        "clients": args.clients,
        "duration_s": args.duration,
        "requests": int(sum(soak.statuses.values())),
        "statuses": dict(sorted(soak.statuses.items())),
        "latency_ms": percentiles_ms(soak.latencies),
        "latency_ms_per_route": {route: {"requests": len(soak.route_latencies.get(route, [])),
                                         **percentiles_ms(soak.route_latencies.get(route, []))}
                                 for route in (*ROUTES, "hostile")},
        "load_average": load_summary(load_start, samples, load_end),
        "enrol_delete_cycles": soak.cycles,
        "people_left": left,
        "worker_memory": memory_summary(samples),
        "problems": soak.bad[:50],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: report[k] for k in ("requests", "statuses", "latency_ms", "latency_ms_per_route",
                                                  "load_average", "worker_memory")}, indent=2))
    ok = not soak.bad and left == [KNOWN[0]]
    print("soak passed" if ok else f"soak FAILED: {len(soak.bad)} problem(s); people left: {left}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
