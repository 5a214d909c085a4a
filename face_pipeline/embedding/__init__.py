"""Face embedders behind one small interface, and the factory that builds the configured one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Embedder, FaceDescriptions

if TYPE_CHECKING:
    from ..config import PipelineSettings

EMBEDDERS = ("fused", "facenet", "sface")


def create_embedder(settings: PipelineSettings, fusion_weight: float) -> Embedder:
    """The embedder ``settings.embedder`` names; imports are lazy so TensorFlow loads only when
    FaceNet is asked to run on it."""
    common = {"batch_size": settings.embed_batch_size, "flip": settings.flip_embeddings}
    from ..config import resolved_cache_dir

    openvino = {"cache_dir": resolved_cache_dir(settings), "threads": settings.inference_threads,
                "precision": settings.inference_precision}

    def facenet() -> Embedder:
        if settings.embedder_runtime == "tensorflow":
            from .facenet import FaceNetEmbedder

            return FaceNetEmbedder(**common)
        from .facenet import FaceNetOpenVINOEmbedder

        return FaceNetOpenVINOEmbedder(**common, **openvino, int8=settings.facenet_int8)

    def sface() -> Embedder:
        from .sface import SFaceEmbedder

        return SFaceEmbedder(**common, **openvino)

    if settings.embedder == "facenet":
        return facenet()
    if settings.embedder == "sface":
        return sface()
    if settings.embedder == "fused":
        from .fused import FusedEmbedder

        return FusedEmbedder(facenet(), sface(), fusion_weight)
    raise ValueError(f"unknown embedder {settings.embedder!r}: choose one of {', '.join(EMBEDDERS)}")


__all__ = ["EMBEDDERS", "Embedder", "FaceDescriptions", "create_embedder"]
