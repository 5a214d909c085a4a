"""What every detector shares: scaling big images down, mapping results back, ordering."""

from __future__ import annotations

from abc import ABC, abstractmethod

import cv2
import numpy as np

from ..types import LANDMARK_NAMES, BoundingBox, Face


class Detector(ABC):
    """Finds faces in an RGB ``uint8`` image; subclasses implement :meth:`_detect_scaled`."""

    name: str = "detector"
    default_confidence: float = 0.9
    """The score below which detections are dropped when the settings leave it unset."""

    def __init__(self, *, max_image_side: int = 1280, min_face_size: int = 20,
                 min_confidence: float | None = None) -> None:
        self.max_image_side = max_image_side
        self.min_face_size = min_face_size
        self.min_confidence = self.default_confidence if min_confidence is None else float(min_confidence)

    @abstractmethod
    def _detect_scaled(self, image: np.ndarray, min_face_size: int) -> list[tuple[np.ndarray, float, np.ndarray]]:
        """Return ``(box_xywh float[4], score, landmarks float[5,2])`` in ``image``'s pixels."""

    def detect(self, image: np.ndarray) -> list[Face]:
        """Every face found, left to right, in the original image's pixels."""
        scale = scale_for(image.shape[:2], self.max_image_side)
        scaled = resize(image, scale)
        min_face = max(8, int(round(self.min_face_size * scale)))
        height, width = image.shape[:2]
        faces = []
        for box, score, points in self._detect_scaled(scaled, min_face):
            if score < self.min_confidence:
                continue
            box = np.asarray(box, dtype=np.float64) / scale
            points = np.asarray(points, dtype=np.float64) / scale
            if box[2] < self.min_face_size or box[3] < self.min_face_size:
                continue
            faces.append(make_face(box, score, points, width, height))
        return sorted(faces, key=lambda face: (face.box.x, face.box.y))


def scale_for(shape: tuple[int, int], max_side: int) -> float:
    """Factor (<= 1) that brings the long side down to ``max_side``."""
    long_side = max(shape)
    return 1.0 if long_side <= max_side else max_side / long_side


def resize(image: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return image
    height, width = image.shape[:2]
    size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def make_face(box: np.ndarray, score: float, points: np.ndarray, width: int, height: int) -> Face:
    """Clip the box to the image, round it to integers and name the landmarks by image side."""
    x1 = int(max(0, np.floor(box[0])))
    y1 = int(max(0, np.floor(box[1])))
    x2 = int(min(width, np.ceil(box[0] + box[2])))
    y2 = int(min(height, np.ceil(box[1] + box[3])))
    points = order_landmarks(points)
    return Face(
        box=BoundingBox(x=x1, y=y1, width=max(0, x2 - x1), height=max(0, y2 - y1)),
        confidence=float(score),
        landmarks={name: (float(px), float(py)) for name, (px, py) in zip(LANDMARK_NAMES, points)},
    )


def order_landmarks(points: np.ndarray) -> np.ndarray:
    """Eyes and mouth corners ordered left then right in the image, whatever the detector's order."""
    points = np.asarray(points, dtype=np.float64).reshape(5, 2).copy()
    for a, b in ((0, 1), (3, 4)):
        if points[a, 0] > points[b, 0]:
            points[[a, b]] = points[[b, a]]
    return points
