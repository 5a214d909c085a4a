"""Quantise FaceNet's OpenVINO model to int8 (NNCF post-training quantisation) and write it where
the pipeline loads it: ``python -m scripts.quantize_facenet [--data ../shared/data/lfw]``.

Activation ranges are collected on FaceNet box crops (and their mirror images, which the pipeline
embeds too) of one photo each of LFW View 1's *training* people (``peopleDevTrain.txt``), never
View 2's test folds. The result is committed (``models/openvino/facenet-casia-int8.*``) because a
serving machine has no face photos to calibrate on; its manifest records the source graph's
sha256, the OpenVINO and NNCF versions, the command and the IR files' sha256, and the pipeline
refuses an IR whose files do not match it."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("DATA_DIR", ROOT.parent / "shared" / "data")) / "lfw"


def calibration_crops(lfw: Path, pipeline, people: int) -> np.ndarray:
    names = [line.split()[0] for line in (lfw / "peopleDevTrain.txt").read_text().splitlines()[1:] if line.strip()]
    facenet = pipeline.embedder.primary
    crops = []
    for name in names:
        if len(crops) >= 2 * people:
            break
        path = lfw / "images" / name / f"{name}_0001.jpg"
        if not path.is_file():  # the shared copy keeps only the photos the protocols use
            continue
        image = pipeline.load(path)
        faces = pipeline.detect(image)
        if faces:
            crop = facenet.align(image, max(faces, key=lambda f: f.box.width))
            crops += [crop, crop[:, ::-1]]
    return (np.stack(crops).astype(np.float32) - 127.5) / 128.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.quantize_facenet", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="LFW folder (images/, peopleDevTrain.txt)")
    parser.add_argument("--people", type=int, default=300, help="calibration people (one photo each, and its mirror)")
    args = parser.parse_args(argv)
    if not (args.data / "peopleDevTrain.txt").is_file():
        print(f"error: no LFW at {args.data} (peopleDevTrain.txt missing)", file=sys.stderr)
        return 2
    if args.people < 10:
        print("error: --people must be at least 10", file=sys.stderr)
        return 2
    import nncf
    import openvino as ov

    from face_pipeline import FacePipeline, PipelineSettings
    from face_pipeline.embedding.facenet import GRAPH_FILE, INT8_IR, convert_facenet
    from face_pipeline.openvino_cache import openvino_version, sha256_of
    from face_pipeline.weights import shipped_file

    pipeline = FacePipeline(PipelineSettings(facenet_int8=False, inference_precision="f32"))
    crops = calibration_crops(args.data, pipeline, args.people)
    model = nncf.quantize(convert_facenet(), nncf.Dataset([crop[None] for crop in crops]), subset_size=len(crops),
                          preset=nncf.QuantizationPreset.PERFORMANCE)
    xml = INT8_IR
    xml.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(xml), compress_to_fp16=False)
    binary = xml.with_suffix(".bin")
    manifest = {
        "source": GRAPH_FILE, "source_sha256": sha256_of(shipped_file(GRAPH_FILE)),
        "openvino": openvino_version(), "nncf": nncf.__version__,
        "calibration": f"{len(crops)} FaceNet box crops (with mirrors) of LFW peopleDevTrain people",
        "command": "python -m scripts.quantize_facenet " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "xml_sha256": hashlib.sha256(xml.read_bytes()).hexdigest(),
        "bin_sha256": hashlib.sha256(binary.read_bytes()).hexdigest(),
    }
    xml.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {xml} ({binary.stat().st_size / 2**20:.1f} MB weights) from {len(crops)} crops")
    return 0


if __name__ == "__main__":
    sys.exit(main())
