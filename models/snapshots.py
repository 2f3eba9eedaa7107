"""Evidence snapshots: the frame that raised a flag, as a JPEG with the face boxes drawn."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw

from .images import RGBImage


def annotated_jpeg(frame: RGBImage, boxes: Sequence[tuple[float, float, float, float]], quality: int = 85) -> bytes:
    """JPEG bytes of `frame` with each face box outlined (CPU work: call it off the event loop)."""
    img = Image.fromarray(frame)
    draw = ImageDraw.Draw(img)
    width = max(2, round(min(img.size) / 160))
    for x1, y1, x2, y2 in boxes:
        draw.rectangle((x1, y1, x2, y2), outline=(255, 196, 0), width=width)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()
