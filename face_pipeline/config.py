"""Pipeline settings, read from the environment (prefix ``FACE_``) so that the API, the trainer
and the CLI all agree on how a face is found and cut out without passing options around."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PipelineSettings(BaseSettings):
    """How faces are detected, aligned and embedded."""

    model_config = SettingsConfigDict(env_prefix="FACE_", env_file=".env", extra="ignore", env_ignore_empty=True)

    detector: Literal["yunet", "mtcnn"] = Field(
        "yunet", description="Face detector: YuNet (default: fast, and as accurate here with the fused embedder) "
        "or MTCNN (TensorFlow)."
    )
    embedder: Literal["fused", "facenet", "sface"] = Field(
        "fused", description="Face descriptor: FaceNet and SFace fused (default), or either network alone."
    )
    embedder_runtime: Literal["openvino", "tensorflow"] = Field(
        "openvino", description="Runtime for FaceNet: OpenVINO (default, about 3x faster) or TensorFlow."
    )
    fusion_weight: float | None = Field(
        None, gt=0.0, lt=1.0, description="FaceNet's share of the fused cosine; unset: the calibrated weight."
    )
    model_cache_dir: Path = Field(
        Path("data/openvino-cache"),
        description="Where converted OpenVINO models are kept (shared by workers, survives restarts); "
        "a relative path is relative to the repository root.",
    )
    inference_threads: int = Field(0, ge=0, description="CPU threads per OpenVINO network (0: OpenVINO decides).")
    facenet_int8: bool = Field(
        False, description="FaceNet on OpenVINO from the committed int8 model (scripts.quantize_facenet).")
    inference_precision: Literal["auto", "bf16", "f32"] = Field(
        "auto", description="OpenVINO compute precision: auto = bf16 where the CPU has native bfloat16, else f32."
    )
    max_image_side: int = Field(
        1280, ge=64, description="Images whose long side exceeds this are scaled down before detection."
    )
    min_face_size: int = Field(20, ge=8, description="Smallest face side, in original-image pixels, to look for.")
    min_confidence: float | None = Field(
        None, ge=0.0, le=1.0,
        description="Detections below this score are dropped (unset: the detector's default, YuNet 0.6, MTCNN 0.9).")
    max_pixels: int = Field(
        40_000_000, ge=1, description="Images with more pixels than this are refused (decompression bombs)."
    )
    embed_batch_size: int = Field(16, ge=1, description="Faces per embedder call.")
    flip_embeddings: bool = Field(
        True, description="Average each face's embedding with its mirror image's (test-time augmentation)."
    )


ROOT = Path(__file__).resolve().parents[1]


def resolved_cache_dir(settings: PipelineSettings) -> Path:
    folder = Path(settings.model_cache_dir)
    return folder if folder.is_absolute() else ROOT / folder
