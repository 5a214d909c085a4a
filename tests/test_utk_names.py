"""UTKFace names, splits and bands: fast, no TensorFlow."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.age_gender import utk


@pytest.mark.parametrize("name, expected", [
    ("26_0_2_20170104023102422.jpg.chip.jpg", (26, 0, 2)),
    ("1_1_0_20161219140623097.jpg.chip.jpg", (1, 1, 0)),
    ("116_1_0_20170120134921760.jpg", (116, 1, 0)),
    ("/some/folder/45_0_4_20170117191347617.jpg.chip.jpg", (45, 0, 4)),
])
def test_parse_well_formed(name, expected):
    label = utk.parse_name(name)
    assert (label.age, label.gender, label.race) == expected
    assert label.file == Path(name).name
    assert label.gender_name == ("female" if expected[1] else "male")


@pytest.mark.parametrize("name", [
    "61_1_20170109142408075.jpg.chip.jpg",      # race missing (a real case in the archive)
    "39_1_20170116174525125.jpg.chip.jpg",      # ditto
    "61_3_0_20170109150557335.jpg.chip.jpg",    # gender 3
    "30_0_7_20170109150557335.jpg.chip.jpg",    # race 7
    "117_0_0_20170109150557335.jpg.chip.jpg",   # age beyond UTKFace's 116
    "abc_0_0_20170109150557335.jpg.chip.jpg",
    "30_0_0_20170109150557335.png",
    "30_0_0.jpg",
    "",
])
def test_parse_malformed(name):
    assert utk.parse_name(name) is None


def test_scan_folder_counts_malformed(tmp_path):
    good = ["10_0_0_20170110224238891.jpg.chip.jpg", "50_1_3_20170119151011583.jpg.chip.jpg"]
    bad = ["61_1_20170109142408075.jpg.chip.jpg", "x_1_1_20170109142408075.jpg.chip.jpg"]
    for name in good + bad + ["notes.txt"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    labels, malformed = utk.scan_folder(tmp_path)
    assert [label.file for label in labels] == sorted(good)
    assert sorted(malformed) == sorted(bad)


def test_fixed_test_split_is_respected_and_seeded():
    files = [f"{i}_0_0_2017010{i % 10}000000000.jpg.chip.jpg" for i in range(1, 101)]
    fixed = set(files[:20])
    splits = utk.assign_splits(files, fixed, seed=1, val_fraction=0.1)
    assert {f for f, s in splits.items() if s == "test"} == fixed
    assert sum(s == "val" for s in splits.values()) == 8
    assert splits == utk.assign_splits(list(reversed(files)), fixed, seed=1, val_fraction=0.1)
    assert splits != utk.assign_splits(files, fixed, seed=2, val_fraction=0.1)
    drawn = utk.assign_splits(files, None, seed=1)
    assert sum(s == "test" for s in drawn.values()) == 20


def test_real_folder_summary(data_dir):
    src = data_dir / "utkface" / "crop_part1"
    labels, malformed = utk.scan_folder(src)
    assert len(labels) + len(malformed) == 9780
    assert len(malformed) == 2  # docs/training.md: "2 of 9,780 in `crop_part1`"
    split_file = utk.default_test_split(src)
    assert split_file == data_dir / "utkface" / "test_split.txt"
    test = utk.read_split_file(split_file)
    assert len(test) == 1956 and test <= {label.file for label in labels}


@pytest.mark.parametrize("age, band", [(0, "0-12"), (12, "0-12"), (13, "13-19"), (19.5, "13-19"), (20, "20-39"),
                                       (39, "20-39"), (40, "40-59"), (59, "40-59"), (60, "60+"), (116, "60+")])
def test_age_bands(age, band):
    assert utk.age_band(age) == band
