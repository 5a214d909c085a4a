"""``python -m scripts.prepare_utk_face --src DIR [--out DIR]``: parse UTKFace names (malformed ones
skipped and counted), detect/align/embed every photo with the face pipeline (cached per file under
``data/cache/utkface/``, so the run resumes), and write ``manifest.csv`` with a ``split`` column.

The fixed test split is ``test_split.txt`` beside the folder when it exists (``--test-split`` to
name another, ``--no-test-split`` to draw a seeded 20 %)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from training.config import TrainerSettings

    settings = TrainerSettings()
    parser = argparse.ArgumentParser(prog="python -m scripts.prepare_utk_face", description=__doc__.split("\n")[0])
    parser.add_argument("--src", type=Path, default=settings.resolved_data_dir() / "utkface" / "crop_part1",
                        help="folder of UTKFace photos (default: DATA_DIR/utkface/crop_part1)")
    parser.add_argument("--out", type=Path, default=settings.resolved_cache_dir() / "utkface",
                        help="where manifest.csv goes (default: data/cache/utkface)")
    parser.add_argument("--cache", type=Path, default=settings.resolved_cache_dir(),
                        help="cache root (crops/embeddings go to CACHE/utkface/<embedder>/)")
    parser.add_argument("--test-split", type=Path, default=None, help="file listing the test photos")
    parser.add_argument("--no-test-split", action="store_true", help="draw a seeded test split instead")
    parser.add_argument("--limit", type=int, default=None, help="only N photos (a seeded sample)")
    parser.add_argument("--seed", type=int, default=settings.seed)
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--min-face-size", type=int, default=60,
                        help="MTCNN's smallest face side in px (UTKFace faces fill the 200x200 photo; "
                             "60 skips the small-face pyramid levels, about twice as fast, same faces)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    from training.age_gender import prepare, utk

    if not args.src.is_dir():
        print(f"error: {args.src} is not a folder", file=sys.stderr)
        return 2
    test_split = None
    if not args.no_test_split:
        test_split = args.test_split or utk.default_test_split(args.src)
        if args.test_split is not None and not args.test_split.is_file():
            print(f"error: test split file {args.test_split} not found", file=sys.stderr)
            return 2
    if args.limit is not None and args.limit < 1:
        print("error: --limit must be at least 1", file=sys.stderr)
        return 2
    if not utk.scan_folder(args.src)[0]:
        print(f"error: no UTKFace-named images in {args.src}", file=sys.stderr)
        return 2
    from face_pipeline import FacePipeline, PipelineSettings

    pipeline = FacePipeline(PipelineSettings(min_face_size=args.min_face_size))
    try:
        summary = prepare.prepare(pipeline, args.src, args.out, args.cache, test_split=test_split,
                                  seed=args.seed, limit=args.limit, val_fraction=args.val_fraction)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
