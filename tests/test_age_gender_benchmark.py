"""The age/gender metric functions on inputs with known answers (shared by the trainer and
``benchmarks.age_gender``), the benchmark's label mapping and its one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import age_gender as bench
from training.age_gender import metrics as agm

ROOT = Path(__file__).resolve().parents[1]


def test_age_mae_overall_and_by_band():
    true = [5, 10, 15, 30, 50, 70]
    pred = [7, 10, 18, 20, 50, 60]
    m = agm.age_metrics(true, pred)
    assert m["age_mae"] == pytest.approx((2 + 0 + 3 + 10 + 0 + 10) / 6)
    assert m["age_mae_0-12"] == pytest.approx(1.0)
    assert m["age_mae_13-19"] == pytest.approx(3.0)
    assert m["age_mae_20-39"] == pytest.approx(10.0)
    assert m["age_mae_40-59"] == pytest.approx(0.0)
    assert m["age_mae_60plus"] == pytest.approx(10.0)
    assert "age_mae_60plus" not in agm.age_metrics([1, 2], [1, 2])


def test_gender_accuracy_f1_adults_children():
    true_gender = np.array([0, 0, 1, 1, 1, 0, 1, 0])
    pred_gender = np.array([0, 1, 1, 1, 0, 0, 0, 1])
    ages = np.array([30, 40, 25, 60, 13, 5, 8, 12])  # first five adults (>= 13), last three children
    m = agm.gender_metrics(true_gender, pred_gender, ages)
    assert m["gender_acc"] == pytest.approx(4 / 8)
    # female = positive: tp 2 (idx 2, 3), fp 2 (idx 1, 7), fn 2 (idx 4, 6) -> F1 = 4 / 8
    assert m["gender_f1"] == pytest.approx(0.5)
    assert m["gender_acc_adults"] == pytest.approx(3 / 5)
    assert m["gender_acc_children"] == pytest.approx(1 / 3)
    # adults: female tp 2, fp 1, fn 1 -> 4/6; male tp 1, fp 1, fn 1 -> 2/4
    assert m["gender_f1_adults"] == pytest.approx(4 / 6)
    assert m["gender_f1_macro_adults"] == pytest.approx((4 / 6 + 0.5) / 2)
    assert agm.confusion(true_gender, pred_gender).tolist() == [[2, 2], [2, 2]]


def test_perfect_predictions():
    ages, genders = [3, 17, 33, 45, 88], [0, 1, 0, 1, 0]
    m = agm.all_metrics(ages, genders, ages, genders)
    assert m["age_mae"] == 0 and m["gender_acc"] == 1 and m["gender_f1"] == 1 and m["gender_f1_macro"] == 1


def test_benchmark_score_maps_labels():
    m = bench.score([20, 30], [0, 1], [22.0, 30.0], ["male", "Female"])
    assert m["age_mae"] == pytest.approx(1.0) and m["gender_acc"] == 1.0
    with pytest.raises(ValueError):
        bench.gender_codes(["unknown"])


def test_plots_written(tmp_path):
    rng = np.random.default_rng(0)
    ages = rng.integers(0, 90, 50)
    genders = rng.integers(0, 2, 50)
    assert agm.plot_confusion(genders, 1 - genders, ages, tmp_path / "c.png").stat().st_size > 0
    assert agm.plot_age_errors(ages, ages + rng.normal(0, 5, 50), tmp_path / "a.png").stat().st_size > 0
    report = {"split": {"photos": 50}, "systems": {
        "a": {"metrics": agm.all_metrics(ages, genders, ages + 1, genders)},
        "b": {"metrics": agm.all_metrics(ages, genders, ages + 3, 1 - genders)}}}
    assert bench.plot(report, tmp_path / "r.png").stat().st_size > 0


@pytest.mark.parametrize("args, message", [
    (["--src", "/nonexistent"], "is not a folder"),
    (["--test-split", "/nonexistent.txt"], "not found"),
    (["--peer-python", "/nonexistent/python", "--model-uri", "/nonexistent/model", "--limit", "2"], "cannot load"),
    (["--aaf", "/nonexistent"], "AAF labels not found"),
    (["--aaf-val", "/nonexistent.txt"], "AAF validation list /nonexistent.txt not found"),
])
def test_cli_errors(args, message, data_dir, tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'm.db'}", "TRAINER_ARTIFACTS_DIR": str(tmp_path / "a")}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.age_gender", *args, "--out", str(tmp_path / "r.json")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "r.json").exists()


def test_layer_probe_on_real_crops(pipeline, data_dir):
    """``benchmarks.age_gender_features``: every candidate layer pooled per crop (the two layers the
    pipeline hands out equal its features), and the probe separates what is separable."""
    from benchmarks import age_gender_features as layers_bench
    from tests.conftest import lfw_image

    crops = np.stack([pipeline.process(pipeline.load(lfw_image(name, 1)))[0].crop
                      for name in ("Tony_Blair", "Serena_Williams", "Colin_Powell")])
    probing = layers_bench.probing_embedder(pipeline.embedder)
    pooled = layers_bench.pooled_layers(probing, crops)
    assert set(pooled) == set(layers_bench.LAYERS) and all(len(v) == 3 for v in pooled.values())
    _, features = probing.embed_with_features(crops)  # the same TensorFlow passes
    np.testing.assert_allclose(np.hstack([pooled["block17_10"], pooled["pool"]]), features, rtol=1e-3, atol=1e-3)
    _, served = pipeline.embed_with_features(crops)  # OpenVINO, bfloat16: the same within its rounding
    np.testing.assert_allclose(served, features, rtol=0.02, atol=0.05)

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 100)
    x = rng.normal(0, 1, (200, 5)) + 3 * y[:, None] * np.array([1, 0, 0, 0, 0])
    ages = np.where(np.arange(200) % 2, 30, 8)
    result = layers_bench.probe(x, y, ages, np.arange(0, 200, 2), np.arange(1, 200, 2))
    assert result["val_gender_acc"] > 0.9 and result["C"] in layers_bench.PROBE_C and result["dim"] == 5
    noise = layers_bench.probe(rng.normal(0, 1, (200, 5)), y, ages, np.arange(0, 200, 2), np.arange(1, 200, 2))
    assert noise["val_gender_acc"] < 0.75


@pytest.mark.parametrize("args, message", [
    (["--manifest", "/nonexistent/missing.csv"], "not found"),
    (["--widths", "128,wide"], "'wide' is not a whole number"),
    (["--members", "0"], "'0' is not a whole number"),
])
def test_layer_probe_cli_error(tmp_path, args, message):
    proc = subprocess.run([sys.executable, "-m", "benchmarks.age_gender_features", *args,
                           "--out", str(tmp_path / "r.json")],
                          cwd=ROOT, env=dict(os.environ), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "r.json").exists()


# --- All-Age-Faces: labels, the committed validation part, rows in the UTKFace manifest's shape ---

def test_aaf_val_list_regenerates_identically(data_dir):
    """The committed list is exactly what the seeded, stratified draw gives on the real labels."""
    from training.age_gender import aaf

    labels = aaf.read_labels(data_dir / "aaf")
    assert len(labels) == 2000 and labels[0].file == "00010A02.jpg" and labels[0].gender_name == "female"
    committed = aaf.read_val_list()
    assert committed == set(aaf.draw_val(labels)) and len(committed) == 400
    assert aaf.draw_val(labels) == aaf.draw_val(list(reversed(labels)))  # order of the input does not matter
    assert set(aaf.draw_val(labels, seed=7)) != committed


def test_aaf_split_is_stratified_and_disjoint(data_dir):
    from collections import Counter

    from training.age_gender import aaf
    from training.age_gender.utk import age_band

    labels = aaf.read_labels(data_dir / "aaf")
    parts = aaf.split_labels(labels, aaf.read_val_list())
    assert {x.file for x in parts["train"]}.isdisjoint(x.file for x in parts["val"])
    assert len(parts["train"]) + len(parts["val"]) == len(labels)
    everyone = Counter((x.gender, age_band(x.age)) for x in labels)
    held = Counter((x.gender, age_band(x.age)) for x in parts["val"])
    for stratum, n in everyone.items():  # every gender x age band keeps its 20 % (rounded)
        assert held[stratum] == round(n * aaf.VAL_FRACTION), stratum
    rows = aaf.manifest_rows(labels, aaf.read_val_list())
    assert set(rows[0]) == {"file", "age", "gender", "race", "split"} and {r["split"] for r in rows} == {"train", "val"}
    assert all(r["gender"] in (0, 1) and 2 <= r["age"] <= 80 for r in rows)


def test_aaf_errors(tmp_path):
    from training.age_gender import aaf

    with pytest.raises(aaf.AafDataError, match="AAF labels not found"):
        aaf.read_labels(tmp_path / "missing")
    (tmp_path / "labels.csv").write_text("file,age,gender\na.jpg,30,female\nb.jpg,x,male\n")
    with pytest.raises(aaf.AafDataError, match="line 3"):
        aaf.read_labels(tmp_path)
    (tmp_path / "labels.csv").write_text("file,age,gender\na.jpg,30,female\nb.jpg,4,male\n")
    labels = aaf.read_labels(tmp_path)
    with pytest.raises(aaf.AafDataError, match="not in labels.csv"):
        aaf.split_labels(labels, {"c.jpg"})
    with pytest.raises(aaf.AafDataError, match="not found"):
        aaf.read_val_list(tmp_path / "none.txt")


def test_aaf_cli_check_and_errors(tmp_path, data_dir):
    env = dict(os.environ)
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "training.age_gender.aaf", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)

    assert cli("--root", str(data_dir / "aaf"), "--check").returncode == 0
    tampered = tmp_path / "val.txt"
    tampered.write_text("\n".join(sorted((ROOT / "training" / "datasets" / "aaf_val.txt").read_text().split())[1:]))
    assert cli("--root", str(data_dir / "aaf"), "--out", str(tampered), "--check").returncode == 1
    missing = cli("--root", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "AAF labels not found" in missing.stderr and "Traceback" not in missing.stderr


def test_aaf_prepare_real_photos(pipeline, data_dir, tmp_path):
    """A few real AAF photos through the UTKFace preparation: rows in the manifest's shape, cached
    crops, embeddings and features that ``prepare.load_arrays`` reads like UTKFace's."""
    from training.age_gender import aaf, prepare

    rows, cache, summary = aaf.prepare(pipeline, data_dir / "aaf", tmp_path, limit=6, progress=False)
    assert len(rows) == 6 and summary["images"] == 6 and cache == prepare.cache_folder(tmp_path, pipeline, "aaf")
    assert set(rows[0]) == set(prepare.MANIFEST_FIELDS)
    assert summary["detect_status"].get("detected", 0) >= 5  # aligned faces: MTCNN finds them
    arrays = prepare.load_arrays(rows, cache, pixel_size=160, features=True)
    assert arrays["crop"].shape == (6, 160, 160, 3) and arrays["features"].shape[0] == 6
    np.testing.assert_allclose(np.linalg.norm(arrays["embedding"], axis=1), 1.0, atol=1e-3)
    assert arrays["age"].tolist() == [r["age"] for r in rows]


def _bench_small(tmp_path, *extra) -> dict:
    """``benchmarks.age_gender`` on the first 3 photos of each set with the committed baseline
    (real photos, real pipeline, a private cache), its report as a dict."""
    import json

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
           "TRAINER_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.age_gender", "--model-uri",
                           str(ROOT / "models" / "baseline" / "age-gender" / "model"), "--limit", "3", *extra,
                           "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "r.png").is_file() and (tmp_path / "r_aaf.png").is_file()
    return json.loads(out.read_text())


def test_benchmark_aaf_section_real_photos(tmp_path, data_dir):
    """The report keeps the UTKFace section and adds ``aaf_val``: the first photos of the committed
    validation list (children of 2 years), scored against their labels.csv ages and genders."""
    from training.age_gender import aaf

    report = _bench_small(tmp_path, "--skip-peer")
    assert report["split"]["photos"] == 3 and set(report["systems"]) == {"ours"}
    section = report["aaf_val"]
    assert section["split"]["file"] == "training/datasets/aaf_val.txt" and section["split"]["photos"] == 3
    ours = section["systems"]["ours"]
    assert ours["faces"] == 3 and sum(ours["detect_status"].values()) == 3
    first = sorted(aaf.read_val_list())[:3]
    labels = {x.file: x for x in aaf.read_labels(data_dir / "aaf")}
    assert all(labels[name].age < 13 for name in first)  # so only the children's figures exist
    m = ours["metrics"]
    assert "gender_acc_children" in m and "gender_acc_adults" not in m and 0 <= m["age_mae"] < 30
    assert "--model-uri" in report["command"] and "--skip-peer" in report["command"]
    assert len(report["load_average_at_end"]) == 3


def test_benchmark_aaf_section_with_peer(tmp_path, data_dir):
    """The peer on the same AAF photos (needs ``.venv-peer``: ``make .venv-peer/.installed``)."""
    if not bench.DEFAULT_PEER_PYTHON.is_file():
        pytest.skip("no .venv-peer: make .venv-peer/.installed")
    report = _bench_small(tmp_path)
    peer = report["aaf_val"]["systems"][bench.PEER_NAME]
    assert peer["faces"] == 3 and peer["package"] == bench.PEER_NAME
    assert 0 <= peer["metrics"]["age_mae"] < 30 and 0 <= peer["metrics"]["gender_acc"] <= 1
