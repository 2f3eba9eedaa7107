"""Face detection with facenet-pytorch's MTCNN, batched across frames.

MTCNN runs on a downscaled copy (the P-Net pyramid costs ~4× less at 320×240 than at 640×480)
and boxes are scaled back so faces are cropped from the full-resolution frame. We call the
library's `detect_face` directly on a uint8 tensor batch: `MTCNN.detect` builds ragged numpy
arrays that break when some frames of a batch have no face (upstream issues 206/224).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from facenet_pytorch import MTCNN
from facenet_pytorch.models.utils.detect_face import detect_face

from .images import RGBImage


@dataclass(frozen=True)
class FaceBox:
    """One detected face, in the original frame's pixel coordinates."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    prob: float  # MTCNN O-Net probability
    # MTCNN's five points (x, y): the eye on the image's left, the other eye, nose, mouth corners
    # (image-left first); () when unknown. Head yaw is read from them (models.pose).
    landmarks: tuple[tuple[float, float], ...] = ()

    @property
    def size(self) -> float:
        """The shorter side of the box, in pixels."""
        return min(self.box[2] - self.box[0], self.box[3] - self.box[1])


@dataclass(frozen=True)
class DetectorConfig:
    """Knobs that decide what counts as a face."""

    detect_width: int = 320  # frames wider than this are downscaled for detection
    min_face_px: float = 20.0  # MTCNN's smallest face, at detection scale
    prob_floor: float = 0.95  # hands and objects scored 0.86–0.87 here; real faces ≥ 0.975
    min_face_frac: float = 0.06  # a face smaller than this share of the frame's short side is noise
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)  # P/R/O-Net stage thresholds


class Detector:
    """MTCNN on batches of RGB frames of any sizes; returns confident faces per frame."""

    def __init__(self, device: torch.device, config: DetectorConfig | None = None) -> None:
        self.device = device
        self.config = config or DetectorConfig()
        mtcnn = MTCNN(device=device, keep_all=True)
        self._pnet, self._rnet, self._onet = mtcnn.pnet.eval(), mtcnn.rnet.eval(), mtcnn.onet.eval()
        self._factor = mtcnn.factor

    def _scale_for(self, frame: RGBImage) -> float:
        width = int(frame.shape[1])
        return min(1.0, self.config.detect_width / width)

    def detect(self, frames: list[RGBImage]) -> list[list[FaceBox]]:
        """Detect faces in every frame; frames of the same detection size share one pass."""
        results: list[list[FaceBox]] = [[] for _ in frames]
        groups: dict[tuple[int, int], list[int]] = {}
        scales = [self._scale_for(f) for f in frames]
        for i, (frame, scale) in enumerate(zip(frames, scales, strict=True)):
            h, w = frame.shape[:2]
            groups.setdefault((round(h * scale), round(w * scale)), []).append(i)
        for (h, w), idxs in groups.items():
            batch = self._to_tensor([frames[i] for i in idxs], (h, w))
            with torch.inference_mode():
                batch_boxes, batch_points = detect_face(batch, self.config.min_face_px, self._pnet, self._rnet,
                                             self._onet, list(self.config.thresholds), self._factor,
                                             self.device)
            for i, boxes, points in zip(idxs, batch_boxes, batch_points, strict=True):
                results[i] = self._keep(np.asarray(boxes, dtype=np.float64).reshape(-1, 5),
                                        np.asarray(points, dtype=np.float64).reshape(-1, 5, 2), scales[i],
                                        frames[i].shape[0], frames[i].shape[1])
        return results

    def _to_tensor(self, frames: list[RGBImage], size: tuple[int, int]) -> torch.Tensor:
        """Stack frames into one (N, h, w, 3) uint8 batch at detection size."""
        if len({f.shape for f in frames}) == 1:
            return self._resize(torch.from_numpy(np.stack(frames)), size)
        # Different source sizes that land on the same detection size: resize each, then stack.
        return torch.cat([self._resize(torch.from_numpy(f)[None], size) for f in frames])

    def _resize(self, stacked: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if self.device.type == "cuda":
            stacked = stacked.pin_memory().to(self.device, non_blocking=True)
        if tuple(stacked.shape[1:3]) == size:
            return stacked
        # Area-averaging keeps small faces detectable; nearest-neighbour aliases them away.
        x = stacked.permute(0, 3, 1, 2).float()
        x = F.interpolate(x, size=size, mode="area")
        return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()

    def _keep(self, boxes: np.ndarray, points: np.ndarray, scale: float, h: int, w: int) -> list[FaceBox]:
        min_side = self.config.min_face_frac * min(h, w)
        faces = []
        for k, (x1, y1, x2, y2, prob) in enumerate(boxes):
            marks = tuple((float(x / scale), float(y / scale)) for x, y in points[k]) if k < len(points) else ()
            box = FaceBox(
                box=(max(0.0, x1 / scale), max(0.0, y1 / scale), min(float(w), x2 / scale), min(float(h), y2 / scale)),
                prob=float(prob),
                landmarks=marks,
            )
            if box.prob >= self.config.prob_floor and box.size >= min_side:
                faces.append(box)
        faces.sort(key=lambda f: f.prob, reverse=True)
        return faces
