"""The face pipeline: detect, align, embed. One object per process, shared by every thread."""

from __future__ import annotations

import numpy as np

from .alignment import AlignMode, align_face
from .calibrate import identify_threshold
from .calibration import load_calibration
from .config import PipelineSettings
from .detection import Detector, create_detector
from .embedding import Embedder, create_embedder
from .images import ImageSource, load_image
from .types import Face, FaceEmbedding


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Similarity of two unit vectors, in [-1, 1]."""
    return float(np.dot(np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)))


class FacePipeline:
    """Loads its models once; every method is safe to call from several threads."""

    def __init__(
        self,
        settings: PipelineSettings | None = None,
        *,
        detector: Detector | None = None,
        embedder: Embedder | None = None,
        align_mode: AlignMode = "box",
    ) -> None:
        self.settings = settings or PipelineSettings()
        self.detector = detector or create_detector(
            self.settings.detector,
            max_image_side=self.settings.max_image_side,
            min_face_size=self.settings.min_face_size,
            min_confidence=self.settings.min_confidence,
        )
        kind = self.settings.embedder if embedder is None else _kind_of(embedder)
        calibration = load_calibration(kind)
        if embedder is None:
            weight = self.settings.fusion_weight or calibration.weight or 0.5
            embedder = create_embedder(self.settings, weight)
        self.embedder = embedder
        self.align_mode: AlignMode = align_mode
        self.calibration = calibration
        self.threshold = calibration.threshold
        self.threshold_source = calibration.source

    @property
    def versions(self) -> dict[str, str]:
        return {"detector": self.detector.name, "embedder": self.embedder.full_version}

    def load(self, source: ImageSource) -> np.ndarray:
        return load_image(source, max_pixels=self.settings.max_pixels)

    def detect(self, image: np.ndarray) -> list[Face]:
        return self.detector.detect(image)

    def align(self, image: np.ndarray, face: Face) -> np.ndarray:
        """The primary network's crop (FaceNet's box crop for the fused descriptor)."""
        return align_face(image, face, size=self.embedder.input_size, mode=self.align_mode)

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """Embeddings of ready crops; a fused embedder needs :meth:`describe` (each network aligns its own)."""
        return self.embedder.embed(crops)

    def describe(self, image: np.ndarray, faces: list[Face]) -> list[FaceEmbedding]:
        """``faces`` of ``image`` with their crops, descriptors and features (one batched pass per network)."""
        if not faces:
            return []
        if self.align_mode != "box":  # an alignment chosen for a single network (benchmarks.lfw_alignment)
            crops = np.stack([self.align(image, face) for face in faces])
            vectors, features = self.embed_with_features(crops)
            attribute_vectors = vectors
        else:
            described = self.embedder.describe_faces(image, faces)
            crops, vectors, features = described.crops, described.vectors, described.features
            attribute_vectors = described.attribute_vectors
        return [FaceEmbedding(face=f, crop=c, embedding=e, features=x, attribute_embedding=a)
                for f, c, e, x, a in zip(faces, crops, vectors, features, attribute_vectors)]

    def embed_with_features(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings plus the embedder's appearance features (what age/gender models read)."""
        return self.embedder.embed_with_features(crops)

    def process(self, image: np.ndarray) -> list[FaceEmbedding]:
        """Every face in ``image`` with its crop, embedding and features, left to right (the
        features come from the same forward passes as the embedding, so they cost nothing)."""
        return self.describe(image, self.detect(image))

    def describe_crop(self, crop: np.ndarray) -> tuple[FaceEmbedding, bool]:
        """A kept face crop (the API's stored 160 px box crop) described again, for migrating a
        gallery to another embedder: the face is found in the crop (the one nearest its centre);
        when none is, the crop's centre is taken as the face with landmarks where a box crop puts
        them. Returns the description and whether a face was detected."""
        height, width = crop.shape[:2]
        face = central_face(self.detect(crop), width, height)
        if face is not None:
            return self.describe(crop, [face])[0], True
        return self.describe(crop, [centred_face(width, height)])[0], False

    def identify_threshold(self, gallery_size: int, stranger_rate: float = 0.01) -> float:
        """The cosine a best match among ``gallery_size`` people must reach to name someone, so
        that about ``stranger_rate`` of strangers are named (the 1:1 threshold without a table)."""
        if not self.calibration.far_table:
            return self.threshold
        return identify_threshold(self.calibration.far_table, gallery_size, stranger_rate)

    def is_same(self, similarity: float) -> bool:
        """1:1 decision at the calibrated verification threshold."""
        return similarity >= self.threshold


def central_face(faces: list[Face], width: int, height: int) -> Face | None:
    """The face a one-person photo is about: the detection nearest the centre of the ``width`` x
    ``height`` photo, larger faces breaking near-ties (a face in the background is small and
    off-centre); None when there is none."""
    if not faces:
        return None
    return min(faces, key=lambda f: float(np.hypot(f.box.center[0] - width / 2, f.box.center[1] - height / 2))
               - 0.25 * f.box.width)


def _kind_of(embedder: Embedder) -> str:
    """The calibration entry for an embedder handed in ready-made."""
    return {"fused": "fused", "sface": "sface"}.get(embedder.name, "facenet")


_BOX_CROP_LANDMARKS = np.array([[0.34, 0.42], [0.66, 0.42], [0.5, 0.58], [0.37, 0.74], [0.63, 0.74]])
"""Where the five landmarks of a frontal face sit in a box crop (fractions of its width/height)."""


def centred_face(width: int, height: int) -> Face:
    from .types import LANDMARK_NAMES, BoundingBox

    margin_x, margin_y = int(round(width * 0.1)), int(round(height * 0.1))
    points = _BOX_CROP_LANDMARKS * [width, height]
    return Face(box=BoundingBox(margin_x, margin_y, width - 2 * margin_x, height - 2 * margin_y), confidence=0.0,
                landmarks={name: (float(x), float(y)) for name, (x, y) in zip(LANDMARK_NAMES, points)})
