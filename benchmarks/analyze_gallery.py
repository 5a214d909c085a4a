"""``POST /analyze`` over HTTP with a large gallery against a 1k one (issue 15's target: within 10 %).

Per gallery size: a fresh SQLite database seeded in bulk through the project's SQLAlchemy models (the
real LFW people of benchmarks/gallery_faces.py with their real fused descriptors, then synthetic unit
vectors as one-face persons: the same vectors as benchmarks.gallery), the memory engine's snapshot
built offline by the project's own gallery code (so that the server starts from it instead of building
an HNSW graph), then a real uvicorn per size (GALLERY_ENGINE=memory, one worker). Every server runs at
once; every round posts ~30 held-out photos (the second photo of enrolled real people, and photos of
people never enrolled), each photo to every size back to back, the order alternating per photo, so
that the paired ratio (same photo, moments apart) is not biased by the load drifting on shared cores.

    nice -n 10 python -m benchmarks.analyze_gallery --sizes 1000 100000 [--rounds 5] [--reuse-index 1000000=PATH]
    python -m benchmarks.analyze_gallery --engine milvus|milvus-server --sizes 1000 100000 \
        --output reports/analyze_gallery_milvus.json

``--engine milvus`` serves each size from its own Milvus Lite file instead (GALLERY_ENGINE=milvus): no
snapshot, the server reconciles the collection from SQL as it starts. Milvus Lite runs inside the API
process and searches FLAT (brute force), so neither its latencies nor the worker's memory are a Milvus
server's. ``--engine milvus-server`` gives each size a Milvus server process of its own (``milvus-lite
server``, Milvus's gRPC API on Milvus Lite's engine; HNSW), reached over ``MILVUS_URI=http://...`` as
replicas reach a shared Milvus, and reports the API worker's memory apart from that server's: what
"flat per worker" is about.

``--reuse-index SIZE=PATH`` starts that size's snapshot from an HNSW file that benchmarks.gallery
``--keep-index`` saved for the same size (same ids and vectors; checked) instead of building it again.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

from api.services.gallery_engines import MemoryIndex

from .api_load import DEFAULT_DATA, free_port, make_key, wait_ready, worker_memory_mb
from .gallery import gallery as gallery_vectors
from .gallery_faces import load as load_faces
from .processes import stop_group

ROOT = Path(__file__).resolve().parents[1]
DIM = 640


@dataclass
class Photo:
    path: Path
    expected: str  # the enrolled name, or "unknown" for a stranger


def seed_database(url: str, size: int, faces: dict) -> float:
    """Persons and faces ``1..size`` (real people first, named as in LFW) in bulk; returns seconds."""
    from api.db.engine import make_engine, upgrade_database
    from api.db.models import FaceEmbeddingRow, GalleryState, Person, utcnow
    from api.services.vectors import to_bytes

    started = time.perf_counter()
    ids, _, vectors = gallery_vectors(size, faces)
    names = [str(n).replace("_", " ") for n in faces["names"]]
    version = str(faces["embedder_version"])
    engine = make_engine(url)
    upgrade_database(engine)
    now = utcnow()
    with engine.begin() as connection:
        for at in range(0, size, 50_000):
            chunk = ids[at : at + 50_000]
            connection.execute(Person.__table__.insert(), [
                {"id": int(i), "name": names[i - 1] if i <= len(names) else f"Synthetic {i}",
                 "name_key": (names[i - 1] if i <= len(names) else f"Synthetic {i}").lower(), "created_at": now}
                for i in chunk])
            connection.execute(FaceEmbeddingRow.__table__.insert(), [
                {"id": int(i), "person_id": int(i), "vector": to_bytes(vectors[i - 1]), "dim": DIM,
                 "embedder_version": version, "image_sha256": f"bench-{i}", "face_index": 0, "box_x": 0,
                 "box_y": 0, "box_width": 160, "box_height": 160, "created_at": now} for i in chunk])
        connection.execute(GalleryState.__table__.update().values(revision=1))
    engine.dispose()
    return time.perf_counter() - started


class ReusedIndex(MemoryIndex):
    """A memory index that starts from an HNSW file saved by benchmarks.gallery for the same faces: the
    gallery's first reconcile then adds only what that file lacks (nothing, when it is the same)."""

    def __init__(self, dim: int, prebuilt: Path, **options: object) -> None:
        super().__init__(dim, **options)
        self.prebuilt = prebuilt

    def clear(self) -> None:
        super().clear()
        if not self.load(self.prebuilt.with_suffix("")):
            raise SystemExit(f"error: {self.prebuilt} is not a usearch index of {self.dim}-D vectors")

    def add(self, ids: np.ndarray, vectors: np.ndarray, owners: np.ndarray) -> None:
        if self.approximate:
            held = np.asarray(self._inner._index.contains(np.asarray(ids, np.uint64)), bool)  # type: ignore[attr-defined]
            if held.any():  # the prebuilt graph must hold these very vectors (float16 rounding apart)
                drift = np.abs(self.vectors(ids[held][:20]) - vectors[held][:20]).max()
                if drift > 1e-2:
                    raise SystemExit(f"error: {self.prebuilt} holds other vectors (difference {drift:.3f})")
            ids, vectors, owners = ids[~held], vectors[~held], owners[~held]
        super().add(ids, vectors, owners)


def server_settings(url: str, snapshot_dir: Path):
    """The settings the memory-engine uvicorn of this size runs with (the same environment, read the same way)."""
    from api.config import ApiSettings

    return ApiSettings(database_url=url, gallery_engine="memory", gallery_snapshot_dir=snapshot_dir,
                       model_source="packaged")


def split_memory(memory: dict) -> dict:
    """``worker_memory_mb``'s processes split into the API's (uvicorn and its workers) and Milvus Lite's
    server processes: the largest API process, and the Milvus processes summed (MiB)."""
    api = [m for m in memory.values() if "milvus" not in m["cmd"].lower()]
    milvus = [m for m in memory.values() if "milvus" in m["cmd"].lower()]
    return {"worker_rss_mb": max(m["rss_mb"] for m in api), "worker_peak_rss_mb": max(m["peak_rss_mb"] for m in api),
            **({"milvus_rss_mb": round(sum(m["rss_mb"] for m in milvus), 1)} if milvus else {})}


def build_snapshot(url: str, snapshot_dir: Path, faces: dict, prebuilt: Path | None = None) -> dict:
    """Reconcile a gallery from the database with the server's own settings and write its snapshot;
    then time what a restart does with it (read it, reconcile with SQL)."""
    from api.db.engine import make_engine, make_session_factory
    from api.services.gallery import make_gallery

    settings = server_settings(url, snapshot_dir)
    engine = make_engine(url)
    sessions = make_session_factory(engine)

    def open_gallery():
        # PackagedModels.project is the identity (float32); no recognition head, as in the server.
        return make_gallery(settings, sessions, lambda x: np.asarray(x, np.float32), str(faces["embedder_version"]),
                            DIM, projection_key=lambda: None)

    first = open_gallery()
    if prebuilt is not None:
        first.index = ReusedIndex(DIM, prebuilt, ann_min_size=settings.gallery_ann_min_size,
                                  dtype=settings.gallery_hnsw_dtype, connectivity=settings.gallery_hnsw_connectivity,
                                  expansion_add=settings.gallery_hnsw_expansion_add,
                                  expansion_search=settings.gallery_hnsw_ef_search)
    started = time.perf_counter()
    view = first.current()
    build = time.perf_counter() - started
    started = time.perf_counter()
    first.save_snapshot()
    write = time.perf_counter() - started
    approximate = bool(first.index.approximate)  # type: ignore[attr-defined]
    first.close()
    del first
    started = time.perf_counter()
    again = open_gallery()
    restarted = again.current()
    restart = time.perf_counter() - started
    assert restarted.faces == view.faces and again.last_sync["added"] == 0, "the snapshot was not used"
    again.index.close()
    engine.dispose()
    on_disk = sum(f.stat().st_size for f in snapshot_dir.iterdir() if f.is_file())
    return {"faces": view.faces, "people": view.size, "hnsw": approximate,
            "build_s" if prebuilt is None else "reconcile_onto_reused_index_s": round(build, 2),
            "reused_index": None if prebuilt is None else str(prebuilt), "snapshot_write_s": round(write, 2),
            "snapshot_bytes": on_disk, "restart_from_snapshot_in_process_s": round(restart, 2)}


def photos(data: Path, faces: dict, enrolled: int, strangers: int) -> list[Photo]:
    """Held-out photos: the second LFW photo of enrolled real people (spread over the list), and the
    first photo of people never enrolled."""
    names = [str(n) for n in faces["names"]]
    step = max(len(names) // enrolled, 1)
    lfw = data / "lfw" / "images"
    chosen = [Photo(lfw / n / f"{n}_0002.jpg", n.replace("_", " ")) for n in names[::step][:enrolled]]
    known = set(names)
    others = sorted(p.name for p in (data / "lfw" / "images").iterdir() if p.name not in known)
    step = max(len(others) // max(strangers, 1), 1)
    chosen += [Photo(data / "lfw" / "images" / n / f"{n}_0001.jpg", "unknown") for n in others[::step][:strangers]]
    missing = [str(p.path) for p in chosen if not p.path.is_file()]
    if missing:
        raise SystemExit(f"error: {missing[0]} not found: point --data at the folder holding lfw/")
    return chosen


def start_milvus_server(data_dir: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """A Milvus server of its own (``milvus-lite server``: Milvus's gRPC API over Milvus Lite's engine) on a
    free port, once it answers: what the API's ``MILVUS_URI=http://...`` talks to, in another process, so
    that the API worker's memory and the index's are measured apart."""
    shutil.rmtree(data_dir, ignore_errors=True)
    port = free_port()
    with log.open("ab") as sink:
        process = subprocess.Popen([str(Path(sys.executable).parent / "milvus-lite"), "server", "--data-dir",
                                    str(data_dir), "--host", "127.0.0.1", "--port", str(port)],
                                   cwd=ROOT, start_new_session=True, stdout=sink, stderr=sink)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"error: milvus-lite server exited (see {log})")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return process, uri
        time.sleep(0.5)
    stop_group(process, timeout=10)
    raise SystemExit(f"error: milvus-lite server did not listen within 120 s (see {log})")


def start_server(url: str, snapshot_dir: Path, log: Path,
                 milvus_uri: Path | str | None = None) -> tuple[subprocess.Popen, str, float, str]:
    """Launch a real uvicorn (one worker) on this database and snapshot, or on this Milvus Lite file:
    (process, base URL, start, key)."""
    key = make_key(url, "read")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    engine = {"GALLERY_ENGINE": "memory"} if milvus_uri is None else {"GALLERY_ENGINE": "milvus",
                                                                     "MILVUS_URI": str(milvus_uri)}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "DATABASE_URL": url, **engine,
           "GALLERY_SNAPSHOT_DIR": str(snapshot_dir), "MODEL_SOURCE": "packaged",
           "API_KEYS_ENABLED": "true", "RATE_LIMIT_ENABLED": "false"}
    command = [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1", "--log-level", "warning"]
    started = time.perf_counter()
    with log.open("ab") as sink:
        process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, stdout=sink, stderr=sink)
    return process, base, started, key


def ready_after(server: tuple) -> tuple[float, dict]:
    """Seconds from launch until /ready answered ready (models loaded, gallery read), and its body."""
    process, base, started, key = server
    body = wait_ready(base, process, timeout=900, headers={"X-API-Key": key})
    return time.perf_counter() - started, body


def stop_server(process: subprocess.Popen) -> None:
    stop_group(process, timeout=60)


def analyze(client: httpx.Client, photo: Photo, body: bytes) -> tuple[float, str | None]:
    """Seconds for one POST /analyze and the identity of the photo's largest face (None: no face)."""
    sent = time.perf_counter()
    response = client.post("/analyze", files={"file": (photo.path.name, body, "image/jpeg")})
    elapsed = time.perf_counter() - sent
    if response.status_code != 200:
        raise SystemExit(f"error: /analyze answered {response.status_code}: {response.text[:200]}")
    found = response.json()["faces"]
    if not found:
        return elapsed, None
    largest = max(found, key=lambda f: f["bbox"]["width"] * f["bbox"]["height"])
    return elapsed, largest["identity"]


def summary(times: list[float]) -> dict:
    ms = np.asarray(times) * 1000
    return {"requests": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1), "mean_ms": round(float(ms.mean()), 1)}


def seeded(folder: Path, size: int, faces: dict) -> tuple[str, float | None]:
    """This size's database in ``folder``, seeded unless a finished seeding is there already (its
    marker file); returns the URL and the seconds spent seeding (None: reused)."""
    database = folder / f"gallery-{size}.db"
    marker = database.with_suffix(".seeded")
    url = f"sqlite:///{database}"
    if marker.is_file():
        return url, None
    database.unlink(missing_ok=True)
    seed_s = seed_database(url, size, faces)
    marker.write_text(f"{seed_s:.2f}\n")
    print(f"{size}: seeded in {seed_s:.1f} s", file=sys.stderr, flush=True)
    return url, seed_s


def run(sizes: list[int], data: Path, rounds: int, enrolled: int, strangers: int, folder: Path,
        reuse: dict[int, Path], engine: str = "memory") -> dict:
    """Seed, snapshot (memory engine), serve and time every size; the report's body (without the command)."""
    faces = load_faces()
    if len(faces["names"]) > min(sizes):
        raise SystemExit(f"error: every size must hold the {len(faces['names'])} real people")
    chosen = photos(data, faces, enrolled, strangers)
    bodies = [p.path.read_bytes() for p in chosen]
    prepared: dict[int, dict] = {}
    milvus_servers: dict[int, tuple[subprocess.Popen, str]] = {}
    for size in sizes:
        url, seed_s = seeded(folder, size, faces)
        snapshot_dir = folder / f"snapshot-{size}"
        shutil.rmtree(snapshot_dir, ignore_errors=True)
        snapshot_dir.mkdir()
        milvus_uri: Path | str | None = None
        if engine == "milvus":  # a fresh collection, filled from SQL by the server as it starts
            milvus_uri = folder / f"gallery-{size}.milvus.db"
            for leftover in folder.glob(f"{milvus_uri.name}*"):
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
            snapshot = None
        elif engine == "milvus-server":  # a Milvus server process of its own, started with the APIs below
            snapshot = None
        else:
            snapshot = build_snapshot(url, snapshot_dir, faces, reuse.get(size))
            print(f"{size}: snapshot {json.dumps(snapshot)}", file=sys.stderr, flush=True)
        prepared[size] = {"url": url, "snapshot_dir": snapshot_dir, "snapshot": snapshot, "milvus_uri": milvus_uri,
                          "seed_s": None if seed_s is None else round(seed_s, 2)}
    def snapshot_stamp(size: int) -> list[tuple[str, int]]:
        """What the snapshot folder holds: a server that rebuilt instead of reading it rewrites it."""
        folder_ = prepared[size]["snapshot_dir"]
        return sorted((f.name, f.stat().st_mtime_ns) for f in folder_.iterdir() if f.is_file())

    stamps = {size: snapshot_stamp(size) for size in sizes}
    servers: dict[int, tuple] = {}
    results: dict[int, dict] = {}
    load_before = [round(x, 2) for x in os.getloadavg()]
    try:
        for size in sizes:  # launched together: each start is timed under the others' start-up too
            if engine == "milvus-server":  # as replicas would share one
                milvus_servers[size] = start_milvus_server(folder / f"milvus-server-{size}",
                                                           folder / f"milvus-server-{size}.log")
                prepared[size]["milvus_uri"] = milvus_servers[size][1]
            servers[size] = start_server(prepared[size]["url"], prepared[size]["snapshot_dir"],
                                         folder / f"uvicorn-{size}.log", prepared[size]["milvus_uri"])
        readiness = {size: ready_after(servers[size]) for size in sizes}
        for size in sizes:
            print(f"{size}: ready in {readiness[size][0]:.1f} s", file=sys.stderr, flush=True)
        clients = {size: httpx.Client(base_url=servers[size][1], headers={"X-API-Key": servers[size][3]}, timeout=300)
                   for size in sizes}
        for size in sizes:  # warm every server (first inference, caches) outside the measurement
            for photo, body in zip(chosen[:3], bodies[:3]):
                analyze(clients[size], photo, body)
        times: dict[int, list[float]] = {size: [] for size in sizes}
        answers: dict[int, list[tuple[str, str | None]]] = {size: [] for size in sizes}
        visit = 0
        for _ in range(rounds):  # each photo goes to every server in turn, the order alternating per photo
            for photo, body in zip(chosen, bodies):
                for size in sizes if visit % 2 == 0 else sizes[::-1]:
                    elapsed, identity = analyze(clients[size], photo, body)
                    times[size].append(elapsed)
                    answers[size].append((photo.expected, identity))
                visit += 1
        load_after = [round(x, 2) for x in os.getloadavg()]
        for size in sizes:
            process = servers[size][0]
            start_s, ready = readiness[size]
            known = [(e, i) for e, i in answers[size] if e != "unknown"]
            unknown = [(e, i) for e, i in answers[size] if e == "unknown"]
            memory = worker_memory_mb(process.pid)
            results[size] = {
                "size": size, "seed_s": prepared[size]["seed_s"], "snapshot": prepared[size]["snapshot"],
                "server_start_to_ready_s": round(start_s, 1), "gallery_at_ready": ready.get("gallery"),
                "server_started_from_snapshot": snapshot_stamp(size) == stamps[size] if engine == "memory" else None,
                "analyze": summary(times[size]),
                "latencies_ms": [round(t * 1000, 1) for t in times[size]],
                "enrolled_named_right": round(float(np.mean([e == i for e, i in known])), 4) if known else None,
                "strangers_left_unknown": round(float(np.mean([i in ("unknown", None) for _, i in unknown])), 4)
                if unknown else None,
                **split_memory(memory),
                **({"milvus_server_rss_mb": round(sum(m["rss_mb"] for m in
                                                      worker_memory_mb(milvus_servers[size][0].pid).values()), 1)}
                   if size in milvus_servers else {}),
            }
            print(json.dumps(results[size]), file=sys.stderr, flush=True)
        for client in clients.values():
            client.close()
    finally:
        for process, *_ in servers.values():
            stop_server(process)
        for process, _ in milvus_servers.values():
            stop_server(process)
    base = results[min(sizes)]["analyze"]
    smallest = np.asarray(results[min(sizes)]["latencies_ms"])
    ratios = {str(size): {"p50": round(results[size]["analyze"]["p50_ms"] / base["p50_ms"], 3),
                          "p95": round(results[size]["analyze"]["p95_ms"] / base["p95_ms"], 3),
                          # same photo, posted back to back: what load drifts cannot bias
                          "paired_median": round(float(np.median(np.asarray(results[size]["latencies_ms"])
                                                                 / smallest)), 3)}
              for size in sizes if size != min(sizes)}
    return {
        "photos": {"enrolled_second_photos": enrolled, "strangers": strangers, "rounds": rounds,
                   "requests_per_size": rounds * len(chosen), "source": "LFW, 250x250 as stored"},
        "engine": {"memory": "memory", "milvus": "milvus (Milvus Lite, FLAT, one file per size)",
                   "milvus-server": "milvus (Milvus Lite's gRPC server, `milvus-lite server`, one process per size, "
                                    "HNSW M=16 efConstruction=200)"}[engine],
        "gallery": {"real_people": int(len(faces["names"])), "embedder_version": str(faces["embedder_version"]),
                    "distractors": "isotropic Gaussian unit vectors, one face per person (benchmarks.gallery)"},
        "load_average_before": load_before, "load_average_after": load_after,
        "results": [results[size] for size in sizes],
        "latency_ratio_vs_smallest": ratios,
        "target": "p50 with the large gallery within 10 % of the 1k one (ratio <= 1.10)",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.analyze_gallery", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000], help="gallery sizes (smallest first)")
    parser.add_argument("--rounds", type=int, default=5, help="passes over the photos per size (default 5)")
    parser.add_argument("--enrolled", type=int, default=24, help="held-out photos of enrolled people (default 24)")
    parser.add_argument("--strangers", type=int, default=6, help="photos of never-enrolled people (default 6)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding lfw/ (default DATA_DIR)")
    parser.add_argument("--reuse-index", nargs="*", default=[], metavar="SIZE=PATH",
                        help="start SIZE's snapshot from this benchmarks.gallery --keep-index file")
    parser.add_argument("--workdir", type=Path, help="keep the databases here and reuse those already seeded "
                        "(default: a temporary folder)")
    parser.add_argument("--seed-only", action="store_true", help="seed the --workdir databases and stop")
    parser.add_argument("--output", type=Path, default=ROOT / "reports" / "analyze_gallery.json")
    parser.add_argument("--engine", choices=["memory", "milvus", "milvus-server"], default="memory",
                        help="the gallery engine every server runs (milvus: Milvus Lite, one file per size, in "
                             "the API process; milvus-server: a Milvus Lite gRPC server process per size)")
    args = parser.parse_args(argv)
    if min(args.sizes) < 1 or args.rounds < 1 or args.enrolled < 1 or args.strangers < 0:
        parser.error("--sizes, --rounds and --enrolled must be positive, --strangers not negative")
    args.sizes = sorted(set(args.sizes))
    if len(args.sizes) < 2 and not args.seed_only:
        parser.error("give at least two --sizes: the smallest is the baseline")
    reuse: dict[int, Path] = {}
    for item in args.reuse_index:
        size, _, path = item.partition("=")
        if not size.isdigit() or not Path(path).is_file():
            parser.error(f"--reuse-index {item!r}: expected SIZE=PATH of an existing file")
        reuse[int(size)] = Path(path)
    if reuse and args.engine != "memory":
        parser.error(f"--reuse-index is for the memory engine's HNSW snapshot, not --engine {args.engine}")
    if not (args.data / "lfw" / "images").is_dir():
        parser.error(f"{args.data / 'lfw' / 'images'} not found: point --data (or DATA_DIR) at the folder holding lfw/")
    if args.seed_only:
        if args.workdir is None:
            parser.error("--seed-only needs --workdir")
        args.workdir.mkdir(parents=True, exist_ok=True)
        faces = load_faces()
        for size in args.sizes:
            seeded(args.workdir, size, faces)
        return 0
    started = time.time()
    with contextlib.ExitStack() as stack:
        if args.workdir is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="analyze_gallery_")))
        else:
            folder = args.workdir
            folder.mkdir(parents=True, exist_ok=True)
        body = run(args.sizes, args.data, args.rounds, args.enrolled, args.strangers, folder, reuse, args.engine)
    report = {
        "benchmark": f"POST /analyze over HTTP, large gallery vs the smallest ({args.engine} engine, one uvicorn "
                     "worker each)",
        "command": (f"nice -n {os.nice(0)} " if os.nice(0) else "") + "python -m benchmarks.analyze_gallery "
                   + shlex.join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "note": "2 cores shared with other jobs; every server runs at once, "
                    "requests one at a time, each photo posted to every size back to back (order alternating)"},
        **body,
        "elapsed_s": round(time.time() - started, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    for row in report["results"]:
        print(f"{row['size']:>9} faces: /analyze p50 {row['analyze']['p50_ms']} ms, p95 {row['analyze']['p95_ms']} ms, "
              f"named right {row['enrolled_named_right']}, worker {row['worker_rss_mb']} MiB")
    print(f"ratios vs {args.sizes[0]}: {report['latency_ratio_vs_smallest']} -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
