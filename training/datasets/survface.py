"""Identity-folder datasets (QMUL-SurvFace's layout, and LFW's): a folder of person folders
becomes a manifest split *by identity* into train, validation and test, so the people a model
is tested on were never seen in training.

``python -m training.datasets.survface --root DIR --out manifest.csv [--min-images 2] [--seed 42]``"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Item:
    path: str  # relative to the dataset root
    identity: str
    split: str


def person_root(root: Path) -> Path:
    """The folder holding the person folders: QMUL-SurvFace keeps them in ``training_set/``."""
    root = Path(root)
    for sub in ("training_set", "images"):
        if (root / sub).is_dir():
            return root / sub
    return root


def scan(root: Path) -> dict[str, list[str]]:
    """Identity -> sorted relative image paths (folders with no image are ignored)."""
    root = Path(root)
    people: dict[str, list[str]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted(f.relative_to(root).as_posix() for f in folder.iterdir()
                        if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if images:
            people[folder.name] = images
    return people


def build_manifest(root: Path, min_images: int = 2, max_people: int | None = None,
                   max_images_per_person: int | None = None, val_fraction: float = 0.15,
                   test_fraction: float = 0.15, seed: int = 42) -> list[Item]:
    """Items of people with at least ``min_images`` photos, split by identity with ``seed``.

    ``max_people`` takes a seeded sample of the eligible people and ``max_images_per_person``
    the first photos of each (to make runs of a few minutes)."""
    if not Path(root).is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ValueError("val_fraction and test_fraction must be in [0, 1) and sum to less than 1")
    people = {name: images for name, images in scan(root).items() if len(images) >= min_images}
    names = sorted(people)
    rng = random.Random(seed)
    rng.shuffle(names)
    if max_people is not None:
        names = names[:max_people]
    n_test = max(1, round(len(names) * test_fraction)) if test_fraction and len(names) >= 3 else 0
    n_val = max(1, round(len(names) * val_fraction)) if val_fraction and len(names) >= 3 else 0
    split_of = {name: "test" if i < n_test else "val" if i < n_test + n_val else "train"
                for i, name in enumerate(names)}
    items = []
    for name in sorted(names):
        for image in people[name][:max_images_per_person]:
            items.append(Item(image, name, split_of[name]))
    return items


def write_manifest(items: list[Item], out: Path) -> Path:
    """CSV (``path,identity,split``) or JSON (a list of objects) depending on the suffix."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".json":
        out.write_text(json.dumps([asdict(i) for i in items], indent=1) + "\n")
    else:
        with out.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "identity", "split"])
            writer.writerows([i.path, i.identity, i.split] for i in items)
    return out


def read_manifest(path: Path) -> list[Item]:
    path = Path(path)
    if path.suffix.lower() == ".json":
        return [Item(**row) for row in json.loads(path.read_text())]
    with path.open(newline="") as handle:
        return [Item(row["path"], row["identity"], row["split"]) for row in csv.DictReader(handle)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.datasets.survface", description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="folder of person folders (or QMUL-SurvFace's root)")
    parser.add_argument("--out", required=True, help="manifest file (.csv or .json)")
    parser.add_argument("--min-images", type=int, default=2)
    parser.add_argument("--max-people", type=int)
    parser.add_argument("--max-images", type=int, help="at most this many photos per person")
    parser.add_argument("--val-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    try:
        items = build_manifest(person_root(Path(args.root)), args.min_images, args.max_people, args.max_images,
                               args.val_fraction, args.test_fraction, args.seed)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = write_manifest(items, Path(args.out))
    counts = {s: len({i.identity for i in items if i.split == s}) for s in SPLITS}
    print(f"{len(items)} images of {sum(counts.values())} people ({counts}) -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
