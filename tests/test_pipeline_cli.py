"""The command line, run as a real subprocess: output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, lfw_image


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "face_pipeline", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


@pytest.mark.slow
def test_detect_prints_faces_as_json(data_dir):
    result = run_cli("detect", lfw_image("Colin_Powell", 1))
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["faces"] and set(output["faces"][0]) == {"bbox", "confidence", "landmarks"}


@pytest.mark.slow
def test_compare_same_and_no_face(data_dir, tmp_path):
    same = run_cli("compare", lfw_image("Colin_Powell", 1), lfw_image("Colin_Powell", 7))
    assert same.returncode == 0, same.stderr
    answer = json.loads(same.stdout)
    assert set(answer) == {"similarity", "threshold", "same_person"}
    assert answer["same_person"] is True and answer["similarity"] >= answer["threshold"]

    blank = tmp_path / "blank.png"
    from PIL import Image

    Image.new("RGB", (200, 200), (128, 128, 128)).save(blank)
    no_face = run_cli("compare", lfw_image("Colin_Powell", 1), blank)
    assert no_face.returncode == 0
    answer = json.loads(no_face.stdout)
    assert answer["same_person"] is None and answer["no_face_in"] == [str(blank)]


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), (b"", "empty"), (b"plain text", "not an image")],
)
def test_bad_input_one_line_and_nonzero_exit(tmp_path, content, message):
    path = tmp_path / "input.jpg"
    if content is not None:
        path.write_bytes(content)
    result = run_cli("detect", path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr


def test_truncated_and_oversized_images_fail_cleanly(tmp_path, data_dir):
    truncated = tmp_path / "half.jpg"
    data = lfw_image("Colin_Powell", 1).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    result = run_cli("detect", truncated)
    assert result.returncode == 2 and "truncated" in result.stderr and len(result.stderr.strip().splitlines()) == 1

    from PIL import Image

    bomb = tmp_path / "bomb.png"
    Image.new("L", (8000, 8000)).save(bomb, optimize=True)
    result = run_cli("detect", bomb)
    assert result.returncode == 2 and "limit" in result.stderr


@pytest.mark.parametrize(("variable", "value"), [("FACE_MAX_PIXELS", "abc"), ("FACE_DETECTOR", "bogus"),
                                                 ("FACE_FUSION_WEIGHT", "1.5")])
def test_bad_setting_is_one_line_naming_it(variable, value, data_dir):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", variable: value}
    result = subprocess.run([sys.executable, "-m", "face_pipeline", "detect", str(lfw_image("Colin_Powell", 1))],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and variable in lines[0] and "Traceback" not in result.stderr
