"""MLflow ``pyfunc`` wrappers for the recognition head and the verifiers: the file each of those
models ships (``code_paths``) and is pickled under as the top-level module ``face_analytics_pyfunc``
(:mod:`model_registry.pyfunc` logs them), so loading one needs nothing of this project.

They run in numpy/scikit-learn only (no TensorFlow at prediction time), so the API can load and
swap them cheaply. Each model's ``metadata`` carries what the API needs besides the weights:
``threshold`` (the decision threshold), ``embedder`` (the ``pipeline.embedder.full_version`` the
model was trained on) and ``kind``.

Contracts (all embeddings are the pipeline's raw ``(N, d)`` float32 unit-norm vectors: d = 640
for the fused FaceNet + SFace descriptor, 512 for FaceNet alone):

* ``face-recognition``: ``(N, d)`` -> ``(N, D)`` projected unit-norm embeddings; matches are
  ``cosine >= threshold`` (1:1) in that space. A fused model re-weights the two networks' parts
  with its own learned weight first (artifact ``fusion``), and its metadata carries
  ``far_table``, the thresholds per false-accept rate that open-set identification reads.
* ``face-verifier``: ``(N, 2d)`` = ``[embedding_a | embedding_b]`` -> ``(N,)`` probability that
  both are the same person; same person when ``probability >= threshold``.
* ``verifier-<person>``: ``(N, d)`` -> ``(N,)`` probability that the face is that person.
"""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np

EMBEDDING_DIM = 512
"""FaceNet's width: what models from before the fused descriptor were trained on."""


def as_matrix(model_input, width: int | None = None) -> np.ndarray:
    """Model input (ndarray, DataFrame or list) as a float32 matrix, checked for width."""
    if hasattr(model_input, "to_numpy"):
        model_input = model_input.to_numpy()
    matrix = np.asarray(model_input, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    if matrix.ndim != 2 or (width is not None and matrix.shape[1] != width):
        raise ValueError(f"expected an (N, {width}) matrix, got shape {matrix.shape}")
    return matrix


def l2_normalize(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)


def apply_dense_layers(matrix: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Dense layers with ReLU between them (none after the last), then L2 normalisation."""
    out = matrix
    for i, (weights, bias) in enumerate(layers):
        out = out @ weights + bias
        if i < len(layers) - 1:
            out = np.maximum(out, 0.0)
    return l2_normalize(out)


def load_layers(path: str | Path) -> list[tuple[np.ndarray, np.ndarray]]:
    with np.load(path) as data:
        count = int(data["n_layers"])
        return [(data[f"w{i}"].astype(np.float32), data[f"b{i}"].astype(np.float32)) for i in range(count)]


def save_layers(layers: list[tuple[np.ndarray, np.ndarray]], path: str | Path) -> None:
    arrays = {"n_layers": np.array(len(layers))}
    for i, (weights, bias) in enumerate(layers):
        arrays[f"w{i}"], arrays[f"b{i}"] = weights, bias
    np.savez(path, **arrays)


def reweight_fused(matrix: np.ndarray, first_dim: int, weight: float) -> np.ndarray:
    """Fused rows ``[sqrt(w0) a | sqrt(1 - w0) b]`` (any w0) re-fused as ``[sqrt(w) a | sqrt(1 - w) b]``."""
    first = l2_normalize(matrix[:, :first_dim])
    second = l2_normalize(matrix[:, first_dim:])
    return np.concatenate([np.sqrt(weight) * first, np.sqrt(1.0 - weight) * second], axis=1).astype(np.float32)


def pair_features(pairs: np.ndarray) -> np.ndarray:
    """Similarity features of ``[a | b]`` rows: cosine, L1 distance, largest coordinate gap."""
    half = pairs.shape[1] // 2
    a = l2_normalize(pairs[:, :half])
    b = l2_normalize(pairs[:, half:])
    diff = np.abs(a - b)
    cosine = np.sum(a * b, axis=1)
    return np.stack([cosine, diff.sum(axis=1), diff.max(axis=1)], axis=1).astype(np.float64)


class ProjectionModel(mlflow.pyfunc.PythonModel):
    """Raw embeddings -> embeddings in the matching space (identity + L2 norm when there is no head)."""

    def load_context(self, context) -> None:
        import json

        artifacts = context.artifacts or {}
        head = artifacts.get("head")
        self.layers = load_layers(head) if head else []
        fusion = artifacts.get("fusion")
        self.fusion = json.loads(Path(fusion).read_text()) if fusion else None

    def predict(self, context, model_input, params=None) -> np.ndarray:
        matrix = as_matrix(model_input, self.fusion["dim"] if self.fusion else (
            self.layers[0][0].shape[0] if self.layers else None))
        if self.fusion:
            matrix = reweight_fused(matrix, int(self.fusion["first_dim"]), float(self.fusion["weight"]))
        return apply_dense_layers(matrix, self.layers) if self.layers else l2_normalize(matrix)


class PairVerifierModel(mlflow.pyfunc.PythonModel):
    """``[a | b]`` (N, 2d) -> probability of the same person, from a fitted classifier on :func:`pair_features`."""

    def load_context(self, context) -> None:
        import joblib

        self.classifier = joblib.load(context.artifacts["classifier"])

    def predict(self, context, model_input, params=None) -> np.ndarray:
        matrix = as_matrix(model_input)
        return self.classifier.predict_proba(pair_features(matrix))[:, 1].astype(np.float64)


class PersonVerifierModel(mlflow.pyfunc.PythonModel):
    """(N, d) -> probability that each face is the person (scaler + logistic regression)."""

    def load_context(self, context) -> None:
        import joblib

        self.classifier = joblib.load(context.artifacts["classifier"])

    def predict(self, context, model_input, params=None) -> np.ndarray:
        matrix = as_matrix(model_input, getattr(self.classifier, "n_features_in_", None))
        return self.classifier.predict_proba(matrix)[:, 1].astype(np.float64)
