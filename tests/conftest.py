"""Shared fixtures: where the real face data is, and one real pipeline per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("DATA_DIR", ROOT.parent / "shared" / "data")).resolve()
LFW_DIR = DATA_DIR / "lfw"
UTK_DIR = DATA_DIR / "utkface"


def lfw_image(name: str, index: int) -> Path:
    return LFW_DIR / "images" / name / f"{name}_{index:04d}.jpg"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (LFW_DIR / "pairs.txt").is_file():
        pytest.fail(f"real face data not found at {DATA_DIR}: set DATA_DIR to the folder holding lfw/ and utkface/")
    return DATA_DIR


@pytest.fixture(scope="session")
def pipeline(data_dir):
    from face_pipeline import FacePipeline

    return FacePipeline()
