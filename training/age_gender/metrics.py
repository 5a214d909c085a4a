"""Age and gender metrics and plots, shared by the trainer and ``benchmarks.age_gender`` so both
report the same numbers the same way. Adults are ``age >= 13`` (the 0-12 band is "children")."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .utk import AGE_BANDS, age_band

ADULT_MIN_AGE = 13
GENDER_LABELS = ("male", "female")


def band_key(band: str) -> str:
    """A band as a metric-name suffix (MLflow refuses ``+``): ``60+`` -> ``60plus``."""
    return band.replace("+", "plus")


def age_metrics(true_age, pred_age) -> dict[str, float]:
    """``age_mae`` overall and ``age_mae_<band>`` per band (bands by the true age, ``0-12`` ... ``60plus``;
    empty bands left out)."""
    true_age = np.asarray(true_age, np.float64)
    pred_age = np.asarray(pred_age, np.float64)
    errors = np.abs(true_age - pred_age)
    out = {"age_mae": float(errors.mean()) if len(errors) else float("nan")}
    bands = np.array([age_band(a) for a in true_age])
    for band in AGE_BANDS:
        mask = bands == band
        if mask.any():
            out[f"age_mae_{band_key(band)}"] = float(errors[mask].mean())
    return out


def _gender_scores(true_gender: np.ndarray, pred_gender: np.ndarray) -> dict[str, float]:
    """Accuracy, F1 of "female" (label 1) and macro F1 (mean of both classes' F1)."""
    def f1(positive: int) -> float:
        tp = np.sum((pred_gender == positive) & (true_gender == positive))
        fp = np.sum((pred_gender == positive) & (true_gender != positive))
        fn = np.sum((pred_gender != positive) & (true_gender == positive))
        return float(2 * tp / (2 * tp + fp + fn)) if (2 * tp + fp + fn) else 0.0

    return {"acc": float(np.mean(true_gender == pred_gender)), "f1": f1(1), "f1_macro": (f1(0) + f1(1)) / 2}


def gender_metrics(true_gender, pred_gender, true_age) -> dict[str, float]:
    """``gender_acc``/``gender_f1``/``gender_f1_macro`` overall, for adults (13+) and children (0-12).
    Genders are 0 = male, 1 = female (UTKFace's codes)."""
    true_gender = np.asarray(true_gender).astype(int)
    pred_gender = np.asarray(pred_gender).astype(int)
    adult = np.asarray(true_age) >= ADULT_MIN_AGE
    out = {}
    for name, mask in (("", np.ones_like(adult)), ("_adults", adult), ("_children", ~adult)):
        if mask.any():
            for key, value in _gender_scores(true_gender[mask], pred_gender[mask]).items():
                out[f"gender_{key}{name}"] = value
    return out


def all_metrics(true_age, true_gender, pred_age, pred_gender) -> dict[str, float]:
    return {**age_metrics(true_age, pred_age), **gender_metrics(true_gender, pred_gender, true_age)}


def confusion(true_gender, pred_gender) -> np.ndarray:
    """2x2 counts, rows = true (male, female), columns = predicted."""
    matrix = np.zeros((2, 2), int)
    for t, p in zip(np.asarray(true_gender).astype(int), np.asarray(pred_gender).astype(int)):
        matrix[t, p] += 1
    return matrix


def plot_confusion(true_gender, pred_gender, true_age, path: Path, title: str = "gender") -> Path:
    """Confusion matrices side by side: everyone, adults (13+), children (0-12)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    true_gender, pred_gender, true_age = map(np.asarray, (true_gender, pred_gender, true_age))
    groups = [("all", np.ones(len(true_age), bool)), ("13+", true_age >= ADULT_MIN_AGE),
              ("0-12", true_age < ADULT_MIN_AGE)]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    for ax, (name, mask) in zip(axes, groups):
        matrix = confusion(true_gender[mask], pred_gender[mask])
        ax.imshow(matrix, cmap="Blues")
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, str(value), ha="center", va="center",
                    color="white" if value > matrix.max() / 2 else "black")
        acc = np.trace(matrix) / max(matrix.sum(), 1)
        ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=GENDER_LABELS, yticklabels=GENDER_LABELS,
               xlabel="predicted", ylabel="true", title=f"{name} (n={mask.sum()}, acc {acc:.1%})")
    fig.suptitle(title)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_age_errors(true_age, pred_age, path: Path, title: str = "age") -> Path:
    """Predicted vs true age (scatter) and the MAE per age band (bars)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    true_age, pred_age = np.asarray(true_age, float), np.asarray(pred_age, float)
    metrics = age_metrics(true_age, pred_age)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    left.scatter(true_age, pred_age, s=4, alpha=0.4)
    top = max(true_age.max(initial=1), pred_age.max(initial=1))
    left.plot([0, top], [0, top], "k--", linewidth=1)
    left.set(xlabel="true age", ylabel="predicted age", title=f"MAE {metrics['age_mae']:.2f} years")
    bands = [b for b in AGE_BANDS if f"age_mae_{band_key(b)}" in metrics]
    right.bar(bands, [metrics[f"age_mae_{band_key(b)}"] for b in bands])
    right.set(xlabel="true age band", ylabel="MAE (years)", title="MAE by age band")
    fig.suptitle(title)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
