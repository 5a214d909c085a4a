"""Turn whatever a user hands us (a path or uploaded bytes) into an RGB ``uint8`` array.

The image's type is decided by decoding it, never by its name; the pixel limit is checked from
the header before any pixel is decoded, so a decompression bomb costs nothing."""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .errors import (
    EmptyImageError,
    ImageNotFoundError,
    ImageTooLargeError,
    NotAnImageError,
    TruncatedImageError,
)

ImageFile.LOAD_TRUNCATED_IMAGES = False
# Our own limit (checked below) replaces Pillow's global one, which would otherwise fire first
# with a warning or an exception of its own for large but legitimate photos.
Image.MAX_IMAGE_PIXELS = None

ImageSource = str | Path | bytes

_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}


def read_image_bytes(source: ImageSource) -> tuple[bytes, str]:
    """Return the raw bytes and a name to use in messages."""
    if isinstance(source, bytes):
        return source, "uploaded image"
    path = Path(source)
    if not path.is_file():
        raise ImageNotFoundError(f"{path}: no such file")
    return path.read_bytes(), str(path)


def load_image(source: ImageSource, max_pixels: int = 40_000_000) -> np.ndarray:
    """Decode ``source`` into an ``(H, W, 3)`` RGB ``uint8`` array, EXIF orientation applied."""
    data, name = read_image_bytes(source)
    if not data:
        raise EmptyImageError(f"{name}: the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLargeError(
                    f"{name}: {width}x{height} is {width * height:,} pixels, over the limit of {max_pixels:,}"
                )
            image.load()
    except UnidentifiedImageError:
        raise NotAnImageError(f"{name}: not an image (could not decode it)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLargeError(f"{name}: too many pixels (decompression bomb)") from None
    except ImageTooLargeError:
        raise
    except (OSError, SyntaxError, ValueError) as exc:
        raise TruncatedImageError(f"{name}: the image is truncated or corrupt ({exc})") from None
    # A broken EXIF block must not lose an otherwise good photo.
    with contextlib.suppress(Exception):
        image = ImageOps.exif_transpose(image)
    return to_rgb_array(image)


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """Convert any Pillow mode (greyscale, palette, alpha, 16-bit, CMYK) to RGB ``uint8``."""
    if image.mode in _SIXTEEN_BIT_MODES:
        pixels = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or pixels.max() > 255 else 255.0
        grey = np.clip(pixels / top * 255.0, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
