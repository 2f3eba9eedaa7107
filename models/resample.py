"""Area resampling of whole batches in NumPy: pyramid levels and box crops from an integral image.

Every resize the detector and embedder need is an area average. Pyramid levels (whole frames) go
through Pillow's box filter, one C call per frame and level. Crops of boxes, the 24×24 and 48×48
candidates for R-Net and O-Net and the 160×160 faces for FaceNet, are read from one summed-area
table of the full-resolution frame: a summed-area table of a piecewise-constant image is exactly
bilinear inside each pixel, so sampling it at fractional coordinates gives the exact mean over any
fractional rectangle, with one gather per output corner for every box of every frame at once.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]

MEAN = 127.5  # MTCNN and FaceNet share the fixed standardisation (x − 127.5) / 128
STD = 128.0


Table = NDArray[np.int32] | NDArray[np.int64]


def integral(frames: NDArray[np.uint8]) -> Table:
    """(N, H, W, 3) uint8 → (N, H+1, W+1, 3) exact integer summed-area tables, zero first row and column."""
    n, h, w, c = frames.shape
    dtype = np.int32 if h * w * 255 < 2**31 else np.int64  # int32 holds any frame up to 8 megapixels
    table = np.zeros((n, h + 1, w + 1, c), dtype=dtype)
    np.cumsum(frames, axis=1, dtype=dtype, out=table[:, 1:, 1:])
    np.cumsum(table[:, 1:, 1:], axis=2, out=table[:, 1:, 1:])
    return table


def _lerp_index(coords: F64, limit: int) -> tuple[NDArray[np.intp], NDArray[np.intp], F64]:
    """Clamp coordinates to [0, limit] and split them into floor, ceil and fraction."""
    c = np.clip(coords, 0.0, float(limit))
    lo = np.floor(c).astype(np.intp)
    hi = np.minimum(lo + 1, limit)
    return lo, hi, c - lo


def level(frames: NDArray[np.uint8], out_h: int, out_w: int) -> F32:
    """Whole frames at out_h×out_w (box filter = area average), as standardised float32 NCHW."""
    out = np.empty((len(frames), out_h, out_w, 3), dtype=np.uint8)
    for i, frame in enumerate(frames):
        out[i] = np.asarray(Image.fromarray(frame).resize((out_w, out_h), Image.Resampling.BOX))
    return _standardise(out)


def crops(table: Table, image_idx: NDArray[np.intp], boxes: F64, size: int) -> F32:
    """Area-resampled size×size crops of boxes (x1, y1, x2, y2) from their frames, standardised NCHW.

    Parts of a box outside the frame read as the edge's area (clamped), which only matters for the
    thin margins MTCNN's squared boxes stick out by.
    """
    if len(boxes) == 0:
        return np.zeros((0, 3, size, size), dtype=np.float32)
    _, h1, w1, _ = table.shape
    steps = np.linspace(0.0, 1.0, size + 1)
    ys = boxes[:, 1:2] + (boxes[:, 3:4] - boxes[:, 1:2]) * steps  # (K, size+1)
    xs = boxes[:, 0:1] + (boxes[:, 2:3] - boxes[:, 0:1]) * steps
    y0, y1, fy = _lerp_index(ys, h1 - 1)
    x0, x1, fx = _lerp_index(xs, w1 - 1)
    img = image_idx[:, None, None]
    fy4, fx4 = fy[:, :, None, None], fx[:, None, :, None]
    s = ((table[img, y0[:, :, None], x0[:, None, :]] * (1 - fx4)
          + table[img, y0[:, :, None], x1[:, None, :]] * fx4) * (1 - fy4)
         + (table[img, y1[:, :, None], x0[:, None, :]] * (1 - fx4)
            + table[img, y1[:, :, None], x1[:, None, :]] * fx4) * fy4)
    dy = np.diff(np.clip(ys, 0.0, h1 - 1), axis=1)  # clamped cell sizes
    dx = np.diff(np.clip(xs, 0.0, w1 - 1), axis=1)
    area = np.maximum(dy[:, :, None] * dx[:, None, :], 1e-6)[..., None]
    summed = s[:, 1:, 1:] - s[:, :-1, 1:] - s[:, 1:, :-1] + s[:, :-1, :-1]
    # A cell squeezed to nothing by clamping (box beyond the edge) takes the edge pixel instead.
    mean = np.where(area > 1e-3, summed / area, _edge(table, img, y0, x0))
    return _standardise(mean)


def _edge(table: Table, img: NDArray[np.intp], y0: NDArray[np.intp], x0: NDArray[np.intp]) -> F64:
    y = np.clip(y0[:, :-1], 0, table.shape[1] - 2)[:, :, None]
    x = np.clip(x0[:, :-1], 0, table.shape[2] - 2)[:, None, :]
    pixel: F64 = (table[img, y + 1, x + 1] - table[img, y, x + 1] - table[img, y + 1, x]
                  + table[img, y, x]).astype(np.float64)
    return pixel


def _standardise(mean: NDArray[np.floating] | NDArray[np.uint8]) -> F32:
    out: F32 = ((mean.astype(np.float32) - MEAN) / STD).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(out)


def to_uint8(standardised: F32) -> NDArray[np.uint8]:
    """Back to (N, H, W, 3) uint8, for evidence and tests."""
    arr: NDArray[np.uint8] = np.clip(np.rint(standardised.transpose(0, 2, 3, 1) * STD + MEAN), 0, 255
                                     ).astype(np.uint8)
    return arr
