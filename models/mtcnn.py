"""MTCNN in NumPy around whichever backend runs the three networks.

The cascade is the published one (Zhang et al. 2016; the thresholds and NMS steps of facenet-pytorch's
`detect_face`), rebuilt for batches and for speed:
- the P-Net pyramid starts at the scale where the smallest face worth finding fills P-Net's 12-pixel
  window, so P-Net only ever sees downscaled frames, while R-Net and O-Net crops, boxes and
  landmarks are read from the full-resolution frame through one summed-area table per frame
  (models/resample.py);
- each pyramid level runs as one backend call for all frames of the batch; R-Net and O-Net run once
  each for all candidates of all frames;
- box decoding, squaring, regression and NMS are vectorised NumPy; only NMS keeps a loop, over the
  kept boxes of one frame (a handful), never over pixels or faces' pixels.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from . import resample

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
Idx = NDArray[np.intp]

PNET_CELL = 12  # P-Net looks at 12×12 windows…
PNET_STRIDE = 2  # …every 2 pixels of its pyramid level
FACTOR = 0.709  # pyramid step: area halves per level


class Networks(Protocol):
    """The three MTCNN networks on standardised float32 NCHW batches (see models/backends)."""

    def pnet(self, x: F32) -> tuple[F32, F32]: ...  # reg (N,4,h,w), prob (N,2,h,w)
    def rnet(self, x: F32) -> tuple[F32, F32]: ...  # reg (K,4), prob (K,2)
    def onet(self, x: F32) -> tuple[F32, F32, F32]: ...  # reg (K,4), landmarks (K,10), prob (K,2)


@dataclass(frozen=True)
class Detections:
    """Faces of one frame, in full-resolution pixels, most confident first."""

    boxes: F64  # (k, 4) x1, y1, x2, y2
    probs: F64  # (k,)
    landmarks: F64  # (k, 5, 2) eyes, nose, mouth corners as (x, y)


def pyramid(h: int, w: int, min_face: float) -> list[float]:
    """Scales (relative to the full frame) at which P-Net's 12-px window covers min_face… the frame."""
    scale = PNET_CELL / max(min_face, 1.0)
    scales = []
    side = min(h, w) * scale
    while side >= PNET_CELL:
        scales.append(scale)
        scale *= FACTOR
        side *= FACTOR
    return scales


def nms(boxes: F64, scores: F64, groups: Idx, threshold: float, method: str = "union") -> Idx:
    """Greedy NMS per group (frame); returns kept indices, best first within each group."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.intp)
    # Offsetting each group far apart makes one pass do per-frame NMS.
    offset = groups[:, None].astype(np.float64) * (float(boxes[:, 2:].max()) + 1.0)
    b = boxes + offset
    area = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(b[i, 2], b[rest, 2]) - np.maximum(b[i, 0], b[rest, 0]) + 1)
        h = np.maximum(0.0, np.minimum(b[i, 3], b[rest, 3]) - np.maximum(b[i, 1], b[rest, 1]) + 1)
        inter = w * h
        denom = np.minimum(area[i], area[rest]) if method == "min" else area[i] + area[rest] - inter
        order = rest[inter / denom <= threshold]
    return np.array(keep, dtype=np.intp)


def square(boxes: F64) -> F64:
    """Grow each box to a square around its centre (MTCNN's `rerec`)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    x1 = boxes[:, 0] + w * 0.5 - side * 0.5
    y1 = boxes[:, 1] + h * 0.5 - side * 0.5
    return np.stack([x1, y1, x1 + side, y1 + side], axis=1)


def regress(boxes: F64, reg: NDArray[np.floating]) -> F64:
    """Apply the networks' box regression (offsets as fractions of the box size)."""
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    return boxes + reg.astype(np.float64) * np.stack([w, h, w, h], axis=1)


def _pnet_candidates(reg: F32, prob: F32, scale: float, threshold: float
                     ) -> tuple[Idx, F64, F64, F32]:
    """Windows of one pyramid level over threshold: frame index, boxes (full-res), scores, regression."""
    n_idx, ys, xs = np.nonzero(prob[:, 1] >= threshold)
    score = prob[n_idx, 1, ys, xs].astype(np.float64)
    r = reg[n_idx, :, ys, xs]
    x1 = np.floor((PNET_STRIDE * xs + 1) / scale)
    y1 = np.floor((PNET_STRIDE * ys + 1) / scale)
    x2 = np.floor((PNET_STRIDE * xs + PNET_CELL) / scale)
    y2 = np.floor((PNET_STRIDE * ys + PNET_CELL) / scale)
    return n_idx.astype(np.intp), np.stack([x1, y1, x2, y2], axis=1), score, r


def detect(nets: Networks, frames: NDArray[np.uint8], min_face: float,
           thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
           timings: MutableMapping[str, float] | None = None) -> list[Detections]:
    """Run the cascade on (N, H, W, 3) uint8 frames of one size; min_face in full-resolution pixels.

    `timings["resize"]` accumulates the seconds spent resampling (pyramid levels, crops)."""
    clock = _Clock()
    n, h, w = frames.shape[:3]
    with clock:
        table = resample.integral(frames)
    # Stage 1: P-Net over the pyramid, one call per level for the whole batch.
    idx_parts, box_parts, score_parts, reg_parts = [], [], [], []
    for scale in pyramid(h, w, min_face):
        with clock:
            x = resample.level(frames, int(h * scale + 1), int(w * scale + 1))
        reg, prob = nets.pnet(x)
        idx, boxes, score, r = _pnet_candidates(reg, prob, scale, thresholds[0])
        keep = nms(boxes, score, idx, 0.5)
        idx_parts.append(idx[keep])
        box_parts.append(boxes[keep])
        score_parts.append(score[keep])
        reg_parts.append(r[keep])
    if not idx_parts:
        return [_empty() for _ in range(n)]
    idx, boxes, score = np.concatenate(idx_parts), np.concatenate(box_parts), np.concatenate(score_parts)
    # P-Net's boxes are regressed after NMS across levels, as in the reference cascade.
    keep = nms(boxes, score, idx, 0.7)
    idx, boxes = idx[keep], square(regress_pnet(boxes[keep], np.concatenate(reg_parts)[keep]))
    # Stage 2: R-Net on 24×24 crops of every candidate of every frame, in one call.
    if len(boxes):
        with clock:
            x = resample.crops(table, idx, boxes, 24)
        reg, prob = nets.rnet(x)
        ok = prob[:, 1] > thresholds[1]
        idx, boxes, score, reg = idx[ok], boxes[ok], prob[ok, 1].astype(np.float64), reg[ok]
        keep = nms(boxes, score, idx, 0.7)
        idx, boxes = idx[keep], square(regress(boxes[keep], reg[keep]))
    # Stage 3: O-Net on 48×48 crops: final score, regression and the five landmarks.
    points = np.zeros((0, 5, 2))
    score = np.zeros(0)
    if len(boxes):
        with clock:
            x = resample.crops(table, idx, boxes, 48)
        reg, marks, prob = nets.onet(x)
        ok = prob[:, 1] > thresholds[2]
        idx, boxes, score, reg, marks = idx[ok], boxes[ok], prob[ok, 1].astype(np.float64), reg[ok], marks[ok]
        bw = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
        bh = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
        points = np.stack([bw * marks[:, :5] + boxes[:, :1] - 1, bh * marks[:, 5:] + boxes[:, 1:2] - 1], axis=2)
        boxes = regress(boxes, reg)
        keep = nms(boxes, score, idx, 0.7, method="min")
        idx, boxes, score, points = idx[keep], boxes[keep], score[keep], points[keep]
    if timings is not None:
        timings["resize"] = timings.get("resize", 0.0) + clock.seconds
    out = []
    for i in range(n):
        mine = np.nonzero(idx == i)[0]
        mine = mine[np.argsort(-score[mine], kind="stable")]
        clipped = np.clip(boxes[mine], 0.0, [w, h, w, h])
        out.append(Detections(clipped, score[mine], points[mine]))
    return out


def regress_pnet(boxes: F64, reg: F32) -> F64:
    """P-Net's regression uses the window's size without the +1 of the later stages."""
    w = (boxes[:, 2] - boxes[:, 0])[:, None]
    h = (boxes[:, 3] - boxes[:, 1])[:, None]
    out: F64 = boxes + reg.astype(np.float64) * np.concatenate([w, h, w, h], axis=1)
    return out


class _Clock:
    """Adds up the time spent inside `with clock:` blocks."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._t = 0.0

    def __enter__(self) -> None:
        self._t = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.seconds += time.perf_counter() - self._t


def _empty() -> Detections:
    return Detections(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2)))
