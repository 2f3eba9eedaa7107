"""Frames in, verdicts out: detection, quality gate, embedding and matching for a batch.

The engine is synchronous and owns the backend's networks (models/backends); it is only ever called
from the batcher's inference thread (or from CLI commands), never from the event loop. Pre- and
post-processing work on whole batches: one detection pass for the batch's frames, one crop gather
and one embedding call for every face that needs embedding, one matrix product per frame to match.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import torch

from . import weights
from .backends import select
from .detector import Detector, DetectorConfig, FaceBox, scaled_px
from .device import pick_device
from .embedder import Embedder, Embeddings, best_cosine, face_crops
from .images import ImageError, RGBImage, check_frame

REASONS = ("ok", "no_face", "multiple_faces", "mismatch", "low_quality")


@dataclass(frozen=True)
class Verdict:
    """The engine's answer for one frame."""

    faces: int  # confident faces found
    score: float | None  # best cosine against the references (None when no single face)
    match: bool  # True only for reason "ok"
    reason: str  # ok | no_face | multiple_faces | mismatch | low_quality
    boxes: tuple[FaceBox, ...] = field(default=())  # for evidence snapshots


@dataclass(frozen=True)
class QualityConfig:
    """What makes a single face too poor to judge."""

    # Smaller crops upscale into mush. Given for a 640×480 frame and scaled with the frame (24 px in a
    # 320×240 stream), so a student leaning back at 1–1.2 m (60–75 px at 640×480) is still judged.
    min_face_px: float = 48.0
    min_brightness: float = 35.0  # mean luma of the crop, 0–255
    max_brightness: float = 235.0


@dataclass(frozen=True)
class VerifyRequest:
    """One frame to check against one student's references."""

    frame: RGBImage
    references: Embeddings  # (k, dim) float32, L2-normalised


class Engine:
    """Detector + embedder + threshold for one model on one device."""

    def __init__(self, model_name: str = weights.DEFAULT_MODEL, device: torch.device | str | None = None,
                 detector: DetectorConfig | None = None, quality: QualityConfig | None = None,
                 threshold: float | None = None, network: torch.nn.Module | None = None,
                 backend: str | None = None) -> None:
        self.spec = weights.spec_for(model_name)
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.threshold = self.spec.threshold if threshold is None else threshold
        self.quality = quality or QualityConfig()
        self.backend = select.create(backend, self.spec, self.device, network)
        # Seconds spent per stage (for `bench inference`); written by the one thread that runs the engine.
        self.stage_seconds: defaultdict[str, float] = defaultdict(float)
        self.detector = Detector(self.backend, detector, self.stage_seconds)
        self.embedder = Embedder(self.backend, self.spec.dim)

    @property
    def model_name(self) -> str:
        return self.spec.name

    def detect(self, frames: list[RGBImage]) -> list[list[FaceBox]]:
        return self.detector.detect([check_frame(f) for f in frames])

    def embed_faces(self, frames: list[RGBImage], faces: list[FaceBox]) -> Embeddings:
        """Embed one face per frame (pairs by position)."""
        return self.embedder.embed(face_crops(frames, faces))

    def low_quality(self, frame: RGBImage, face: FaceBox) -> bool:
        if face.size < scaled_px(self.quality.min_face_px, frame):
            return True
        x1, y1, x2, y2 = (int(v) for v in face.box)
        luma = float(frame[y1:y2, x1:x2].mean()) if (y2 > y1 and x2 > x1) else 0.0
        return not (self.quality.min_brightness <= luma <= self.quality.max_brightness)

    def verify_batch(self, requests: list[VerifyRequest]) -> list[Verdict | Exception]:
        """Verdicts in request order. A bad frame yields its own exception; the rest still run."""
        results: list[Verdict | Exception | None] = [None] * len(requests)
        good: list[int] = []
        for i, req in enumerate(requests):
            try:
                check_frame(req.frame)
                refs = np.asarray(req.references, dtype=np.float32)
                if refs.ndim != 2 or refs.shape[0] == 0 or refs.shape[1] != self.spec.dim:
                    raise ValueError(f"references must be (k, {self.spec.dim}), got {refs.shape}")
                good.append(i)
            except (ImageError, ValueError) as exc:
                results[i] = exc
        t0 = time.perf_counter()
        detections = self.detector.detect([requests[i].frame for i in good]) if good else []
        t1 = time.perf_counter()
        self.stage_seconds["detect"] += t1 - t0
        to_embed: list[tuple[int, FaceBox]] = []
        for i, faces in zip(good, detections, strict=True):
            if not faces:
                results[i] = Verdict(faces=0, score=None, match=False, reason="no_face")
            elif len(faces) > 1:
                # Two confident faces fail whoever they are: someone is helping.
                results[i] = Verdict(faces=len(faces), score=None, match=False, reason="multiple_faces",
                                     boxes=tuple(faces))
            elif self.low_quality(requests[i].frame, faces[0]):
                results[i] = Verdict(faces=1, score=None, match=False, reason="low_quality", boxes=tuple(faces))
            else:
                to_embed.append((i, faces[0]))
        if to_embed:
            t1 = time.perf_counter()
            crops = face_crops([requests[i].frame for i, _ in to_embed], [b for _, b in to_embed])
            t2 = time.perf_counter()
            embs = self.embedder.embed(crops)
            t3 = time.perf_counter()
            self.stage_seconds["crop"] += t2 - t1
            self.stage_seconds["embed"] += t3 - t2
            for (i, box), emb in zip(to_embed, embs, strict=True):
                score = best_cosine(emb, np.asarray(requests[i].references, dtype=np.float32))
                match = score >= self.threshold
                results[i] = Verdict(faces=1, score=round(score, 4), match=match,
                                     reason="ok" if match else "mismatch", boxes=(box,))
            self.stage_seconds["match"] += time.perf_counter() - t3
        if any(r is None for r in results):
            raise RuntimeError("engine produced fewer verdicts than requests")
        return [r for r in results if r is not None]
