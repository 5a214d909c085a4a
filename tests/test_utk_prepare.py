"""``scripts.prepare_utk_face`` on a handful of real UTKFace photos: manifest, split column,
per-file cache (a second run reads it), malformed names skipped and counted, CLI errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from training.age_gender import prepare, utk

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def utk_folder(data_dir, tmp_path_factory) -> Path:
    """Six real photos (two of them in the fixed test split) and a malformed name, plus a split file."""
    src_dir = data_dir / "utkface" / "crop_part1"
    test_names = sorted(utk.read_split_file(data_dir / "utkface" / "test_split.txt"))[:2]
    others = [p.name for p in sorted(src_dir.iterdir()) if p.name not in test_names and utk.parse_name(p.name)][:4]
    folder = tmp_path_factory.mktemp("utk") / "crop_part1"
    folder.mkdir()
    for name in test_names + others:
        shutil.copy(src_dir / name, folder / name)
    shutil.copy(src_dir / others[0], folder / "61_1_20170109142408075.jpg.chip.jpg")
    (folder.parent / "test_split.txt").write_text("\n".join(test_names) + "\n")
    return folder


def test_prepare_real_photos(pipeline, utk_folder, tmp_path):
    split_file = utk.default_test_split(utk_folder)
    assert split_file == utk_folder.parent / "test_split.txt"
    summary = prepare.prepare(pipeline, utk_folder, tmp_path / "out", tmp_path / "cache", test_split=split_file,
                              progress=False)
    assert summary["images"] == 6 and summary["malformed_skipped"] == 1
    assert summary["splits"]["test"] == 2 and sum(summary["splits"].values()) == 6
    rows = prepare.read_manifest(Path(summary["manifest"]))
    assert {row["file"] for row in rows if row["split"] == "test"} == utk.read_split_file(split_file)
    assert all(row["detect_status"] in ("detected", "padded", "whole_image") for row in rows)
    assert sum(row["detect_status"] == "detected" for row in rows) >= 4
    cache = Path(summary["cache"])
    files = sorted(cache.glob("*.npz"))
    assert len(files) == 6
    arrays = prepare.load_arrays(rows, cache, pixel_size=64)
    assert arrays["embedding"].shape == (6, 512) and arrays["crop"].shape == (6, 64, 64, 3)
    np.testing.assert_allclose(np.linalg.norm(arrays["embedding"], axis=1), 1.0, atol=1e-4)
    face = prepare.load_cached(files[0])
    assert face.crop.shape == (160, 160, 3) and face.crop.dtype == np.uint8
    # the cached vector is what the API would compute for that crop
    facenet = getattr(pipeline.embedder, "primary", pipeline.embedder)  # age/gender read FaceNet's own vector
    np.testing.assert_allclose(facenet.embed(face.crop[None])[0], face.embedding, atol=1e-4)

    # and so are the features (stored as float16): the API's process() gives the same for that crop
    _, features = pipeline.embed_with_features(face.crop[None])
    np.testing.assert_allclose(face.features, features[0], rtol=2e-3, atol=2e-3)
    assert prepare.load_arrays(rows, cache, features=True)["features"].shape == (6, pipeline.embedder.feature_dim)

    stamps = {f: f.stat().st_mtime_ns for f in files}
    again = prepare.prepare(pipeline, utk_folder, tmp_path / "out2", tmp_path / "cache", test_split=split_file,
                            progress=False)
    assert again["images"] == 6 and {f: f.stat().st_mtime_ns for f in files} == stamps

    # an entry cached before features existed gets them from its crop, once; nothing else is touched
    old = files[1]
    kept = prepare.load_cached(old)
    with np.load(old) as data:
        np.savez_compressed(old, **{k: data[k] for k in data.files if k != "features"})
    with pytest.raises(FileNotFoundError, match="no features"):
        prepare.load_arrays(rows, cache, features=True)
    names = [row["file"] for row in rows]
    assert prepare.add_features(pipeline, cache, names, progress=False) == 1
    np.testing.assert_allclose(prepare.load_cached(old).features, kept.features, rtol=2e-3, atol=2e-3)
    assert prepare.add_features(pipeline, cache, names, progress=False) == 0


def test_whole_image_fallback(pipeline):
    blank = np.full((200, 200, 3), 127, np.uint8)
    crop, status, n_faces = prepare.align_utk(pipeline, blank)
    assert status == "whole_image" and n_faces == 0 and crop.shape == (160, 160, 3)


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-m", "scripts.prepare_utk_face", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, message", [
    (["--src", "/nonexistent/folder"], "is not a folder"),
    (["--src", "{empty}"], "no UTKFace-named images"),
    (["--src", "{src}", "--test-split", "/nonexistent/split.txt"], "not found"),
    (["--src", "{src}", "--limit", "0"], "--limit"),
])
def test_cli_errors(utk_folder, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    args = [a.format(empty=tmp_path / "empty", src=utk_folder) for a in args]
    proc = _cli(*args, "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
