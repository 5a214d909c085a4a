"""Face detectors behind one small interface, chosen by name."""

from __future__ import annotations

from .base import Detector

DETECTORS = ("mtcnn", "yunet")


def create_detector(name: str, *, max_image_side: int, min_face_size: int, min_confidence: float) -> Detector:
    """Build the detector ``name``; imports are lazy so YuNet users never load TensorFlow's MTCNN."""
    if name == "mtcnn":
        from .mtcnn_detector import MTCNNDetector

        return MTCNNDetector(max_image_side=max_image_side, min_face_size=min_face_size, min_confidence=min_confidence)
    if name == "yunet":
        from .yunet_detector import YuNetDetector

        return YuNetDetector(max_image_side=max_image_side, min_face_size=min_face_size, min_confidence=min_confidence)
    raise ValueError(f"unknown detector {name!r}: choose one of {', '.join(DETECTORS)}")


__all__ = ["DETECTORS", "Detector", "create_detector"]
