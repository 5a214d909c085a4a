"""``benchmarks.gallery``'s account of missed neighbours: real faces are told apart from synthetic
distractors, and the best missed score is the exact one; its face-like distractors follow the population
they were fitted to; the real-LFW gallery holds out each person's last photo and ranks people by their
best face; ``benchmarks.analyze_gallery`` keeps the API worker's memory apart from Milvus's."""

from __future__ import annotations

import numpy as np

from benchmarks.analyze_gallery import split_memory
from benchmarks.gallery import (
    DIM,
    FaceLike,
    exact_truth,
    face_like_check,
    person_truth,
    real_lfw_gallery,
    what_was_missed,
)


def test_exact_truth_ranks_with_scores_and_ids_from_one():
    vectors = np.eye(4, dtype=np.float32)
    ids = np.arange(1, 5)
    truth = exact_truth((ids, ids, vectors), np.array([[0.1, 0.9, 0.3, 0.0]], np.float32), real=2)
    assert truth["top10"][0][:3] == [2, 3, 1] and truth["top1"] == [[2]] and truth["real"] == 2
    assert abs(truth["scores"][0][3] - 0.3) < 1e-6


def test_misses_are_split_into_real_faces_and_distractors():
    # ids 1..3 are real faces; two queries, each with its exact top-4 and scores
    truth = {"real": 3, "top10": [[1, 7, 2, 9], [2, 8, 3, 5]],
             "scores": [{1: 0.9, 7: 0.3, 2: 0.25, 9: 0.2}, {2: 0.8, 8: 0.35, 3: 0.3, 5: 0.1}]}
    found = [[1, 7, 9, 11], [2, 3, 5, 6]]  # missed: real 2 (0.25) for the first, distractor 8 (0.35)
    missed = what_was_missed(found, truth)
    assert missed == {"recall_at_10_of_real_faces": round(1 - 1 / 4, 4), "missed": 2, "missed_synthetic": 1,
                      "best_missed_score": 0.35}
    assert what_was_missed(truth["top10"], truth)["missed"] == 0


def test_face_like_distractors_are_unit_seeded_and_follow_their_population():
    rng = np.random.default_rng(0)
    direction = np.zeros(DIM, np.float32)
    direction[0] = 1.0  # a population sharing one mean direction, most of its variance in 20 dimensions
    spread = np.r_[np.ones(20), np.full(DIM - 20, 0.05)]
    population = direction * 2 + rng.standard_normal((3000, DIM)).astype(np.float32) * spread
    draw = FaceLike(population)
    sample = draw(4000, seed=3)
    assert sample.shape == (4000, DIM) and sample.dtype == np.float32
    assert np.allclose(np.linalg.norm(sample, axis=1), 1, atol=1e-5)
    assert np.array_equal(sample, draw(4000, seed=3)) and not np.array_equal(sample, draw(4000, seed=4))
    units = population / np.linalg.norm(population, axis=1, keepdims=True)
    assert abs(float(sample[:, 0].mean()) - float(units[:, 0].mean())) < 0.03  # the shared direction kept
    head = float((sample[:, 1:21] ** 2).sum(axis=1).mean())
    assert 0.5 * float((units[:, 1:21] ** 2).sum(axis=1).mean()) < head  # the variance stays where it was
    isotropic = rng.standard_normal((4000, DIM))
    isotropic /= np.linalg.norm(isotropic, axis=1, keepdims=True)
    assert head > 5 * float((isotropic[:, 1:21] ** 2).sum(axis=1).mean())


def test_api_and_milvus_processes_are_reported_apart():
    memory = {1: {"cmd": "python -m uvicorn api.main:app", "rss_mb": 700.0, "peak_rss_mb": 760.0},
              2: {"cmd": "python -m uvicorn api.main:app --worker", "rss_mb": 650.0, "peak_rss_mb": 800.0},
              3: {"cmd": "/venv/lib/milvus_lite/lib/milvus /tmp/x.db", "rss_mb": 300.0, "peak_rss_mb": 310.0},
              4: {"cmd": "Milvus-helper", "rss_mb": 20.5, "peak_rss_mb": 21.0}}
    assert split_memory(memory) == {"worker_rss_mb": 700.0, "worker_peak_rss_mb": 800.0, "milvus_rss_mb": 320.5}
    assert "milvus_rss_mb" not in split_memory({1: memory[1]})


def test_real_gallery_holds_out_the_last_photo_of_people_with_two_or_more():
    vectors = np.eye(6, DIM, dtype=np.float32) * 3  # normalised by the gallery
    everything = {"names": np.array(["B", "A", "A", "C", "A", "B"]),
                  "files": np.array(["B_0002.jpg", "A_0001.jpg", "A_0003.jpg", "C_0001.jpg", "A_0002.jpg",
                                     "B_0001.jpg"]),
                  "vectors": vectors}
    real = real_lfw_gallery(everything)
    assert real["people"] == 3 and len(real["queries"]) == 2 and len(real["ids"]) == 4
    assert np.allclose(real["queries"], vectors[[0, 2]] / 3)  # A_0003 and B_0002: rows 0 and 2, sorted
    assert sorted(real["query_owners"].tolist()) == [1, 2]  # A is person 1, B person 2
    assert sorted(real["owners"].tolist()) == [1, 1, 2, 3]  # C's only photo stays enrolled
    assert np.allclose(np.linalg.norm(real["vectors"], axis=1), 1)
    single = real_lfw_gallery(everything, one_per_person=True)  # A_0001, B_0001, C_0001
    assert sorted(single["owners"].tolist()) == [1, 2, 3] and np.allclose(single["queries"], real["queries"])
    assert np.allclose(single["vectors"][single["owners"] == 1], vectors[1] / 3)


def test_people_are_ranked_by_their_best_face():
    owners = np.array([7, 5, 7, 9])
    vectors = np.eye(4, DIM, dtype=np.float32)
    query = np.zeros((1, DIM), np.float32)
    query[0, :4] = [0.2, 0.5, 0.9, 0.1]  # person 7's best face (0.9) beats person 5 (0.5) and 9 (0.1)
    assert person_truth(owners, vectors, query, k=3) == [[7, 5, 9]]
    assert person_truth(owners, vectors, query, k=2) == [[7, 5]]


def test_face_like_check_sees_faces_that_live_in_a_subspace():
    rng = np.random.default_rng(1)
    basis = np.linalg.qr(rng.standard_normal((DIM, 100)))[0].T  # real faces span 100 of the 640 directions
    people = lambda count: (rng.standard_normal((count, 100)) @ basis + 0.3 * basis[0]).astype(np.float32)  # noqa: E731
    population, enrolled = people(1500), people(40)
    faces = {"enrolled": enrolled, "queries": enrolled + 0.3 * people(40)}
    check = face_like_check(faces, population, FaceLike(population), size=3000)
    assert check["energy_share_in_smaller_half_of_directions"]["real"] < 1e-6  # none outside their subspace
    assert check["energy_share_in_smaller_half_of_directions"]["face_like"] > 1e-3  # the shrinkage puts some there
    assert abs(check["mean_cosine_query_to_real_strangers"] - check["mean_cosine_query_to_distractors"]) < 0.05
    for side in ("nearest_distractors_of_real_faces_median", "nearest_distractors_of_held_out_samples_median"):
        assert check[side]["best"] >= check[side]["tenth"]
