"""Boxes and names drawn on a copy of a photo, for the attendance CLI's annotated output (Pillow
only, so the client needs no OpenCV)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

KNOWN = (46, 204, 64)
UNKNOWN = (255, 65, 54)


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    width: int
    height: int
    label: str
    known: bool


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # an old Pillow without scalable default font
        return ImageFont.load_default()


def annotate(source: Path, boxes: Sequence[Box], target: Path) -> Path:
    """Write ``source`` with each box outlined and labelled to ``target`` (JPEG or PNG by suffix).
    The photo is turned upright from its EXIF orientation first, as the API does before detecting."""
    with Image.open(source) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    draw = ImageDraw.Draw(image)
    line = max(2, round(max(image.size) / 300))
    font = _font(max(12, round(max(image.size) / 40)))
    for box in boxes:
        colour = KNOWN if box.known else UNKNOWN
        draw.rectangle((box.x, box.y, box.x + box.width, box.y + box.height), outline=colour, width=line)
        left, top, right, bottom = draw.textbbox((0, 0), box.label, font=font)
        text_w, text_h = right - left, bottom - top
        label_y = box.y - text_h - 2 * line if box.y - text_h - 2 * line >= 0 else box.y + box.height
        draw.rectangle((box.x, label_y, box.x + text_w + 2 * line, label_y + text_h + 2 * line), fill=colour)
        draw.text((box.x + line - left, label_y + line - top), box.label, fill=(255, 255, 255), font=font)
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target, quality=90) if target.suffix.lower() in (".jpg", ".jpeg") else image.save(target)
    return target
