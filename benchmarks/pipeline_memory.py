"""Resident memory of the face pipeline with its IRs read or mapped: ``python -m benchmarks.pipeline_memory``.

Why: ``face_pipeline.openvino_cache.read_unmapped`` reads a cached IR's weights into memory instead
of mapping the ``.bin`` file, because a mapped file stayed resident beside the CPU plugin's own copy
of the weights. This measures that choice: for each inference precision (``bf16`` where the CPU has
it, and ``f32``) and each way of reading (``read``: as the pipeline does; ``mapped``: OpenVINO's
default, put back for the run), a fresh Python builds the default pipeline from a warm IR cache,
describes ``--photos`` LFW photos and reports its resident memory (``reports/pipeline_memory.json``).
The two ways alternate, ``--rounds`` times."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("DATA_DIR", ROOT.parent / "shared" / "data"))

CHILD = """
import json, sys
from pathlib import Path
import psutil
import openvino as ov
from face_pipeline import openvino_cache
if sys.argv[1] == "mapped":
    openvino_cache.read_unmapped = lambda xml: ov.Core().read_model(str(xml))
from face_pipeline import FacePipeline, PipelineSettings
pipeline = FacePipeline(PipelineSettings(inference_precision=sys.argv[2]))
photos = sorted(Path(sys.argv[3]).glob("*/*_0001.jpg"))[: int(sys.argv[4])]
faces = sum(len(pipeline.process(pipeline.load(photo))) for photo in photos)
maps = Path("/proc/self/maps").read_text()
print(json.dumps({"rss_mib": round(psutil.Process().memory_info().rss / 2**20, 1), "faces": faces,
                  "bin_mapped": ".bin" in maps and "openvino-cache" in maps,
                  "state": pipeline.embedder.primary.cache_state}))
"""


def one_run(how: str, precision: str, images: Path, photos: int) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, how, precision, str(images), str(photos)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode != 0:
        raise SystemExit(f"error: the {how} {precision} run failed: {done.stderr.strip()[-400:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pipeline_memory", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding lfw/")
    parser.add_argument("--photos", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "pipeline_memory.json")
    args = parser.parse_args(argv)
    images = args.data / "lfw" / "images"
    if not images.is_dir():
        parser.error(f"{images} not found: point --data (or DATA_DIR) at the folder holding lfw/")
    if args.photos < 1 or args.rounds < 1:
        parser.error("--photos and --rounds must be at least 1")
    from face_pipeline.openvino_cache import resolved_precision

    precisions = sorted({resolved_precision("auto"), "f32"})
    one_run("read", precisions[0], images, 1)  # warm the IR cache: every measured start reads it
    runs = []
    for round_ in range(args.rounds):
        for precision in precisions:
            for how in (("read", "mapped") if round_ % 2 == 0 else ("mapped", "read")):
                runs.append({"round": round_, "precision": precision, "weights": how,
                             **one_run(how, precision, images, args.photos)})
                print(json.dumps(runs[-1]))
    summary = {}
    for precision in precisions:
        medians = {how: statistics.median(r["rss_mib"] for r in runs if r["precision"] == precision
                                          and r["weights"] == how) for how in ("read", "mapped")}
        summary[precision] = {"read_rss_mib": medians["read"], "mapped_rss_mib": medians["mapped"],
                              "saved_mib": round(medians["mapped"] - medians["read"], 1)}
    report = {
        "benchmark": "face pipeline resident memory, cached IRs read vs mapped",
        "command": "python -m benchmarks.pipeline_memory " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "auto_precision": resolved_precision("auto")},
        "photos": args.photos, "summary_medians": summary, "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
