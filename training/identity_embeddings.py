"""An identity-folder dataset (LFW's or QMUL-SurvFace's layout) as embeddings with their people
and splits: the common start of the recognition and the general-verifier trainers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .config import TrainerSettings


class IdentityData(Protocol):
    """What of a trainer's config picks the identity folders (``RecognitionConfig``, ``GeneralConfig``)."""

    data: str | None
    min_images: int
    max_people: int
    max_images: int


@dataclass
class IdentityEmbeddings:
    root: Path  # the folder of person folders
    items: list  # every manifest item, with or without a face
    kept: list[str]  # resolved paths of the images that gave a face, in the order of ``embeddings``
    embeddings: np.ndarray
    identities: np.ndarray  # the person of each kept image
    splits: np.ndarray  # "train" / "val" / "test" of each kept image
    cache: object  # the EmbeddingCache, to embed more images (LFW pairs) the same way


def embed_identity_folders(args: IdentityData, settings: TrainerSettings, seed: int,
                           pipeline=None) -> tuple[IdentityEmbeddings, object]:
    """Build the manifest from ``args`` (data, min_images, max_people, max_images), embed it
    through the cache and return it with the pipeline used (loaded here when not given)."""
    from face_pipeline import FacePipeline

    from .datasets.survface import build_manifest, person_root
    from .embedding_cache import EmbeddingCache

    data_root = Path(args.data) if args.data else settings.resolved_data_dir() / "lfw" / "images"
    if not data_root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {data_root} (set DATA_DIR or pass --data)")
    root = person_root(data_root)
    items = build_manifest(root, args.min_images, args.max_people or None, args.max_images or None, seed=seed)
    if len({i.identity for i in items}) < 3:
        raise ValueError(f"{root}: need at least 3 people with {args.min_images}+ photos")
    pipeline = pipeline or FacePipeline()
    cache = EmbeddingCache(pipeline, settings.resolved_cache_dir())
    kept, embeddings = cache.embed([root / i.path for i in items])
    meta = {str((root / i.path).resolve()): i for i in items}
    data = IdentityEmbeddings(
        root=root, items=items, kept=kept, embeddings=embeddings,
        identities=np.array([meta[k].identity for k in kept]), splits=np.array([meta[k].split for k in kept]),
        cache=cache,
    )  # fmt: skip
    return data, pipeline
