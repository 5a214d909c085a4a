"""Refuse a photo whose decoding would cost more memory than a budget, from its header alone.

The pixel limit (``FACE_MAX_PIXELS``) counts pixels, but what a pixel costs depends on its format:
a 16-bit greyscale PNG just under the limit is 1.5 MB on the wire and about 0.9 GB once decoded and
converted (the conversion goes through float64). The estimate follows what the face pipeline does
with each Pillow mode (``face_pipeline/images.py``), peak buffers included."""

from __future__ import annotations

import io
import warnings

from PIL import Image

import face_pipeline.images  # noqa: F401 - sets Pillow's own pixel limit aside, as the pipeline does
from api.errors import ApiError

MIB = 1024 * 1024

_STORED = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
"""Bytes per pixel Pillow keeps for a decoded image of each mode (4 for every other mode)."""

_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}
_ALPHA = {"RGBA", "LA", "PA", "La", "RGBa"}
RGB_ARRAY = 3


def conversion_bytes_per_pixel(mode: str) -> int:
    """Peak extra bytes per pixel while the pipeline turns ``mode`` into an RGB uint8 array."""
    if mode in _SIXTEEN_BIT:
        return 8 + 8 + 1 + RGB_ARRAY  # float64 copy, float64 temporary, uint8 grey, RGB repeat
    if mode in _ALPHA:
        return 4 + 4 + 4 + 4 + RGB_ARRAY  # RGBA, white background, composite, RGB, array
    return 4 + RGB_ARRAY  # convert("RGB"), then the array


def decode_estimate(width: int, height: int, mode: str) -> int:
    """Bytes a photo of this size and mode needs at peak while it is decoded and converted."""
    return width * height * (_STORED.get(mode, 4) + conversion_bytes_per_pixel(mode))


def check_decode_budget(data: bytes, budget: int) -> None:
    """422 when decoding ``data`` would need more than ``budget`` bytes; silent for anything it
    cannot read (the pipeline then says what is wrong with the file)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                mode = image.mode
    except Exception:  # noqa: BLE001 - not readable here: the pipeline's own errors explain it
        return
    needed = decode_estimate(width, height, mode)
    if needed > budget:
        raise ApiError(
            422,
            f"uploaded image: decoding this {width}x{height} {mode} image would need about {needed / MIB:,.0f} MiB, "
            f"over the limit of {budget / MIB:,.0f} MiB; send a smaller or 8-bit image",
        )
