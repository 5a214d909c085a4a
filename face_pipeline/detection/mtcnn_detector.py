"""MTCNN from the ``mtcnn`` package (TensorFlow; the package ships its weights).

By default the package's networks run through :class:`~.mtcnn_fast.FastMTCNN` (compiled graphs,
same weights, same steps between the networks), which finds the same faces as
``mtcnn.MTCNN.detect_faces`` several times faster; ``fast=False`` calls the package itself, which
the tests and ``benchmarks.latency`` use as the reference."""

from __future__ import annotations

import numpy as np

from .base import Detector

_KEYPOINTS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


class MTCNNDetector(Detector):
    name = "mtcnn"

    def __init__(self, *, fast: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fast = fast
        if fast:
            from .mtcnn_fast import FastMTCNN

            self._fast = FastMTCNN()
            self._fast.warm_up()
        else:
            from mtcnn import MTCNN

            self._mtcnn = MTCNN(device="CPU:0")

    def _detect_scaled(self, image: np.ndarray, min_face_size: int) -> list[tuple[np.ndarray, float, np.ndarray]]:
        if self.fast:
            from mtcnn.utils.bboxes import to_json

            # The package's own conversion (boxes and landmarks rounded to whole pixels), so both paths agree.
            rows = self._fast.detect(image, min_face_size=min_face_size)
            found = to_json(rows, images_count=1, input_as_width_height=False)[0]
        else:
            found = self._mtcnn.detect_faces(image, min_face_size=min_face_size)
        results = []
        for item in found:
            points = np.asarray([item["keypoints"][name] for name in _KEYPOINTS], dtype=np.float64)
            results.append((np.asarray(item["box"], dtype=np.float64), float(item["confidence"]), points))
        return results
