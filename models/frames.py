"""Synthetic webcam frames made from still photos, for tests, benchmarks and demo videos.

A still photo is letterboxed into a 640×480 frame; `shift` adds the small motion a real webcam
has, so encoders and detectors see a live-looking stream rather than one frozen image.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .images import RGBImage

FRAME_SIZE = (640, 480)


def photo_to_frame(photo: RGBImage, size: tuple[int, int] = FRAME_SIZE, shift: tuple[int, int] = (0, 0),
                   fill: int = 40, scale: float = 1.0) -> RGBImage:
    """Fit the photo inside a size frame (keeping aspect), centred, moved by `shift` pixels."""
    w, h = size
    img = Image.fromarray(photo)
    factor = min(w / img.width, h / img.height) * scale
    img = img.resize((max(1, int(img.width * factor)), max(1, int(img.height * factor))),
                     Image.Resampling.BILINEAR)
    canvas = Image.new("RGB", size, (fill, fill, fill))
    canvas.paste(img, ((w - img.width) // 2 + shift[0], (h - img.height) // 2 + shift[1]))
    return np.asarray(canvas, dtype=np.uint8).copy()


def side_by_side(left: RGBImage, right: RGBImage, size: tuple[int, int] = FRAME_SIZE) -> RGBImage:
    """Two photos in one frame: the 'someone is helping' case."""
    w, h = size
    half = (w // 2, h)
    return np.concatenate([photo_to_frame(left, half), photo_to_frame(right, half)], axis=1)


def blank_frame(size: tuple[int, int] = FRAME_SIZE, level: int = 90, seed: int = 0) -> RGBImage:
    """An empty room: flat colour with sensor-like noise, no face."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(-6, 7, size=(size[1], size[0], 3))
    return np.clip(level + noise, 0, 255).astype(np.uint8)


def motion_path(n: int, amplitude: int = 6) -> list[tuple[int, int]]:
    """A small closed loop of offsets, so a looped clip has no visible jump."""
    return [(round(amplitude * np.cos(2 * np.pi * i / n)), round(amplitude * np.sin(2 * np.pi * i / n)))
            for i in range(n)]
