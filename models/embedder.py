"""Face crops → L2-normalised FaceNet embeddings, in one backend call per batch.

Crops are area-resampled from the full-resolution frame (models/resample.py) for all faces of a
batch at once, standardised as (x − 127.5) / 128, and embedded by the chosen backend.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from . import resample
from .backends import Backend
from .detector import FaceBox
from .images import RGBImage

CROP = 160

Embeddings = NDArray[np.float32]


def face_crops(frames: list[RGBImage], faces: list[FaceBox], size: int = CROP) -> resample.F32:
    """Standardised (N, 3, size, size) crops, one per (frame, face) pair, with no margin (as calibrated).

    Each face's region (plus a pixel) is copied into one zero-padded stack, so a single summed-area
    table and a single gather resample every crop; the loop only slices, it touches no pixel math.
    """
    if not faces:
        return np.zeros((0, 3, size, size), dtype=np.float32)
    rois, local = [], np.zeros((len(faces), 4))
    for k, (frame, face) in enumerate(zip(frames, faces, strict=True)):
        h, w = frame.shape[:2]
        x1, y1, x2, y2 = face.box
        ix1, iy1 = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
        ix2, iy2 = min(w, max(int(np.ceil(x2)), ix1 + 1)), min(h, max(int(np.ceil(y2)), iy1 + 1))
        rois.append(frame[iy1:iy2, ix1:ix2])
        local[k] = (max(x1, ix1) - ix1, max(y1, iy1) - iy1, min(x2, ix2) - ix1, min(y2, iy2) - iy1)
    hmax, wmax = max(r.shape[0] for r in rois), max(r.shape[1] for r in rois)
    stack = np.zeros((len(rois), hmax, wmax, 3), dtype=np.uint8)
    for k, r in enumerate(rois):
        stack[k, :r.shape[0], :r.shape[1]] = r
    return resample.crops(resample.integral(stack), np.arange(len(rois)), local, size)


class Embedder:
    """Runs the FaceNet network of a backend on batches of standardised 160×160 crops."""

    def __init__(self, backend: Backend, dim: int) -> None:
        self.backend = backend
        self.dim = dim

    def embed(self, crops: resample.F32) -> Embeddings:
        if len(crops) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self.backend.embed(np.ascontiguousarray(crops, dtype=np.float32))
        if out.shape != (len(crops), self.dim):
            raise RuntimeError(f"embedder returned {out.shape}, expected {(len(crops), self.dim)}")
        norms = np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        result: Embeddings = (out / norms).astype(np.float32)
        return result


def best_cosine(embedding: Embeddings, references: Embeddings) -> float:
    """Best cosine similarity against any of the student's reference embeddings."""
    if references.size == 0:
        raise ValueError("no reference embeddings")
    return float(np.max(references @ embedding))
