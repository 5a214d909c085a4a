"""The recognition core on real LFW photos: FaceNet on OpenVINO against TensorFlow, SFace on
OpenVINO against OpenCV's own FaceRecognizerSF, the fused descriptor, and the IR cache."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from face_pipeline import FacePipeline, PipelineSettings
from face_pipeline.alignment import align_face
from face_pipeline.calibrate import far_table, identify_threshold, threshold_at_far
from face_pipeline.embedding.fused import fuse, reweight, split
from face_pipeline.openvino_cache import IRCache
from face_pipeline.weights import shipped_file
from tests.conftest import lfw_image

PEOPLE = [("Colin_Powell", 1), ("Tony_Blair", 3), ("Serena_Williams", 2), ("George_W_Bush", 1)]


def crops_and_faces(pipeline: FacePipeline):
    images, faces = [], []
    for person in PEOPLE:
        image = pipeline.load(lfw_image(*person))
        images.append(image)
        faces.append(max(pipeline.detect(image), key=lambda f: f.box.width))
    return images, faces


def test_default_pipeline_is_fused_yunet(pipeline):
    assert pipeline.detector.name == "yunet"
    assert pipeline.embedder.full_version.startswith("fused[facenet-casia:20180408-102900:flip*")
    assert pipeline.embedder.dim == 640 and pipeline.embedder.feature_dim == 2688


def test_openvino_facenet_matches_tensorflow(pipeline):
    from face_pipeline.embedding.facenet import FaceNetEmbedder

    facenet_ov = pipeline.embedder.primary
    images, faces = crops_and_faces(pipeline)
    crops = np.stack([facenet_ov.align(image, face) for image, face in zip(images, faces)])
    tensorflow = FaceNetEmbedder(flip=True)
    ov_vectors, ov_features = facenet_ov.embed_with_features(crops)
    tf_vectors, tf_features = tensorflow.embed_with_features(crops)
    assert np.min(np.sum(ov_vectors * tf_vectors, axis=1)) > 0.9995
    np.testing.assert_allclose(ov_features, tf_features, atol=0.05, rtol=0.02)


def test_sface_on_openvino_matches_opencv(pipeline):
    """Our dequantised SFace on our warp = OpenCV 4.14's alignCrop + feature on the int8 file."""
    sface = pipeline.embedder.secondary
    path = str(shipped_file("face_recognition_sface_2021dec_int8bq.onnx"))
    recognizer = cv2.FaceRecognizerSF.create(path, "")
    images, faces = crops_and_faces(pipeline)
    for image, face in zip(images, faces):
        row = np.zeros((1, 15), np.float32)
        row[0, :4] = [face.box.x, face.box.y, face.box.width, face.box.height]
        row[0, 4:14] = face.landmark_array().ravel()
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        theirs = recognizer.feature(recognizer.alignCrop(bgr, row)).ravel()
        ours_crop = align_face(image, face, size=112, mode="arcface")
        np.testing.assert_allclose(ours_crop[..., ::-1].astype(int), recognizer.alignCrop(bgr, row).astype(int),
                                   atol=2)
        flip, sface.flip = sface.flip, False
        try:
            ours = sface.embed(ours_crop[None])[0]
        finally:
            sface.flip = flip
        assert float(ours @ (theirs / np.linalg.norm(theirs))) > 0.999


def test_fused_cosine_is_the_weighted_sum(pipeline):
    embedder = pipeline.embedder
    images, faces = crops_and_faces(pipeline)
    described = [pipeline.describe(image, [face])[0] for image, face in zip(images, faces)]
    vectors = np.stack([d.embedding for d in described])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    facenet, sface = split(vectors, 512)
    w = embedder.weight
    np.testing.assert_allclose(vectors @ vectors.T, w * facenet @ facenet.T + (1 - w) * sface @ sface.T, atol=1e-5)
    # the attribute embedding is FaceNet's own part, and re-weighting is exact
    np.testing.assert_allclose(np.stack([d.attribute_vector for d in described]), facenet, atol=1e-5)
    np.testing.assert_allclose(reweight(vectors, 512, w), vectors, atol=1e-6)
    other = reweight(vectors, 512, 0.8)
    np.testing.assert_allclose(other @ other.T, 0.8 * facenet @ facenet.T + 0.2 * sface @ sface.T, atol=1e-5)
    # same person closer than different people, in both networks and fused
    same = pipeline.process(pipeline.load(lfw_image("Colin_Powell", 7)))[0].embedding
    assert float(same @ vectors[0]) > pipeline.threshold > float(vectors[1] @ vectors[0])


def test_fusion_weight_must_be_inside_zero_one(pipeline):
    from face_pipeline.embedding.fused import FusedEmbedder

    with pytest.raises(ValueError, match="between 0 and 1"):
        FusedEmbedder(pipeline.embedder.primary, pipeline.embedder.secondary, 1.0)
    np.testing.assert_allclose(np.linalg.norm(fuse(np.ones((2, 3)), np.ones((2, 2)), 0.3), axis=1), 1.0)


def test_ir_cache_fresh_reused_and_corrupt(tmp_path):
    from face_pipeline.embedding.sface import CONVERTER_REVISION, SFACE_FILE, convert_sface

    cache = IRCache(tmp_path)
    source = shipped_file(SFACE_FILE)
    calls = []

    def build():
        calls.append(1)
        return convert_sface()

    _, how = cache.load_or_build("sface", source, CONVERTER_REVISION, build)
    assert how == "built" and len(calls) == 1
    files = sorted(p.name for p in tmp_path.iterdir())
    assert [f.rsplit(".", 1)[1] for f in files] == ["bin", "json", "xml"]
    _, how = cache.load_or_build("sface", source, CONVERTER_REVISION, build)
    assert how == "cache" and len(calls) == 1
    binary = next(tmp_path.glob("*.bin"))
    data = bytearray(binary.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the weights
    binary.write_bytes(bytes(data))
    model, how = cache.load_or_build("sface", source, CONVERTER_REVISION, build)
    assert how == "rebuilt" and len(calls) == 2
    _, how = cache.load_or_build("sface", source, CONVERTER_REVISION, build)
    assert how == "cache"
    next(tmp_path.glob("*.xml")).write_text("<net")  # truncated XML with a stale manifest
    _, how = cache.load_or_build("sface", source, CONVERTER_REVISION, build)
    assert how == "rebuilt"
    # another converter revision is another key, never the old IR
    _, how = cache.load_or_build("sface", source, CONVERTER_REVISION + "-next", build)
    assert how == "built"


def test_pipeline_reuses_the_cache_across_instances(tmp_path):
    settings = PipelineSettings(model_cache_dir=tmp_path, embedder="sface")
    first = FacePipeline(settings)
    second = FacePipeline(settings)
    assert first.embedder.cache_state == "built" and second.embedder.cache_state == "cache"
    image = first.load(lfw_image("Tony_Blair", 3))
    np.testing.assert_allclose(first.process(image)[0].embedding, second.process(image)[0].embedding, atol=1e-6)


def test_a_cached_ir_is_read_not_mapped(tmp_path):
    """The weights file of a cached IR is not left mapped once the model is compiled (it stayed
    resident beside the plugin's own copy of the weights)."""
    settings = PipelineSettings(model_cache_dir=tmp_path, embedder="sface")
    FacePipeline(settings)
    cached = FacePipeline(settings)
    assert cached.embedder.cache_state == "cache"
    binary = str(next(tmp_path.glob("sface-*.bin")))
    assert binary not in Path("/proc/self/maps").read_text()
    image = cached.load(lfw_image("Tony_Blair", 3))
    assert cached.process(image)[0].embedding.shape == (128,)


def test_open_set_threshold_tightens_with_gallery_size():
    rng = np.random.default_rng(0)
    impostors = rng.normal(0.0, 0.1, 200_000)
    table = far_table(impostors)
    assert np.mean(impostors >= threshold_at_far(impostors, 1e-3)) <= 1e-3
    small, large = identify_threshold(table, 10, 0.01), identify_threshold(table, 1000, 0.01)
    assert large > small
    assert abs(large - threshold_at_far(impostors, 1e-5)) < 0.01
    json.dumps(table)
