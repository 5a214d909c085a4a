"""The match threshold calibrated on LFW, stored as package data with where it came from."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files


@dataclass(frozen=True)
class Calibration:
    threshold: float
    embedder: str
    source: str


def load_calibration() -> Calibration:
    data = json.loads((files("face_pipeline") / "data" / "calibration.json").read_text())
    return Calibration(threshold=float(data["threshold"]), embedder=data["embedder"], source=data["source"])
