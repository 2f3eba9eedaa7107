"""Head pose and frozen-source measures from what the detector already gives: no extra model.

- `yaw_ratio`: r = (nose_x − eye_mid_x) / eye_distance from MTCNN's five landmarks, in the
  *unmirrored* camera frame. A frontal face has |r| < 0.05; a clearly turned head |r| ≥ 0.25. When
  the student turns to their own left, the nose moves toward the image's right edge: r rises. A flat
  photo turned in 3D (a printed card) barely moves r (≤ 0.07 measured): the nose only moves
  relative to the eyes when a real head turns.
- `face_change`: how much the face region changed between two frames (mean absolute grey-level
  difference over a fixed grid of raw pixels). A camera always shows sensor noise and small
  motion; a still image played through a virtual camera shows neither.
"""

from __future__ import annotations

import math

import numpy as np

from .images import RGBImage

Landmarks = tuple[tuple[float, float], ...]

_GRID = 32  # pixels sampled per side of the face box: raw pixels keep the sensor noise that averaging removes


def yaw_ratio(landmarks: Landmarks) -> float | None:
    """The yaw ratio r, or None when the landmarks are missing or degenerate."""
    if len(landmarks) < 3:
        return None
    (lx, _), (rx, _), (nx, _) = landmarks[0], landmarks[1], landmarks[2]
    distance = abs(rx - lx)
    if not distance > 1e-6:
        return None
    r = (nx - (lx + rx) / 2) / distance
    return r if math.isfinite(r) else None


def _grid(frame: RGBImage, box: tuple[float, float, float, float]) -> np.ndarray | None:
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = box
    x1, x2 = max(0, int(x1)), min(w, int(x2))
    y1, y2 = max(0, int(y1)), min(h, int(y2))
    if x2 - x1 < 4 or y2 - y1 < 4:
        return None
    xs = np.linspace(x1, x2 - 1, _GRID).astype(np.int64)
    ys = np.linspace(y1, y2 - 1, _GRID).astype(np.int64)
    patch = frame[np.ix_(ys, xs)].astype(np.float32)
    return np.asarray(patch @ np.array([0.299, 0.587, 0.114], dtype=np.float32))


def face_change(previous: RGBImage, current: RGBImage, box: tuple[float, float, float, float]) -> float | None:
    """Mean absolute grey-level change inside `box` (the previous sample's face) between two frames.

    None when the frames differ in size or the box is degenerate (nothing to compare).
    """
    if previous.shape != current.shape:
        return None
    a, b = _grid(previous, box), _grid(current, box)
    if a is None or b is None:
        return None
    return float(np.abs(a - b).mean())
