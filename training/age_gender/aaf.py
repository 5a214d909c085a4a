"""All-Age-Faces (AAF): labels, the fixed validation part and manifest rows in UTKFace's shape.

AAF is the second age/gender domain (mostly East Asian faces, ages 2-80; ``DATA_DIR/aaf``:
``images/*.jpg`` and ``labels.csv`` with ``file,age,gender``). A model trained on UTKFace alone is
measured on it to see how it holds up away from UTKFace, and the trainer may learn from it too, so
a seeded 20 % is set aside once, **stratified by gender and age band** (every band keeps its share
even though children and the old are few), and written to a committed list,
``training/datasets/aaf_val.txt``: the benchmark and the trainer read that list, never a fresh
draw, so a change of code or seed cannot quietly move photos between training and validation.
``python -m training.age_gender.aaf`` regenerates it (``--check``: exit 1 when the committed list
differs from what the function draws; ``--prepare``: detect, align and embed every photo into the
cache, as ``scripts.prepare_utk_face`` does for UTKFace).

Rows come out like :func:`training.age_gender.prepare.read_manifest`'s (``file, age, gender, race,
split``; gender 0 = male, 1 = female as in UTKFace, race -1: AAF has no race label), so the trainer
and the benchmark treat both sets alike."""

from __future__ import annotations

import argparse
import csv
import random
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .utk import AGE_BANDS, GENDERS, age_band

VAL_FRACTION = 0.2
SEED = 42
VAL_LIST = Path(__file__).resolve().parents[1] / "datasets" / "aaf_val.txt"
"""The committed validation part (one file name a line, sorted)."""
LABELS_NAME = "labels.csv"
IMAGES_NAME = "images"
NO_RACE = -1


class AafDataError(ValueError):
    """The AAF folder is missing or its labels are malformed (a one-line message)."""


@dataclass(frozen=True)
class AafLabel:
    """One AAF photo: its file name (inside ``images/``), age and gender code (0 male, 1 female)."""

    file: str
    age: int
    gender: int

    @property
    def gender_name(self) -> str:
        return GENDERS[self.gender]


def images_dir(root: Path) -> Path:
    return Path(root) / IMAGES_NAME


def read_labels(root: Path) -> list[AafLabel]:
    """``root/labels.csv`` as labels sorted by file name; a missing folder or a bad row is an
    :class:`AafDataError` naming the folder or the line."""
    root = Path(root)
    path = root / LABELS_NAME
    if not path.is_file():
        raise AafDataError(f"AAF labels not found: {path} (set DATA_DIR or pass the AAF folder holding "
                           f"{LABELS_NAME} and {IMAGES_NAME}/)")
    labels = []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if not {"file", "age", "gender"} <= set(reader.fieldnames or ()):
            raise AafDataError(f"{path}: expected the columns file,age,gender, got {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            gender = str(row["gender"]).strip().lower()
            age = str(row["age"]).strip()
            if gender not in GENDERS or not age.isdigit() or not str(row["file"]).strip():
                raise AafDataError(f"{path} line {line}: bad row {row}")
            labels.append(AafLabel(file=row["file"].strip(), age=int(age), gender=GENDERS.index(gender)))
    if not labels:
        raise AafDataError(f"{path} has no rows")
    return sorted(labels, key=lambda label: label.file)


def draw_val(labels: list[AafLabel], fraction: float = VAL_FRACTION, seed: int = SEED) -> list[str]:
    """The validation part: a seeded ``fraction`` of each (gender, age band) stratum, sorted.

    Strata are visited in a fixed order and shuffled with one seeded generator, so the same labels
    give the same list on any machine."""
    strata: dict[tuple[int, str], list[str]] = {}
    for label in sorted(labels, key=lambda item: item.file):
        strata.setdefault((label.gender, age_band(label.age)), []).append(label.file)
    rng = random.Random(seed)
    val: list[str] = []
    for key in sorted(strata, key=lambda k: (k[0], AGE_BANDS.index(k[1]))):
        files = strata[key][:]
        rng.shuffle(files)
        val.extend(files[: round(len(files) * fraction)])
    return sorted(val)


def read_val_list(path: Path = VAL_LIST) -> set[str]:
    if not Path(path).is_file():
        raise AafDataError(f"AAF validation list {path} not found (python -m training.age_gender.aaf writes it)")
    return {line.strip() for line in Path(path).read_text().splitlines() if line.strip()}


def write_val_list(labels: list[AafLabel], path: Path = VAL_LIST) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(draw_val(labels)) + "\n")
    return path


def split_labels(labels: list[AafLabel], val_files: set[str]) -> dict[str, list[AafLabel]]:
    """``{"train": [...], "val": [...]}``; a validation name absent from the labels is an error
    (the list and the data would disagree about what was held out)."""
    known = {label.file for label in labels}
    unknown = sorted(val_files - known)
    if unknown:
        raise AafDataError(f"{len(unknown)} names of the AAF validation list are not in labels.csv "
                           f"(e.g. {unknown[0]}): wrong folder or list")
    return {"train": [label for label in labels if label.file not in val_files],
            "val": [label for label in labels if label.file in val_files]}


def manifest_rows(labels: list[AafLabel], val_files: set[str]) -> list[dict]:
    """Rows in the UTKFace manifest's shape (before preparation adds ``detect_status``/``n_faces``)."""
    parts = split_labels(labels, val_files)
    split_of = {label.file: name for name, part in parts.items() for label in part}
    return [{"file": label.file, "age": label.age, "gender": label.gender, "race": NO_RACE,
             "split": split_of[label.file]} for label in labels]


def prepare(pipeline, root: Path, cache_root: Path, val_list: Path = VAL_LIST, limit: int | None = None,
            progress: bool = True) -> tuple[list[dict], Path, dict]:
    """Detect, align and embed the AAF photos as the UTKFace ones are (cached under
    ``<cache>/aaf/<embedder-key>/``, :func:`prepare.prepare_files`): (manifest rows with
    ``detect_status`` and ``n_faces``, cache folder, summary). ``limit`` keeps a seeded N photos
    with train and validation in proportion (small runs)."""
    from . import prepare as prep

    labels = read_labels(root)
    rows = manifest_rows(labels, read_val_list(val_list))
    if limit is not None and limit < len(rows):
        shuffled = rows[:]
        random.Random(SEED).shuffle(shuffled)
        rows = sorted(shuffled[:limit], key=lambda row: row["file"])
    cache = prep.cache_folder(cache_root, pipeline, "aaf")
    faces = prep.prepare_files(pipeline, images_dir(root), [row["file"] for row in rows], cache, progress=progress)
    kept = [{**row, "detect_status": faces[row["file"]].status, "n_faces": faces[row["file"]].n_faces}
            for row in rows if row["file"] in faces]
    summary = {"root": str(root), "cache": str(cache), "images": len(kept), "unreadable_skipped": len(rows) - len(kept),
               "splits": dict(Counter(row["split"] for row in kept)),
               "detect_status": dict(Counter(row["detect_status"] for row in kept))}
    return kept, cache, summary


def summarize(labels: list[AafLabel]) -> dict:
    genders = Counter(label.gender_name for label in labels)
    bands = Counter(age_band(label.age) for label in labels)
    return {"n": len(labels), "gender": dict(sorted(genders.items())),
            "age_band": {band: bands.get(band, 0) for band in AGE_BANDS}}


def main(argv: list[str] | None = None) -> int:
    from training.config import TrainerSettings

    parser = argparse.ArgumentParser(prog="python -m training.age_gender.aaf",
                                     description="write (or --check) the committed AAF validation list")
    parser.add_argument("--root", type=Path, default=TrainerSettings().resolved_data_dir() / "aaf",
                        help="AAF folder with labels.csv and images/ (default DATA_DIR/aaf)")
    parser.add_argument("--out", type=Path, default=VAL_LIST)
    parser.add_argument("--check", action="store_true", help="exit 1 if --out differs from a fresh draw")
    parser.add_argument("--prepare", action="store_true",
                        help="instead: detect, align and embed every AAF photo into the cache (resumable)")
    args = parser.parse_args(argv)
    try:
        labels = read_labels(args.root)
        if args.prepare:
            import json

            from face_pipeline import FacePipeline, PipelineSettings

            pipeline = FacePipeline(PipelineSettings(min_face_size=60))  # as the trainer's and the benchmark's
            _, _, summary = prepare(pipeline, args.root, TrainerSettings().resolved_cache_dir(), args.out)
            print(json.dumps(summary, indent=2))
            return 0
    except AafDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        same = args.out.is_file() and read_val_list(args.out) == set(draw_val(labels))
        print(f"{args.out}: {'matches' if same else 'DIFFERS from'} the seeded draw")
        return 0 if same else 1
    write_val_list(labels, args.out)
    parts = split_labels(labels, read_val_list(args.out))
    print({name: summarize(part) for name, part in parts.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
