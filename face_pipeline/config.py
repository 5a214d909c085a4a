"""Pipeline settings, read from the environment (prefix ``FACE_``) so that the API, the trainer
and the CLI all agree on how a face is found and cut out without passing options around."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PipelineSettings(BaseSettings):
    """How faces are detected, aligned and embedded."""

    model_config = SettingsConfigDict(env_prefix="FACE_", env_file=".env", extra="ignore")

    detector: Literal["mtcnn", "yunet"] = Field(
        "mtcnn", description="Face detector: MTCNN (default, most accurate here) or YuNet (fast)."
    )
    max_image_side: int = Field(
        1280, ge=64, description="Images whose long side exceeds this are scaled down before detection."
    )
    min_face_size: int = Field(20, ge=8, description="Smallest face side, in original-image pixels, to look for.")
    min_confidence: float = Field(0.9, ge=0.0, le=1.0, description="Detections below this score are dropped.")
    max_pixels: int = Field(
        40_000_000, ge=1, description="Images with more pixels than this are refused (decompression bombs)."
    )
    embed_batch_size: int = Field(16, ge=1, description="Faces per embedder call.")
    flip_embeddings: bool = Field(
        True, description="Average each face's embedding with its mirror image's (test-time augmentation)."
    )
