"""``scripts.download_utkface``: the no-credentials error path (Kaggle is unreachable here) and the
unpacking of local zip / tar.gz archives built from real UTKFace photos."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, home: Path, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_")}
    env.update({"HOME": str(home), **(extra_env or {})})
    return subprocess.run([sys.executable, "-m", "scripts.download_utkface", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def utk_files(data_dir) -> list[Path]:
    return sorted((data_dir / "utkface" / "crop_part1").iterdir())[:5]


def test_without_credentials_one_line_error(tmp_path):
    proc = run_cli("--limit", "3", "--dest", str(tmp_path / "out"), home=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "KAGGLE_USERNAME" in lines[0] and "KAGGLE_KEY" in lines[0] and "kaggle.json" in lines[0]
    assert not (tmp_path / "out").exists()


def test_with_credentials_but_no_network_one_line_error(tmp_path):
    proc = run_cli("--dest", str(tmp_path / "out"), home=tmp_path,
                   extra_env={"KAGGLE_USERNAME": "someone", "KAGGLE_KEY": "0" * 32})
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ")


def _zip(path: Path, files: list[Path]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for file in files:
            archive.write(file, f"UTKFace/{file.name}")
            archive.write(file, f"utkface_aligned_cropped/UTKFace/{file.name}")  # the Kaggle archive's duplicates
        archive.writestr("UTKFace/61_1_20170109142408075.jpg.chip.jpg", files[0].read_bytes())  # malformed name
        archive.writestr("UTKFace/README.txt", "not an image")
        archive.writestr("__MACOSX/UTKFace/._1_0_0_20170109142408075.jpg.chip.jpg", b"resource fork")
    return path


def _tar(path: Path, files: list[Path]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for file in files:
            archive.add(file, f"crop_part1/{file.name}")
    return path


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_local_archive_unpacked_flat_with_limit(tmp_path, utk_files, kind):
    archive = _zip(tmp_path / "utk.zip", utk_files) if kind == "zip" else _tar(tmp_path / "utk.tar.gz", utk_files)
    dest = tmp_path / "dest"
    proc = run_cli("--archive", str(archive), "--dest", str(dest), "--limit", "3", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    written = sorted(p.name for p in dest.iterdir())
    assert len(written) == 3 and summary["images"] == 3
    expected_total = len(utk_files) + (1 if kind == "zip" else 0)
    assert summary["images_in_archive"] == expected_total
    for name in written:
        if name in {f.name for f in utk_files}:
            assert (dest / name).read_bytes() == next(f for f in utk_files if f.name == name).read_bytes()
    everything = tmp_path / "all"
    proc = run_cli("--archive", str(archive), "--dest", str(everything), home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["images"] == expected_total
    assert summary["malformed_names"] == (1 if kind == "zip" else 0)
    assert not any(p.is_dir() for p in everything.iterdir())


@pytest.mark.parametrize("content", [None, b"this is not an archive"])
def test_bad_archive_one_line_error(tmp_path, content):
    archive = tmp_path / "broken.zip"
    if content is not None:
        archive.write_bytes(content)
    proc = run_cli("--archive", str(archive), "--dest", str(tmp_path / "d"), home=tmp_path)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_bad_limit(tmp_path):
    proc = run_cli("--limit", "0", home=tmp_path)
    assert proc.returncode == 2 and "limit" in proc.stderr
