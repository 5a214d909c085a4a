"""Recompute stored face embeddings from the kept crops after the embedder changed:
``python -m scripts.reembed [--all] [--dry-run] [--database-url URL]``.

Rows made by another embedder than the pipeline's current one (or every row with ``--all``) are
re-embedded from their aligned crop (``face_crops``) in batches, each batch in one transaction.
The face is found again inside the kept crop, so a descriptor whose networks align their own
crops (the fused FaceNet + SFace one warps five landmarks) is computed as at enrolment; a crop
where no face is found again is described from its centre and counted (``no_face_in_crop``);
rows without a crop cannot be recomputed and are listed. The gallery revision is bumped so every
API worker reloads."""

from __future__ import annotations

import argparse
import io
import sys

import numpy as np


def decode_crop(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def reembed(session_factory, pipeline, everything: bool = False, dry_run: bool = False, batch_size: int = 32) -> dict:
    from sqlalchemy import select

    from api.db.models import FaceCrop, FaceEmbeddingRow
    from api.services.gallery import bump_revision
    from api.services.vectors import to_bytes

    version = pipeline.embedder.full_version
    with session_factory() as session:
        query = select(FaceEmbeddingRow.id, FaceCrop.id.is_not(None)).outerjoin(
            FaceCrop, FaceCrop.embedding_id == FaceEmbeddingRow.id)
        if not everything:
            query = query.where(FaceEmbeddingRow.embedder_version != version)
        rows = session.execute(query.order_by(FaceEmbeddingRow.id)).all()
    with_crop = [row_id for row_id, has_crop in rows if has_crop]
    without_crop = [row_id for row_id, has_crop in rows if not has_crop]
    done = undetected = 0
    if not dry_run:
        for start in range(0, len(with_crop), batch_size):
            ids = with_crop[start : start + batch_size]
            with session_factory() as session, session.begin():
                crops = dict(session.execute(select(FaceCrop.embedding_id, FaceCrop.data)
                                             .where(FaceCrop.embedding_id.in_(ids))).all())
                described = [pipeline.describe_crop(decode_crop(crops[i])) for i in ids]
                undetected += sum(1 for _, found in described if not found)
                for row_id, (face, _) in zip(ids, described):
                    vector = face.embedding
                    row = session.get(FaceEmbeddingRow, row_id)
                    row.vector, row.dim, row.embedder_version = to_bytes(vector), int(vector.shape[0]), version
                bump_revision(session)
            done += len(ids)
    return {"embedder": version, "to_recompute": len(with_crop), "recomputed": done, "no_face_in_crop": undetected,
            "without_crop": len(without_crop), "without_crop_ids": without_crop[:50], "dry_run": dry_run}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.reembed", description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="recompute every row, not only other embedders' rows")
    parser.add_argument("--dry-run", action="store_true", help="count what would be recomputed")
    parser.add_argument("--database-url", help="default: DATABASE_URL (the API's setting)")
    args = parser.parse_args(argv)
    try:
        from sqlalchemy.exc import SQLAlchemyError

        from api.config import ApiSettings, MissingDatabaseError
        from api.db.engine import engine_for, make_session_factory
        from api.settings_errors import EXIT_USAGE, settings_or_exit
        from face_pipeline import FacePipeline

        overrides = {"database_url": args.database_url} if args.database_url else {}
        settings = settings_or_exit(lambda: ApiSettings(**overrides), pipeline=True)
        try:
            engine = engine_for(settings, create_folder=False)
        except MissingDatabaseError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        try:
            with engine.connect():  # a bad URL fails here, before the models load
                pass
            result = reembed(make_session_factory(engine), FacePipeline(), args.all, args.dry_run)
        finally:
            engine.dispose()
    except SQLAlchemyError as exc:
        print(f"error: database: {' '.join(str(exc).split())[:300]}", file=sys.stderr)
        return 2
    verb = "would recompute" if args.dry_run else "recomputed"
    count = result["to_recompute"] if args.dry_run else result["recomputed"]
    print(f"{verb} {count} embedding(s) with {result['embedder']}; {result['without_crop']} without a kept crop"
          + (f" (ids {result['without_crop_ids']})" if result["without_crop"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
