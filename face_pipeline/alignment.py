"""Cut each face out at the embedder's input size.

Two ways are offered, both a similarity transform (rotation, uniform scale, translation) from
the detector's output to the crop:

* ``box`` (default): the detector box widened by a margin on every side, scaled to the input
  size, no rotation. FaceNet-CASIA was trained on exactly this crop, and on LFW it beats the
  landmark warp (see "Choices, and why" in docs/pipeline.md and ``reports/lfw_alignment.json``).
* ``arcface``: the five landmarks mapped exactly onto ArcFace's 112x112 template by the
  least-squares similarity (Umeyama), as OpenCV's ``FaceRecognizerSF.alignCrop`` does: the crop
  SFace was trained on.
* ``landmarks``: the five landmarks mapped onto a canonical template by a least-squares
  similarity transform, which levels the eyes; for embedders trained on warped faces.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from .types import Face

AlignMode = Literal["box", "box_level", "landmarks", "arcface"]

# ArcFace's five-point template for a 112x112 crop (left eye, right eye, nose, mouth corners).
_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


def landmark_template(size: int, padding: float = 0.1) -> np.ndarray:
    """The canonical template scaled to a ``size`` square, shrunk towards its centre by ``padding``
    so that the crop keeps some context around the face as FaceNet expects."""
    points = _TEMPLATE_112 / 112.0
    points = (points - 0.5) * (1.0 - 2 * padding) + 0.5
    return (points * size).astype(np.float32)


def box_matrix(face: Face, size: int, margin: int) -> np.ndarray:
    """Affine matrix taking the widened box onto the ``size`` square (scale and shift only)."""
    x, y, w, h = face.box.x - margin, face.box.y - margin, face.box.width + 2 * margin, face.box.height + 2 * margin
    return np.array([[size / w, 0.0, -x * size / w], [0.0, size / h, -y * size / h]], dtype=np.float64)


def box_level_matrix(face: Face, size: int, margin: int) -> np.ndarray:
    """The widened box, turned about its centre so that the eyes are level."""
    points = face.landmark_array()
    dx, dy = points[1] - points[0]
    angle = float(np.arctan2(dy, dx))
    cx, cy = face.box.center
    sx, sy = size / (face.box.width + 2 * margin), size / (face.box.height + 2 * margin)
    cos, sin = np.cos(-angle), np.sin(-angle)
    rotate = np.array([[cos, -sin], [sin, cos]])
    linear = np.diag([sx, sy]) @ rotate
    offset = np.array([size / 2, size / 2]) - linear @ np.array([cx, cy])
    return np.hstack([linear, offset[:, None]])


def umeyama_similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 rotation + uniform scale + shift that maps ``source`` points onto ``target`` with
    the least squared error (Umeyama 1991), the transform behind OpenCV's ``alignCrop``."""
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    mean_s, mean_t = source.mean(axis=0), target.mean(axis=0)
    centred_s, centred_t = source - mean_s, target - mean_t
    covariance = centred_t.T @ centred_s / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(covariance) < 0:
        sign[1, 1] = -1.0
    rotation = u @ sign @ vt
    variance = centred_s.var(axis=0).sum()
    scale = float(np.trace(np.diag(singular) @ sign) / variance) if variance > 0 else 1.0
    shift = mean_t - scale * rotation @ mean_s
    return np.hstack([scale * rotation, shift[:, None]])


def arcface_matrix(face: Face, size: int = 112) -> np.ndarray:
    return umeyama_similarity(face.landmark_array(), _TEMPLATE_112 * (size / 112.0))


def landmarks_matrix(face: Face, size: int, padding: float = 0.1) -> np.ndarray:
    matrix, _ = cv2.estimateAffinePartial2D(face.landmark_array(), landmark_template(size, padding), method=cv2.LMEDS)
    if matrix is None:  # degenerate landmarks (all on a line): fall back to the box
        return box_matrix(face, size, margin=16)
    return matrix


def align_face(image: np.ndarray, face: Face, size: int = 160, mode: AlignMode = "box", margin: int = 16) -> np.ndarray:
    """The aligned ``(size, size, 3)`` ``uint8`` crop of ``face``.

    In ``box`` mode the widened box is first clipped to the image, as FaceNet's own preprocessing
    did, so that no black border enters the crop; then it is resized."""
    if mode == "box":
        height, width = image.shape[:2]
        x1 = max(face.box.x - margin, 0)
        y1 = max(face.box.y - margin, 0)
        x2 = min(face.box.x + face.box.width + margin, width)
        y2 = min(face.box.y + face.box.height + margin, height)
        if x2 - x1 >= 2 and y2 - y1 >= 2:
            crop = image[y1:y2, x1:x2]
            return cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)
        matrix = box_matrix(face, size, margin)
    elif mode == "box_level":
        matrix = box_level_matrix(face, size, margin)
    elif mode == "landmarks":
        matrix = landmarks_matrix(face, size)
    elif mode == "arcface":
        return cv2.warpAffine(image, arcface_matrix(face, size), (size, size), flags=cv2.INTER_LINEAR)
    else:
        raise ValueError(f"unknown alignment mode {mode!r}")
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
