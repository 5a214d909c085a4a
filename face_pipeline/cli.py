"""``python -m face_pipeline detect IMAGE...`` and ``compare IMAGE1 IMAGE2``.

Every image is decoded and checked before the models load, so bad input fails in a moment with
one line on stderr and exit status 2; an image without a face is an answer, not an error."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

EXIT_BAD_INPUT = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m face_pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--detector", choices=("mtcnn", "yunet"), help="override FACE_DETECTOR")
    commands = parser.add_subparsers(dest="command", required=True)
    detect = commands.add_parser("detect", help="print every face in each image as JSON")
    detect.add_argument("images", nargs="+")
    compare = commands.add_parser("compare", help="say whether two photos show the same person")
    compare.add_argument("image1")
    compare.add_argument("image2")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from pydantic import ValidationError

    from .config import PipelineSettings
    from .errors import FacePipelineError
    from .images import load_image

    overrides = {"detector": args.detector} if args.detector else {}
    try:
        settings = PipelineSettings(**overrides)
        paths = args.images if args.command == "detect" else [args.image1, args.image2]
        images = [load_image(path, max_pixels=settings.max_pixels) for path in paths]
        from .pipeline import FacePipeline, cosine_similarity

        pipeline = FacePipeline(settings)
    except FacePipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ValidationError as exc:  # a bad FACE_* variable: name it, in one line
        wrong = "; ".join(f"FACE_{'_'.join(str(p) for p in e.get('loc', ())).upper()}={e.get('input')!r}: "
                          f"{e.get('msg', 'invalid value')}" for e in exc.errors())
        print(f"error: {wrong}", file=sys.stderr)
        return EXIT_BAD_INPUT

    if args.command == "detect":
        output = [
            {"image": path, "faces": [face.to_dict() for face in pipeline.detect(image)]}
            for path, image in zip(paths, images)
        ]
        print(json.dumps(output[0] if len(output) == 1 else output, indent=2))
        return 0

    results = [pipeline.process(image) for image in images]
    missing = [path for path, found in zip(paths, results) if not found]
    if missing:
        print(json.dumps({"similarity": None, "threshold": pipeline.threshold, "same_person": None,
                          "no_face_in": missing, "message": f"no face detected in {', '.join(missing)}"}, indent=2))
        return 0
    # The largest face in each photo is the one being compared.
    first, second = (max(found, key=lambda f: f.face.box.width * f.face.box.height) for found in results)
    similarity = cosine_similarity(first.embedding, second.embedding)
    print(json.dumps({"similarity": round(similarity, 4), "threshold": pipeline.threshold,
                      "same_person": pipeline.is_same(similarity)}, indent=2))
    return 0
