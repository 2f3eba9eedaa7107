"""Face crops → L2-normalised FaceNet embeddings, in one forward pass per batch.

One code path for CPU and CUDA: on CUDA the network runs channels_last under fp16 autocast and
crops are uploaded from pinned host memory.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from .detector import FaceBox
from .images import RGBImage

CROP = 160

Embeddings = NDArray[np.float32]


def crop_face(frame: RGBImage, face: FaceBox, size: int = CROP) -> NDArray[np.uint8]:
    """Square-ish crop of the box from the full frame, resized to size×size (no margin, as calibrated)."""
    x1, y1, x2, y2 = (round(v) for v in face.box)
    h, w = frame.shape[:2]
    x1, y1 = max(0, x1), max(0, y1)
    x2, y2 = min(w, max(x2, x1 + 1)), min(h, max(y2, y1 + 1))
    patch = torch.from_numpy(np.ascontiguousarray(frame[y1:y2, x1:x2])).permute(2, 0, 1)[None].float()
    # Antialiased bilinear ≈ area resampling when shrinking; matches the calibration crops.
    out = F.interpolate(patch, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    arr: NDArray[np.uint8] = out[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
    return arr


class Embedder:
    """Runs InceptionResnetV1 on batches of 160×160 uint8 crops."""

    def __init__(self, model: torch.nn.Module, device: torch.device, dim: int) -> None:
        self.device = device
        self.dim = dim
        self.cuda = device.type == "cuda"
        self.model = model.to(device).eval()
        if self.cuda:
            self.model = self.model.to(memory_format=torch.channels_last)

    def embed(self, crops: list[NDArray[np.uint8]]) -> Embeddings:
        if not crops:
            return np.zeros((0, self.dim), dtype=np.float32)
        batch = torch.from_numpy(np.stack(crops))
        if self.cuda:
            batch = batch.pin_memory().to(self.device, non_blocking=True)
        x = (batch.permute(0, 3, 1, 2).float() - 127.5) / 128.0  # fixed image standardisation
        if self.cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), torch.autocast(device_type=self.device.type, dtype=torch.float16,
                                                    enabled=self.cuda):
            out = self.model(x)
        emb = F.normalize(out.float(), p=2, dim=1)
        result: Embeddings = emb.cpu().numpy().astype(np.float32)
        if result.shape != (len(crops), self.dim):
            raise RuntimeError(f"embedder returned {result.shape}, expected {(len(crops), self.dim)}")
        return result


def best_cosine(embedding: Embeddings, references: Embeddings) -> float:
    """Best cosine similarity against any of the student's reference embeddings."""
    if references.size == 0:
        raise ValueError("no reference embeddings")
    return float(np.max(references @ embedding))
