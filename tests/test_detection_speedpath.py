"""MTCNN's compiled fast path against the ``mtcnn`` package on real LFW photos, and the
detector's image-size handling (minimum face size, big images scaled down and mapped back)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from benchmarks.latency import agreement, group_photo, lfw_photos, on_canvas
from face_pipeline import load_image
from face_pipeline.detection.mtcnn_detector import MTCNNDetector
from tests.conftest import LFW_DIR, lfw_image

pytestmark = pytest.mark.slow

PHOTOS = [
    ("Aaron_Peirsol", 1),
    ("George_W_Bush", 1),
    ("Serena_Williams", 2),
    ("Colin_Powell", 3),
    ("Gloria_Macapagal_Arroyo", 1),
]


@pytest.fixture(scope="module")
def fast(data_dir) -> MTCNNDetector:
    return MTCNNDetector(fast=True)


@pytest.fixture(scope="module")
def package(data_dir) -> MTCNNDetector:
    return MTCNNDetector(fast=False)


@pytest.fixture(scope="module")
def group(data_dir) -> np.ndarray:
    return group_photo([load_image(p) for p in lfw_photos(LFW_DIR, 20)])


def test_fast_path_finds_the_package_faces_on_lfw_photos_and_a_group_photo(fast, package, group):
    images = [load_image(lfw_image(name, index)) for name, index in PHOTOS]
    images.append(on_canvas(images[0]))
    images.append(group)
    figures = agreement(fast, package, images)
    assert figures["count_mismatches"] == 0
    assert figures["faces"] >= len(PHOTOS) + 1 + 20
    assert figures["min_iou"] > 0.9
    assert figures["max_landmark_px"] <= 2.0
    assert figures["max_confidence_diff"] < 1e-3


def test_group_photo_gives_every_tile_left_to_right(fast, group):
    faces = fast.detect(group)
    big = [f for f in faces if f.box.width >= 60]  # the tiles' main faces (LFW photos can show people behind)
    assert len(big) == 20
    xs = [f.box.x for f in faces]
    assert xs == sorted(xs)


def test_fast_path_keeps_no_face_and_tiny_images_quiet(fast):
    assert fast.detect(np.full((480, 640, 3), 127, dtype=np.uint8)) == []
    assert fast.detect(np.zeros((10, 14, 3), dtype=np.uint8)) == []


def test_min_face_size_drops_faces_below_it_and_uses_fewer_pyramid_levels(data_dir):
    photo = load_image(lfw_image("Aaron_Peirsol", 1))  # face about 90 px wide
    small = MTCNNDetector(min_face_size=20)
    large = MTCNNDetector(min_face_size=150)
    assert len(small.detect(photo)) == 1
    assert large.detect(photo) == []
    calls = {}
    for name, detector in (("small", small), ("large", large)):
        network = detector._fast._pnet
        count = [0]

        def counting(*args, network=network, count=count):
            count[0] += 1
            return network(*args)

        detector._fast._pnet = counting
        detector.detect(photo)
        calls[name] = count[0]
    assert 0 < calls["large"] < calls["small"]


def test_big_image_is_scaled_down_and_boxes_come_back_in_original_pixels(fast, data_dir):
    photo = load_image(lfw_image("Aaron_Peirsol", 1))
    big = cv2.resize(photo, (1000, 1000), interpolation=cv2.INTER_CUBIC)  # 4x: the face is about 360 px
    limited = MTCNNDetector(max_image_side=250)
    seen = []
    original = limited._detect_scaled

    def spy(image, min_face_size):
        seen.append(image.shape)
        return original(image, min_face_size)

    limited._detect_scaled = spy
    [face] = limited.detect(big)
    assert seen == [(250, 250, 3)]  # the detector only saw the scaled-down image
    [reference] = fast.detect(photo)
    for got, want in ((face.box.x, reference.box.x), (face.box.y, reference.box.y),
                      (face.box.width, reference.box.width), (face.box.height, reference.box.height)):
        assert abs(got - 4 * want) <= 8  # mapped back: 4x the 250x250 box, within rounding of the scaled run
    assert all(0 <= x <= 1000 and 0 <= y <= 1000 for x, y in face.landmarks.values())
    left_eye = np.asarray(face.landmarks["left_eye"]) / 4
    assert np.abs(left_eye - np.asarray(reference.landmarks["left_eye"])).max() <= 3
