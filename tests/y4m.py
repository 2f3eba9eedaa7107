"""A tiny YUV4MPEG2 writer: RGB frames → a `.y4m` file Chromium can play as a fake webcam.

Chromium's `--use-file-for-fake-video-capture` loops the file forever, so a few frames with
small motion make a live-looking camera. Frames are 4:2:0 with full-range BT.601 (JPEG) colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def rgb_to_yuv420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y, Cb, Cr planes (uint8) of an H×W×3 RGB frame; chroma averaged over 2×2 blocks."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] % 2 or rgb.shape[1] % 2:
        raise ValueError(f"need an H×W×3 RGB frame with even sides, got {rgb.shape}")
    f = rgb.astype(np.float32)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b
    h, w = y.shape

    def sub(plane: np.ndarray) -> np.ndarray:
        return plane.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    def u8(plane: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(plane), 0, 255).astype(np.uint8)

    return u8(y), u8(sub(cb)), u8(sub(cr))


def write_y4m(path: Path, frames: Sequence[np.ndarray], fps: int = 10) -> Path:
    """Write RGB frames (all one size) as a 4:2:0 `.y4m` file; returns `path`."""
    if not frames:
        raise ValueError("no frames to write")
    h, w = frames[0].shape[:2]
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for frame in frames:
            if frame.shape[:2] != (h, w):
                raise ValueError(f"frame of {frame.shape[:2]} in a {(h, w)} stream")
            out.write(b"FRAME\n")
            for plane in rgb_to_yuv420(frame):
                out.write(plane.tobytes())
    return path
