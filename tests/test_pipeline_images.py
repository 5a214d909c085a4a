"""Image loading: every kind of bad input gets its own clear error; odd modes become RGB."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from face_pipeline.errors import (
    EmptyImageError,
    ImageNotFoundError,
    ImageTooLargeError,
    NotAnImageError,
    TruncatedImageError,
)
from face_pipeline.images import load_image
from tests.conftest import lfw_image


def encode(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def test_reads_an_lfw_photo_as_rgb_uint8(data_dir):
    pixels = load_image(lfw_image("Colin_Powell", 1))
    assert pixels.shape == (250, 250, 3)
    assert pixels.dtype == np.uint8


def test_missing_file(tmp_path):
    with pytest.raises(ImageNotFoundError, match="no such file"):
        load_image(tmp_path / "nope.jpg")


def test_empty_file(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(EmptyImageError, match="empty"):
        load_image(empty)


def test_text_named_like_a_jpeg_is_not_an_image(tmp_path):
    fake = tmp_path / "photo.jpg"
    fake.write_text("hello, I am not a photo")
    with pytest.raises(NotAnImageError, match="not an image"):
        load_image(fake)


def test_truncated_jpeg(data_dir):
    data = lfw_image("Colin_Powell", 1).read_bytes()
    with pytest.raises(TruncatedImageError, match="truncated"):
        load_image(data[: len(data) // 2])


def test_pixel_limit_is_checked_before_decoding():
    big = encode(Image.new("RGB", (3000, 3000)), "PNG")
    with pytest.raises(ImageTooLargeError, match="over the limit"):
        load_image(big, max_pixels=1_000_000)


def test_decompression_bomb_png_is_refused_cheaply():
    # A 20000x20000 black PNG compresses to a few hundred kB but would need 1.2 GB decoded.
    bomb = encode(Image.new("L", (20000, 20000)), "PNG", optimize=True)
    assert len(bomb) < 2_000_000
    with pytest.raises(ImageTooLargeError):
        load_image(bomb)


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "CMYK", "I;16", "1"])
def test_modes_are_converted_to_rgb(mode):
    source = Image.new("RGB", (40, 30), (200, 100, 50))
    image = source.convert(mode) if mode != "I;16" else Image.fromarray(np.full((30, 40), 40000, np.uint16))
    pixels = load_image(encode(image, "TIFF" if mode in ("CMYK", "I;16") else "PNG"))
    assert pixels.shape == (30, 40, 3)
    assert pixels.dtype == np.uint8


def test_sixteen_bit_values_are_scaled_not_clipped():
    image = Image.fromarray(np.full((10, 10), 32768, np.uint16))
    pixels = load_image(encode(image, "PNG"))
    assert 120 <= pixels[0, 0, 0] <= 135


def test_transparent_pixels_become_white():
    image = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    assert load_image(encode(image)).min() == 255


def test_exif_orientation_is_honoured():
    image = Image.new("RGB", (60, 20), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    pixels = load_image(encode(image, "JPEG", exif=exif.tobytes()))
    assert pixels.shape == (60, 20, 3)
