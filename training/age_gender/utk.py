"""UTKFace file names and splits.

A UTKFace name is ``[age]_[gender]_[race]_[date&time].jpg`` (``.chip.jpg`` for the aligned crops):
age 0-116, gender 0 = male / 1 = female, race 0-4. A few names in the public archive lack a field;
they are skipped and counted rather than guessed, because the label is the name."""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
GENDERS = ("male", "female")
"""Index = UTKFace's gender code."""
_NAME = re.compile(r"^(\d{1,3})_([01])_([0-4])_(\d{6,})\.jpg(\.chip\.jpg)?$", re.IGNORECASE)
MAX_AGE = 116


@dataclass(frozen=True)
class UtkLabel:
    file: str
    age: int
    gender: int
    race: int

    @property
    def gender_name(self) -> str:
        return GENDERS[self.gender]


def parse_name(name: str) -> UtkLabel | None:
    """The label in a UTKFace file name, or None when the name is malformed (missing field, bad value)."""
    match = _NAME.match(Path(name).name)
    if not match:
        return None
    age, gender, race = int(match.group(1)), int(match.group(2)), int(match.group(3))
    if age > MAX_AGE:
        return None
    return UtkLabel(file=Path(name).name, age=age, gender=gender, race=race)


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def scan_folder(src: Path) -> tuple[list[UtkLabel], list[str]]:
    """Every image in ``src`` (not recursive), sorted: (well-formed labels, malformed names)."""
    labels, malformed = [], []
    for path in sorted(Path(src).iterdir()):
        if not path.is_file() or not is_image_name(path.name):
            continue
        label = parse_name(path.name)
        if label is None:
            malformed.append(path.name)
        else:
            labels.append(label)
    return labels, malformed


def default_test_split(src: Path) -> Path | None:
    """The fixed test split that sits beside the folder (``utkface/test_split.txt``), if any."""
    candidate = Path(src).resolve().parent / "test_split.txt"
    return candidate if candidate.is_file() else None


def read_split_file(path: Path) -> set[str]:
    return {line.strip() for line in Path(path).read_text().splitlines() if line.strip()}


def assign_splits(files: list[str], test_files: set[str] | None, seed: int = 42, val_fraction: float = 0.1,
                  test_fraction: float = 0.2) -> dict[str, str]:
    """``file -> train | val | test``. With a fixed test list, those files (and only those) are the
    test split; otherwise a seeded ``test_fraction`` is drawn. Validation is a seeded fraction of the rest."""
    ordered = sorted(files)
    rng = random.Random(seed)
    if test_files is None:
        shuffled = ordered[:]
        rng.shuffle(shuffled)
        test_files = set(shuffled[: round(len(shuffled) * test_fraction)])
    rest = [f for f in ordered if f not in test_files]
    rng.shuffle(rest)
    n_val = round(len(rest) * val_fraction)
    val = set(rest[:n_val])
    return {f: "test" if f in test_files else "val" if f in val else "train" for f in ordered}


def age_band(age: float) -> str:
    """The reporting bands: 0-12, 13-19, 20-39, 40-59, 60+."""
    if age < 13:
        return "0-12"
    if age < 20:
        return "13-19"
    if age < 40:
        return "20-39"
    if age < 60:
        return "40-59"
    return "60+"


AGE_BANDS = ("0-12", "13-19", "20-39", "40-59", "60+")


def summarize(labels: list[UtkLabel]) -> dict:
    genders = Counter(label.gender_name for label in labels)
    bands = Counter(age_band(label.age) for label in labels)
    return {"n": len(labels), "gender": dict(genders), "age_band": {b: bands.get(b, 0) for b in AGE_BANDS}}
