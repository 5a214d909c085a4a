"""``benchmarks.gallery``'s account of missed neighbours: real faces are told apart from synthetic
distractors, and the best missed score is the exact one."""

from __future__ import annotations

import numpy as np

from benchmarks.gallery import exact_truth, what_was_missed


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
