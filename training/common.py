"""Pieces every trainer shares: pairs of faces, per-epoch MLflow logging
and the plots each run keeps as artifacts."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np


def sample_pairs(identities: np.ndarray, rng: np.random.Generator, max_positive: int = 2000,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index pairs ``(i, j, same)``: same-identity pairs (at most ``max_positive``) and as many
    random different-identity pairs, so the classes are balanced."""
    identities = np.asarray(identities)
    positives = []
    for name in np.unique(identities):
        members = np.flatnonzero(identities == name)
        positives += [(a, b) for k, a in enumerate(members) for b in members[k + 1 :]]
    positives = np.array(positives, dtype=np.int64).reshape(-1, 2)
    if len(positives) > max_positive:
        positives = positives[rng.choice(len(positives), max_positive, replace=False)]
    negatives = []
    tries = 0
    while len(negatives) < max(len(positives), 1) and tries < 100 * max(len(positives), 1) and len(set(identities)) > 1:
        a, b = rng.integers(0, len(identities), size=2)
        tries += 1
        if identities[a] != identities[b]:
            negatives.append((a, b))
    negatives = np.array(negatives, dtype=np.int64).reshape(-1, 2)
    first = np.concatenate([positives[:, 0], negatives[:, 0]])
    second = np.concatenate([positives[:, 1], negatives[:, 1]])
    same = np.concatenate([np.ones(len(positives), bool), np.zeros(len(negatives), bool)])
    return first, second, same


def cosine_scores(embeddings: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return np.sum(embeddings[first] * embeddings[second], axis=1).astype(np.float64)


def artifact_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="run-artifacts-"))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str, out: Path) -> Path:
    """ROC curves of several score sets (name -> (scores, labels))."""
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    for name, (scores, labels) in curves.items():
        fpr, tpr, _ = roc_curve(labels, scores)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(labels, scores):.4f})")
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_score_histogram(scores: np.ndarray, labels: np.ndarray, threshold: float, title: str, out: Path) -> Path:
    plt = _pyplot()
    labels = np.asarray(labels, bool)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.hist(scores[labels], bins=40, alpha=0.6, label="same person")
    ax.hist(scores[~labels], bins=40, alpha=0.6, label="different people")
    ax.axvline(threshold, color="k", linestyle="--", label=f"threshold {threshold:.3f}")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_confusion_matrix(labels: np.ndarray, predicted: np.ndarray, names: tuple[str, str], title: str,
                          out: Path) -> Path:
    from sklearn.metrics import ConfusionMatrixDisplay

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ConfusionMatrixDisplay.from_predictions(np.asarray(labels, bool), np.asarray(predicted, bool),
                                            labels=[False, True], display_labels=list(names), ax=ax,
                                            colorbar=False)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_history(history: dict[str, list[float]], title: str, out: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    for key, values in history.items():
        ax.plot(range(1, len(values) + 1), values, label=key)
    ax.set_xlabel("epoch")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def mlflow_epoch_callback(extra=None):
    """A Keras callback logging each epoch's metrics to the active MLflow run (plus ``extra()``'s)."""
    import keras
    import mlflow

    class MlflowEpochLogger(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            metrics = {k: float(v) for k, v in (logs or {}).items()}
            if extra is not None:
                metrics.update(extra())
                (logs if logs is not None else {}).update(metrics)
            mlflow.log_metrics(metrics, step=epoch)

    return MlflowEpochLogger()
