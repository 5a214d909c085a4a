"""MTCNN from the ``mtcnn`` package (TensorFlow; the package ships its weights)."""

from __future__ import annotations

import numpy as np

from .base import Detector

_KEYPOINTS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


class MTCNNDetector(Detector):
    name = "mtcnn"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        from mtcnn import MTCNN

        self._mtcnn = MTCNN(device="CPU:0")

    def _detect_scaled(self, image: np.ndarray, min_face_size: int) -> list[tuple[np.ndarray, float, np.ndarray]]:
        found = self._mtcnn.detect_faces(image, min_face_size=min_face_size)
        results = []
        for item in found:
            points = np.asarray([item["keypoints"][name] for name in _KEYPOINTS], dtype=np.float64)
            results.append((np.asarray(item["box"], dtype=np.float64), float(item["confidence"]), points))
        return results
