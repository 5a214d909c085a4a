"""Draw what ``FaceService.analyze`` found onto the photo: a box per face with its name (or "unknown"),
similarity, age and gender, legible at any photo size.

Kept apart from the endpoint so that any script holding an analysis result (an attendance run, a
batch export) draws faces the same way. Line width and font size follow the photo's size, so a
250 px thumbnail and a 6000 px camera photo both come out readable. The font is the TrueType font
that Pillow itself ships (``ImageFont.load_default(size=...)``), so no system font is needed.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

KNOWN_COLOUR = (34, 197, 94)
UNKNOWN_COLOUR = (249, 115, 22)
TEXT_COLOUR = (17, 24, 39)
"""Dark text: readable on both the green and the orange label."""


@dataclass(frozen=True)
class FaceLabel:
    """One face as drawn: its box and the two lines of text beside it."""

    x: int
    y: int
    width: int
    height: int
    title: str
    details: str
    known: bool


def describe(face: dict) -> FaceLabel:
    """A label from one face of the /analyze answer (``bbox``, ``identity``, ``similarity``, ``age``, ``gender``)."""
    box = face["bbox"]
    identity = str(face.get("identity") or "unknown")
    parts = []
    similarity = face.get("similarity")
    if similarity is not None:
        parts.append(f"sim {float(similarity):.2f}")
    age = face.get("age")
    parts.append(f"age {round(float(age))}" if age is not None else "age ?")
    gender = face.get("gender")
    parts.append(str(gender) if gender else "gender ?")
    return FaceLabel(
        x=int(box["x"]),
        y=int(box["y"]),
        width=int(box["width"]),
        height=int(box["height"]),
        title=identity,
        details=" · ".join(parts),
        known=identity != "unknown",
    )


def scale_for(width: int, height: int) -> tuple[int, int]:
    """(line width, font size) in pixels for a photo of this size: about 2.2% of the long side for text."""
    side = max(width, height)
    return max(2, round(side / 250)), max(11, round(side * 0.022))


@lru_cache(maxsize=32)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled TrueType font at ``size`` px (its bitmap font if Pillow was built without FreeType)."""
    return ImageFont.load_default(size=size)


def _text_size(draw: ImageDraw.ImageDraw, text: str, face_font) -> tuple[int, int]:  # noqa: ANN001 - Pillow font
    left, top, right, bottom = draw.textbbox((0, 0), text, font=face_font, anchor="lt")
    return right - left, bottom - top


def draw_faces(image: np.ndarray | Image.Image, faces: Sequence[dict]) -> Image.Image:
    """A copy of ``image`` (RGB) with every face of an /analyze answer boxed and labelled."""
    canvas = image.convert("RGB").copy() if isinstance(image, Image.Image) else Image.fromarray(image).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    line, size = scale_for(*canvas.size)
    title_font, details_font = font(size), font(max(9, round(size * 0.8)))
    pad = max(2, size // 5)
    for label in map(describe, faces):
        colour = KNOWN_COLOUR if label.known else UNKNOWN_COLOUR
        x0, y0 = label.x, label.y
        x1, y1 = label.x + label.width - 1, label.y + label.height - 1
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=line)
        title_w, title_h = _text_size(draw, label.title, title_font)
        details_w, details_h = _text_size(draw, label.details, details_font)
        block_w = max(title_w, details_w) + 2 * pad
        block_h = title_h + details_h + 3 * pad
        # Below the box if it fits (the chin side is usually free), else above, else inside at the top.
        if y1 + block_h < canvas.height:
            top = y1 + 1
        elif y0 - block_h >= 0:
            top = y0 - block_h
        else:
            top = y0
        left = min(max(0, x0 - line // 2), max(0, canvas.width - block_w))
        draw.rectangle((left, top, left + block_w, top + block_h), fill=colour)
        draw.text((left + pad, top + pad), label.title, font=title_font, fill=TEXT_COLOUR, anchor="lt")
        details_at = (left + pad, top + 2 * pad + title_h)
        draw.text(details_at, label.details, font=details_font, fill=TEXT_COLOUR, anchor="lt")
    return canvas


def to_jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def annotated_jpeg(image: np.ndarray | Image.Image, faces: Sequence[dict], quality: int = 90) -> bytes:
    """The photo with its faces drawn, as JPEG bytes."""
    return to_jpeg(draw_faces(image, faces), quality)
