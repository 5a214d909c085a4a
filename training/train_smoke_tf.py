"""Smoke training: ``python -m training.train_smoke_tf`` runs every trainer on a few photos from
``DATA_DIR`` (a few minutes at most on 2 CPU cores) and registers a new version of each model —
``age-gender``, ``face-recognition``, ``face-verifier`` and one ``verifier-<person>`` — without
promoting any, to check a set-up end to end (data, pipeline, MLflow, registry).

Embeddings are cached under ``data/cache/embeddings``, so a second run is quicker still."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from .config import TrainerSettings

log = logging.getLogger(__name__)
SMOKE_PERSON = "George_W_Bush"


def smoke_age_gender(pipeline, settings: TrainerSettings) -> dict:
    """The age/gender trainer with tiny options (its public ``smoke`` entry point)."""
    from . import train_age_gender_tf

    return train_age_gender_tf.smoke(pipeline=pipeline, settings=settings)


def smoke_recognition(pipeline, settings: TrainerSettings, people: int, images: int) -> dict:
    from . import train_face_recognition_tf as rec

    config = rec.RecognitionConfig(max_people=people, max_images=images, epochs=2, steps_per_epoch=4, lfw_pairs=40)
    return rec.run(config, pipeline, settings)


def smoke_general_verifier(pipeline, settings: TrainerSettings, people: int, images: int) -> dict:
    from . import train_verifier as ver

    config = ver.GeneralConfig(max_people=people, max_images=images, max_pairs=200)
    return ver.run_general(config, pipeline, settings)


def smoke_personal_verifier(pipeline, settings: TrainerSettings, out: Path) -> dict:
    from . import train_verifier as ver

    images = settings.resolved_data_dir() / "lfw" / "images"
    person = images / SMOKE_PERSON
    if not person.is_dir():  # another identity-folder set: the person with the most photos
        person = max((p for p in images.iterdir() if p.is_dir()), key=lambda p: len(list(p.iterdir())))
    config = ver.PersonalConfig(positive=str(person), negative=str(images), name=person.name.replace("_", " "),
                                max_positive=12, max_negative=24, impostor_people=40, impostor_images=1, out=str(out))
    return ver.run_personal(config, pipeline, settings)


def run(settings: TrainerSettings | None = None, pipeline=None, skip: tuple[str, ...] = (), people: int = 10,
        images: int = 4) -> dict[str, dict]:
    """Train and register one version of each model; returns model name -> summary."""
    from face_pipeline import FacePipeline

    from .config import ROOT
    from .tracking import configure_mlflow

    settings = settings or TrainerSettings()
    lfw = settings.resolved_data_dir() / "lfw" / "images"
    if not lfw.is_dir():
        raise FileNotFoundError(f"LFW photos not found at {lfw}: set DATA_DIR to the folder holding lfw/ and utkface/")
    configure_mlflow(settings)
    pipeline = pipeline or FacePipeline()
    steps = {
        "age-gender": lambda: smoke_age_gender(pipeline, settings),
        "face-recognition": lambda: smoke_recognition(pipeline, settings, people, images),
        "face-verifier": lambda: smoke_general_verifier(pipeline, settings, people, images),
        "verifier": lambda: smoke_personal_verifier(pipeline, settings, ROOT / "data" / "verifiers" / "smoke"),
    }
    results: dict[str, dict] = {}
    for name, step in steps.items():
        if name in skip:
            continue
        started = time.perf_counter()
        summary = step() or {}
        key = summary.get("name", name)
        results[key] = {"version": summary.get("version"), "run_id": summary.get("run_id"),
                        "seconds": round(time.perf_counter() - started, 1)}
        log.info("%s: %s", key, results[key])
    return results


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(prog="python -m training.train_smoke_tf", description=__doc__.splitlines()[0])
    parser.add_argument("--skip", action="append", default=[],
                        choices=("age-gender", "face-recognition", "face-verifier", "verifier"))
    parser.add_argument("--people", type=int, default=10, help="people per recognition/verifier smoke run")
    parser.add_argument("--images", type=int, default=4, help="photos per person")
    args = parser.parse_args(argv)
    try:
        results = run(skip=tuple(args.skip), people=args.people, images=args.images)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
