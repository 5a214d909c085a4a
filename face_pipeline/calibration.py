"""Thresholds (and the fusion weight) calibrated offline, stored as package data per embedder
kind with where they came from. The registry's ``face-recognition`` model carries its own and
overrides these when the API serves one; these are what the pipeline alone (CLI, tests) uses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files


@dataclass(frozen=True)
class Calibration:
    threshold: float
    """1:1 verification: the accuracy-optimal cosine threshold."""
    far_table: list[list[float]]
    """``[[per-comparison FAR, threshold], ...]`` for 1:N identification (see ``calibrate``)."""
    weight: float | None
    """FaceNet's share of the fused cosine (None for a single network)."""
    embedder: str
    source: str


def load_calibration(kind: str = "fused") -> Calibration:
    data = json.loads((files("face_pipeline") / "data" / "calibration.json").read_text())
    entry = data[kind]
    return Calibration(threshold=float(entry["threshold"]),
                       far_table=[list(map(float, row)) for row in entry.get("far_table", [])],
                       weight=entry.get("weight"), embedder=entry["embedder"], source=entry["source"])
