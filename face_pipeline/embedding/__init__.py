"""Face embedders behind one small interface (a later embedder plugs in beside FaceNet)."""

from .base import Embedder

__all__ = ["Embedder"]
