"""A stand-in for the TensorFlow pipeline, for fast API tests: byte 0 of the "photo" is the face
count, the rest seeds the embeddings (the same bytes are the same face), and a photo whose byte 1
is ``SLOW`` takes a while, to hold an inference slot."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np

from api.services.vectors import normalize_rows

SLOW = 0xFF


class FakeEmbedder:
    full_version = "fake:1"
    attribute_version = "fake:1"
    dim = 8


class FakeImage(np.ndarray):
    """A blank 400x100 RGB "decoded photo" (so ``?format=jpeg`` can draw on it) that remembers the
    bytes it was loaded from (which decide the fake faces)."""

    raw: bytes = b""

    @classmethod
    def of(cls, data: bytes) -> FakeImage:
        image = np.zeros((100, 400, 3), np.uint8).view(cls)
        image.raw = bytes(data)
        return image


class FakePipeline:
    threshold = 0.5
    calibration = SimpleNamespace(far_table=[])  # no 1:N table: identification uses the 1:1 threshold
    embedder = FakeEmbedder()
    versions = {"detector": "fake", "embedder": "fake:1"}
    slow_seconds = 1.0
    # What the real pipeline has and the API reads: no FAR table (1:N uses the 1:1 threshold); the
    # stages api/metrics.py times (process() below does not go through them).
    calibration = SimpleNamespace(far_table=None)

    def detect(self, image):  # noqa: ANN001, ANN201 - unused stage, timed by api/metrics.py
        raise NotImplementedError("the fake pipeline detects and describes in process()")

    describe = detect

    def load(self, data: bytes) -> FakeImage:
        return FakeImage.of(data)

    def process(self, image: FakeImage | bytes):  # noqa: ANN201 - list of FaceEmbedding
        from face_pipeline import BoundingBox, Face, FaceEmbedding

        data = getattr(image, "raw", image)

        if len(data) > 1 and data[1] == SLOW:
            time.sleep(self.slow_seconds)
        rng = np.random.default_rng(list(data[1:]) or [0])
        landmarks = {n: (1.0, 1.0) for n in ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")}
        return [
            FaceEmbedding(
                face=Face(box=BoundingBox(100 * i, 0, 50, 50), confidence=0.99, landmarks=landmarks),
                crop=np.zeros((160, 160, 3), np.uint8),
                embedding=normalize_rows(rng.normal(size=8))[0],
            )
            for i in range(data[0])
        ]
