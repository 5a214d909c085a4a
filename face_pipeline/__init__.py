"""Face pipeline shared by the API and the trainer: detect, align and embed faces offline.

    >>> pipeline = FacePipeline()
    >>> image = pipeline.load("photo.jpg")
    >>> [f.face.to_dict() for f in pipeline.process(image)]
"""

from .config import PipelineSettings
from .errors import FacePipelineError, ImageError, ModelFileMissingError
from .images import load_image
from .pipeline import FacePipeline, cosine_similarity
from .types import BoundingBox, Face, FaceEmbedding

__all__ = [
    "BoundingBox",
    "Face",
    "FaceEmbedding",
    "FacePipeline",
    "FacePipelineError",
    "ImageError",
    "ModelFileMissingError",
    "PipelineSettings",
    "cosine_similarity",
    "load_image",
]
