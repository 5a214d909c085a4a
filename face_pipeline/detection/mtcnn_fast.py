"""MTCNN's three stages from the ``mtcnn`` package, run through compiled TensorFlow graphs.

Why this exists: ``mtcnn.MTCNN.detect_faces`` calls its Keras networks eagerly, layer by layer,
once per pyramid scale, so on a 2-core CPU most of its time is Python and op-dispatch overhead,
not convolution. Here the package's own networks and weights run inside ``tf.function`` graphs
traced once with free spatial dimensions (no retracing per image size), the resize of each pyramid
level runs inside the same graph as PNet, and every step between the networks reuses the package's
own NumPy helpers (box generation, its NMS, square boxes, regression, landmarks), so the faces,
confidences and landmarks are the package's to float round-off.
"""

from __future__ import annotations

import numpy as np

# The package's own helpers: reusing them keeps every decision (NMS order, square boxes, offsets) identical.
from mtcnn.utils.bboxes import (
    adjust_bboxes,
    generate_bounding_box,
    limit_bboxes,
    pick_matches,
    replace_confidence,
    resize_to_square,
    smart_nms_from_bboxes,
    upscale_bboxes,
)
from mtcnn.utils.images import build_scale_pyramid
from mtcnn.utils.landmarks import adjust_landmarks

# The package's defaults (``MTCNN.detect_faces`` keyword arguments).
SCALE_FACTOR = 0.709
THRESHOLDS = (0.6, 0.7, 0.8)
NMS_PNET_SCALE, NMS_PNET_ALL, NMS_RNET, NMS_ONET = 0.5, 0.7, 0.7, 0.7


class FastMTCNN:
    """MTCNN detection on one RGB image; returns the package's ``(n, 16)`` rows.

    Each row is ``[image_id, x1, y1, x2, y2, confidence, 5 landmark xs, 5 landmark ys]`` in the
    image's pixels, fitted to the image like ``detect_faces(..., fit_to_image=True)``. Thread-safe:
    the graphs hold no per-call state.
    """

    def __init__(self) -> None:
        import tensorflow as tf
        from mtcnn.stages import StageONet, StagePNet, StageRNet

        self._tf = tf
        pnet, rnet, onet = StagePNet().model, StageRNet().model, StageONet().model
        self._networks = (pnet, rnet, onet)  # keep the Keras objects (and their weights) alive
        image_spec = tf.TensorSpec([1, None, None, 3], tf.float32)

        @tf.function(input_signature=[image_spec, tf.TensorSpec([2], tf.int32)])
        def pnet_level(image, size):
            # Same op as mtcnn.utils.images.scale_images (area resize of the normalised image).
            scaled = tf.image.resize(image, size, method=tf.image.ResizeMethod.AREA)
            reg, prob = pnet(scaled)
            return reg, prob

        def patches_network(network, patch_size):
            @tf.function(input_signature=[image_spec, tf.TensorSpec([None, 4], tf.float32)])
            def run(image, boxes):
                # Same op as mtcnn.utils.images.extract_patches for a batch of one image.
                patches = tf.image.crop_and_resize(image, boxes, tf.zeros([tf.shape(boxes)[0]], tf.int32), patch_size)
                return network(patches)

            return run

        self._pnet = pnet_level
        self._rnet = patches_network(rnet, (24, 24))
        self._onet = patches_network(onet, (48, 48))

    def warm_up(self) -> None:
        """Trace every graph once, so that the first real request does not pay for it."""
        self.detect(np.full((64, 64, 3), 127, dtype=np.uint8), min_face_size=20)

    def detect(self, image: np.ndarray, *, min_face_size: int = 20) -> np.ndarray:
        """Faces in an RGB ``uint8`` image as the package's ``(n, 16)`` array (float64)."""
        tf = self._tf
        height, width = image.shape[:2]
        # (x - 127.5) / 128 is exact in float32, so this equals the package's float64 normalisation.
        normalized = tf.constant(((image.astype(np.float32) - 127.5) / 128.0)[None])
        bboxes = self._stage_pnet(normalized, height, width, min_face_size)
        if len(bboxes):
            bboxes = self._stage_rnet(normalized, bboxes, height, width)
        if len(bboxes):
            bboxes = self._stage_onet(normalized, bboxes, height, width)
        if not len(bboxes):
            return np.empty((0, 16))
        return limit_bboxes(bboxes, images_shapes=np.asarray([[height, width, 3]]), limit_landmarks=False)

    def _stage_pnet(self, normalized, height: int, width: int, min_face_size: int) -> np.ndarray:
        """mtcnn.stages.StagePNet.__call__ with each level's resize and PNet in one graph call."""
        scales = build_scale_pyramid(height, width, min_face_size=min_face_size, scale_factor=SCALE_FACTOR)
        per_scale = []
        for scale in scales:
            size = (np.asarray([height, width]) * scale).astype(np.int32)  # tf.image.resize truncates the same way
            if size.min() < 12:  # PNet needs a 12x12 window; the package would fail here and report no face
                continue
            reg, prob = self._pnet(normalized, size)
            boxes = generate_bounding_box(reg, prob, THRESHOLDS[0])
            boxes = upscale_bboxes(boxes, np.asarray([scale]))
            per_scale.append(smart_nms_from_bboxes(boxes, threshold=NMS_PNET_SCALE, method="union", initial_sort=False))
        bboxes = np.concatenate(per_scale, axis=0) if per_scale else np.empty((0, 6))
        if not len(bboxes):
            return bboxes
        bboxes = smart_nms_from_bboxes(bboxes, threshold=NMS_PNET_ALL, method="union", initial_sort=True)
        return resize_to_square(bboxes)

    def _crop_boxes(self, bboxes: np.ndarray, height: int, width: int):
        """Boxes as crop_and_resize wants them: [y1, x1, y2, x2] divided by the image's size."""
        coords = bboxes[:, [2, 1, 4, 3]] / np.asarray([[height, width, height, width]])
        return self._tf.constant(coords.astype(np.float32))

    def _stage_rnet(self, normalized, bboxes: np.ndarray, height: int, width: int) -> np.ndarray:
        """mtcnn.stages.StageRNet.__call__."""
        offsets, scores = self._rnet(normalized, self._crop_boxes(bboxes, height, width))
        bboxes = replace_confidence(bboxes, scores.numpy())
        bboxes = adjust_bboxes(bboxes, offsets.numpy())
        bboxes = pick_matches(bboxes, score_threshold=THRESHOLDS[1])
        if not len(bboxes):
            return bboxes
        bboxes = smart_nms_from_bboxes(bboxes, threshold=NMS_RNET, method="union", initial_sort=True)
        return resize_to_square(bboxes)

    def _stage_onet(self, normalized, bboxes: np.ndarray, height: int, width: int) -> np.ndarray:
        """mtcnn.stages.StageONet.__call__."""
        offsets, landmarks, scores = self._onet(normalized, self._crop_boxes(bboxes, height, width))
        landmarks = adjust_landmarks(landmarks, bboxes)
        bboxes = replace_confidence(bboxes, scores.numpy())
        bboxes = adjust_bboxes(bboxes, offsets.numpy())
        bboxes = np.concatenate([bboxes, landmarks], axis=-1)
        bboxes = pick_matches(bboxes, scores_column=5, score_threshold=THRESHOLDS[2])
        if not len(bboxes):
            return bboxes
        return smart_nms_from_bboxes(bboxes, threshold=NMS_ONET, method="min", initial_sort=True)
