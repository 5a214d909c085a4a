"""benchmarks.latency's helpers without models: test images, the agreement figures, bad arguments."""

from __future__ import annotations

import numpy as np

from benchmarks import latency
from face_pipeline.types import BoundingBox, Face


def _face(x: int, y: int, size: int, confidence: float = 0.99, shift: float = 0.0) -> Face:
    names = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
    points = [(x + 0.3 * size + shift, y + 0.4 * size)] * 5
    return Face(box=BoundingBox(x, y, size, size), confidence=confidence, landmarks=dict(zip(names, points)))


class _Fixed:
    def __init__(self, faces):
        self.faces = faces

    def detect(self, image):
        return self.faces


def test_canvas_and_group_photo_shapes():
    photo = np.full((250, 250, 3), 200, dtype=np.uint8)
    canvas = latency.on_canvas(photo)
    assert canvas.shape == (480, 640, 3)
    assert canvas[240, 320, 0] == 200 and canvas[0, 0, 0] == 0
    group = latency.group_photo([photo] * 20)
    assert group.shape == (960, 1280, 3)
    centres = [group[r * 240 + 120, c * 256 + 128, 0] for r in range(4) for c in range(5)]
    assert centres == [200] * 20


def test_box_iou():
    a = BoundingBox(0, 0, 10, 10)
    assert latency.box_iou(a, a) == 1.0
    assert latency.box_iou(a, BoundingBox(20, 20, 5, 5)) == 0.0
    assert abs(latency.box_iou(a, BoundingBox(5, 0, 10, 10)) - 50 / 150) < 1e-9


def test_agreement_counts_mismatches_and_worst_pairs():
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    same = latency.agreement(_Fixed([_face(0, 0, 100)]), _Fixed([_face(0, 0, 100)]), [image, image])
    assert same == {**same, "faces": 2, "count_mismatches": 0, "min_iou": 1.0, "max_landmark_px": 0.0}
    off = latency.agreement(_Fixed([_face(2, 0, 100, 0.9, shift=1.5)]), _Fixed([_face(0, 0, 100)]), [image])
    assert off["min_iou"] < 1.0 and off["max_landmark_px"] == 3.5 and abs(off["max_confidence_diff"] - 0.09) < 1e-9
    missing = latency.agreement(_Fixed([]), _Fixed([_face(0, 0, 100)]), [image])
    assert missing["count_mismatches"] == 1 and missing["faces"] == 0


def test_cli_refuses_a_missing_data_folder(tmp_path, capsys):
    assert latency.main(["--data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no LFW images") and err.count("\n") == 1


def test_cli_refuses_zero_runs(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    assert latency.main(["--data", str(tmp_path), "--runs", "0"]) == 2
    assert "--runs" in capsys.readouterr().err
