"""Convert a Keras age-gender model to OpenVINO, in a child process, so that the process that
serves it never imports TensorFlow.

Why: Keras 3 here runs on TensorFlow, and importing it costs a worker about 600 MiB of resident
memory (measured: 99 MiB with OpenVINO and OpenCV, 715 after ``import keras``), more than the whole
face pipeline. The served age-gender models are small Keras graphs that OpenVINO converts whole
(``openvino.convert_model`` of the loaded model, the same outputs to 1e-3), so the API converts each
version once, in a child that exits and gives the memory back, and keeps the IR in the cache.

``python -m model_registry.keras_openvino MODEL.keras OUT.xml``: exit 0 and the IR written, or
exit 2 and one line on stderr."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

CONVERTER_REVISION = "keras-age-gender-1"
"""Part of the IR cache key: change it whenever the conversion below changes."""
CONVERT_TIMEOUT_SECONDS = 600.0


class ConversionError(RuntimeError):
    """The Keras model could not be converted (the child's one-line reason)."""


def convert_in_child(keras_path: Path, timeout: float = CONVERT_TIMEOUT_SECONDS):
    """The ``ov.Model`` of ``keras_path``, converted by a child Python (TensorFlow stays there)."""
    from face_pipeline.openvino_cache import read_unmapped

    with tempfile.TemporaryDirectory(prefix="keras-openvino-") as tmp:
        xml = Path(tmp) / "model.xml"
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
        try:
            done = subprocess.run([sys.executable, "-m", __name__, str(keras_path), str(xml)], env=env,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise ConversionError(f"converting {keras_path.name} took over {timeout:.0f} s") from exc
        if done.returncode != 0 or not xml.is_file():
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            raise ConversionError(lines[-1] if lines else f"the converter exited with {done.returncode}")
        # Read into memory, not mapped: the folder goes when this returns.
        return read_unmapped(xml)


def convert(keras_path: Path, xml: Path) -> None:
    import keras
    import openvino as ov

    model = keras.saving.load_model(str(keras_path), compile=False)
    ov.save_model(ov.convert_model(model), str(xml), compress_to_fp16=False)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m model_registry.keras_openvino MODEL.keras OUT.xml", file=sys.stderr)
        return 2
    source, target = Path(args[0]), Path(args[1])
    if not source.is_file():
        print(f"error: no Keras model at {source}", file=sys.stderr)
        return 2
    try:
        convert(source, target)
    except Exception as exc:  # noqa: BLE001 - one line for the parent, whatever went wrong
        print(f"error: cannot convert {source.name}: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
