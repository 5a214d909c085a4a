"""benchmarks.analyze_gallery end to end on small galleries: real seeding, the snapshot built offline,
real uvicorn servers started from it, real photos posted to /analyze, and the report's fields."""

from __future__ import annotations

import json
import re

from benchmarks import analyze_gallery


def test_two_small_galleries_are_served_from_their_snapshots_and_timed(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GALLERY_ANN_MIN_SIZE", "1000")  # the 2,000-face gallery goes through the HNSW engine
    out = tmp_path / "analyze_gallery.json"
    code = analyze_gallery.main(["--sizes", "200", "2000", "--rounds", "1", "--enrolled", "4", "--strangers", "1",
                                 "--data", str(data_dir), "--workdir", str(tmp_path), "--output", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert re.match(r"(nice -n \d+ )?python -m benchmarks\.analyze_gallery --sizes 200 2000", report["command"])
    assert len(report["load_average_before"]) == 3 and report["photos"]["requests_per_size"] == 5
    small, large = report["results"]
    assert (small["size"], large["size"]) == (200, 2000)
    assert small["snapshot"]["hnsw"] is False and large["snapshot"]["hnsw"] is True
    for row in (small, large):
        assert row["snapshot"]["faces"] == row["size"] == row["gallery_at_ready"]["people"]
        assert row["server_started_from_snapshot"] is True
        assert row["analyze"]["requests"] == 5 and 0 < row["analyze"]["p50_ms"] <= row["analyze"]["p95_ms"]
        assert row["enrolled_named_right"] >= 0.75  # real second photos of enrolled LFW people
        assert row["strangers_left_unknown"] is not None
        assert 200 < row["worker_rss_mb"] < 8000
    ratio = report["latency_ratio_vs_smallest"]["2000"]["p50"]
    assert ratio == round(large["analyze"]["p50_ms"] / small["analyze"]["p50_ms"], 3)
    assert len(small["latencies_ms"]) == len(large["latencies_ms"]) == 5
    assert report["latency_ratio_vs_smallest"]["2000"]["paired_median"] > 0


def test_a_reused_index_of_other_vectors_is_refused(tmp_path):
    import numpy as np
    import pytest

    from api.services.gallery_engines import HnswIndex

    index = HnswIndex(8)
    index.add(np.arange(1, 101), np.eye(8, dtype=np.float32)[np.arange(100) % 8], np.arange(1, 101))
    index.save(tmp_path / "other")
    reused = analyze_gallery.ReusedIndex(8, tmp_path / "other.usearch", ann_min_size=10)
    reused.clear()
    assert reused.approximate and len(reused) == 100
    same = np.eye(8, dtype=np.float32)[np.arange(100) % 8]
    reused.add(np.arange(1, 101), same, np.arange(1, 101))  # already held: nothing added
    assert len(reused) == 100
    with pytest.raises(SystemExit, match="other vectors"):
        reused.add(np.arange(1, 3), np.roll(same[:2], 1, axis=1), np.arange(1, 3))
